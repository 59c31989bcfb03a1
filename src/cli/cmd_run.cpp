// `llmopt run`: generate a continuation of a prompt, streamed to stdout.
#include <cstdio>
#include <iostream>

#include "cli_support.h"
#include "commands.h"
#include "llmopt/engine/generate.h"
#include "llmopt/engine/runtime.h"

namespace llmopt::cli {

int run_run(int argc, char** argv) {
    CLI::App app("Generate text from a prompt. stdout carries only the continuation; logs go to stderr.", "llmopt run");
    ModelFlags mf;
    SamplingParams sp;
    std::string prompt, prompt_file;
    int32_t n_predict = -1;
    bool print_ids = false, no_bos = false, verbose = false;
    add_model_flags(app, mf);
    add_sampling_flags(app, sp);
    auto* p = app.add_option("-p,--prompt", prompt, "prompt text (\"\" starts from BOS alone)");
    app.add_option("-f,--file", prompt_file, "read the prompt from a file")->excludes(p);
    app.add_option("-n,--n-predict", n_predict, "tokens to generate (-1: until end of text or full context)");
    app.add_flag("--ids", print_ids, "print generated token ids instead of text");
    app.add_flag("--no-bos", no_bos, "do not add BOS even if the model asks for it");
    app.add_flag("-v,--verbose", verbose, "print timings to stderr");
    return guarded(app, argc, argv, [&] {
        set_threads(mf.threads);
        Sampler::validate(sp);
        Runtime rt = load_runtime(mf.model, mf.tokenizer);
        if (!prompt_file.empty()) prompt = read_text(prompt_file);
        const int32_t n_ctx = context_size(mf, rt.model->config());
        const bool add_bos = !no_bos && rt.tokenizer->add_bos_by_default();
        const std::vector<int32_t> ids = rt.tokenizer->encode(prompt, add_bos, false);
        Session session(*rt.model, n_ctx);
        Utf8Stream stream;
        int32_t prev = ids.empty() ? -1 : ids.back();
        bool first = true;
        GenerateOptions opt{n_predict, sp};
        const GenerateResult r = generate(session, *rt.tokenizer, ids, opt, [&](int32_t id) {
            if (print_ids) {
                std::cout << (first ? "" : " ") << id << std::flush;
            } else {
                std::cout << stream.push(rt.tokenizer->decode_piece(prev, id)) << std::flush;
            }
            first = false;
            prev = id;
            return true;
        });
        std::cout << stream.flush();
        if (print_ids) std::cout << "\n";
        std::cout.flush();
        if (verbose) {
            std::fprintf(stderr, "\nprompt: %d tokens in %.3f s (%.1f t/s); generated: %zu tokens in %.3f s (%.1f t/s); finish: %s\n",
                         r.prompt_tokens, r.prefill_seconds, r.prompt_tokens / std::max(r.prefill_seconds, 1e-9),
                         r.tokens.size(), r.decode_seconds, r.tokens.size() / std::max(r.decode_seconds, 1e-9),
                         r.finish_reason.c_str());
        }
        return 0;
    });
}

}  // namespace llmopt::cli
