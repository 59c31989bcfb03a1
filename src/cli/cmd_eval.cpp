// `llmopt eval perplexity`: perplexity of a model on a text, or its divergence from a saved base model.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>
#include <string>

#include "cli_support.h"
#include "commands.h"
#include "llmopt/engine/runtime.h"
#include "llmopt/eval/divergence.h"
#include "llmopt/eval/perplexity.h"
#include "llmopt/util/error.h"

namespace llmopt::cli {
namespace {

struct EvalFlags {
    std::string model;
    std::string tokenizer;
    std::string text;
    int32_t n_ctx = 512;
    int32_t chunks = 0;
    int32_t n_batch = 512;
    int32_t threads = 0;
    bool json = false;
    std::string kl_base_out;
    std::string kl_base;
};

// llama-perplexity's running line on stderr: "[1]12.3456,[2]11.9876,...".
void report_chunk(int32_t chunk, int32_t n_chunks, double value) {
    std::fprintf(stderr, "[%d]%.4f,%s", chunk + 1, value, chunk + 1 == n_chunks ? "\n" : "");
    std::fflush(stderr);
}

void print_perplexity(const EvalFlags& f, const PerplexityResult& r) {
    if (f.json) {
        nlohmann::ordered_json j = {{"mode", f.kl_base_out.empty() ? "perplexity" : "kl-base"},
                            {"model", f.model},
                            {"n_ctx", r.n_ctx},
                            {"n_chunks", r.n_chunks},
                            {"n_tokens", r.n_tokens},
                            {"n_scored", r.n_scored},
                            {"nll_mean", r.nll_mean},
                            {"ppl", r.ppl},
                            {"ppl_stderr", r.ppl_stderr},
                            {"chunk_ppl", r.chunk_ppl},
                            {"seconds", r.seconds}};
        if (!f.kl_base_out.empty()) j["kl_base_out"] = f.kl_base_out;
        std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
        return;
    }
    std::printf("model      : %s\n", f.model.c_str());
    std::printf("windows    : %d x %d tokens (%lld tokens in the text), %lld predictions scored\n", r.n_chunks, r.n_ctx,
                static_cast<long long>(r.n_tokens), static_cast<long long>(r.n_scored));
    std::printf("mean NLL   : %.6f nats/token\n", r.nll_mean);
    std::printf("PPL        : %.4f +/- %.5f\n", r.ppl, r.ppl_stderr);
    if (!f.kl_base_out.empty()) std::printf("KL base    : %s\n", f.kl_base_out.c_str());
    std::printf("time       : %.2f s\n", r.seconds);
}

void print_divergence(const EvalFlags& f, const DivergenceResult& r) {
    if (f.json) {
        const nlohmann::ordered_json j = {{"mode", "kl-divergence"},
                                  {"model", f.model},
                                  {"kl_base", f.kl_base},
                                  {"n_ctx", r.n_ctx},
                                  {"n_chunks", r.n_chunks},
                                  {"n_positions", r.n_positions},
                                  {"kl_mean", r.kl_mean},
                                  {"kl_mean_stderr", r.kl_mean_stderr},
                                  {"kl_median", r.kl_median},
                                  {"kl_p99", r.kl_p99},
                                  {"kl_p99_9", r.kl_p999},
                                  {"kl_max", r.kl_max},
                                  {"top1_agreement", r.top1_agreement},
                                  {"hellinger_mean", r.hellinger_mean},
                                  {"ppl_base", r.ppl_base},
                                  {"ppl_base_stderr", r.ppl_base_stderr},
                                  {"ppl_model", r.ppl_model},
                                  {"ppl_model_stderr", r.ppl_model_stderr},
                                  {"delta_ppl", r.delta_ppl},
                                  {"chunk_kl", r.chunk_kl},
                                  {"seconds", r.seconds}};
        std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
        return;
    }
    std::printf("model      : %s\nbase       : %s\n", f.model.c_str(), f.kl_base.c_str());
    std::printf("windows    : %d x %d tokens, %lld positions compared\n\n", r.n_chunks, r.n_ctx,
                static_cast<long long>(r.n_positions));
    std::printf("PPL(base)  : %.4f +/- %.5f\n", r.ppl_base, r.ppl_base_stderr);
    std::printf("PPL(model) : %.4f +/- %.5f\n", r.ppl_model, r.ppl_model_stderr);
    std::printf("delta PPL  : %+.4f (%+.3f%%)\n\n", r.delta_ppl, 100.0 * r.delta_ppl / r.ppl_base);
    std::printf("KL(base || model), nats per position\n");
    std::printf("  mean     : %.6f +/- %.6f\n", r.kl_mean, r.kl_mean_stderr);
    std::printf("  median   : %.6f\n", r.kl_median);
    std::printf("  p99      : %.6f\n", r.kl_p99);
    std::printf("  p99.9    : %.6f\n", r.kl_p999);
    std::printf("  max      : %.6f\n\n", r.kl_max);
    std::printf("top-1 agreement : %.3f %%\n", 100.0 * r.top1_agreement);
    std::printf("mean Hellinger  : %.6f\n", r.hellinger_mean);
    std::printf("time            : %.2f s\n", r.seconds);
}

int run_perplexity(const EvalFlags& f, bool n_ctx_given) {
    set_threads(f.threads);
    if (!f.kl_base.empty()) {
        // The windows, tokens and context come from the base file; the text is not needed.
        const KlBase base = read_kl_base_header(f.kl_base);
        if (n_ctx_given && f.n_ctx != base.n_ctx)
            throw InputError("--ctx-size " + std::to_string(f.n_ctx) + " differs from the " +
                             std::to_string(base.n_ctx) + " the KL base " + f.kl_base + " was saved with");
        if (!f.text.empty()) std::fprintf(stderr, "llmopt: note: --file is ignored with --kl-base (its tokens are used)\n");
        Model model = Model::load(f.model);
        const DivergenceResult r = kl_divergence(model, f.kl_base, {f.chunks, f.n_batch}, report_chunk);
        print_divergence(f, r);
        return 0;
    }
    if (f.text.empty()) throw InputError("--file is required (or --kl-base to compare with a saved base)");
    Runtime rt = load_runtime(f.model, f.tokenizer);
    const EvalTokens tokens = tokenize_for_eval(*rt.tokenizer, read_text(f.text));
    std::fprintf(stderr, "%zu tokens, windows of %d\n", tokens.tokens.size(), f.n_ctx);
    const PerplexityOptions options{f.n_ctx, f.chunks, f.n_batch};
    const PerplexityResult r = f.kl_base_out.empty()
                                   ? perplexity(*rt.model, tokens, options, report_chunk)
                                   : save_kl_base(*rt.model, tokens, options, f.kl_base_out, report_chunk);
    print_perplexity(f, r);
    return 0;
}

}  // namespace

int run_eval(int argc, char** argv) {
    CLI::App app("Evaluate a model: perplexity on a text, KL divergence against a base model.", "llmopt eval");
    app.require_subcommand(1);
    EvalFlags f;
    CLI::App* ppl = app.add_subcommand(
        "perplexity",
        "Perplexity over non-overlapping windows of the text, scoring the second half of each (as "
        "llama-perplexity). With --kl-base-out, also save the base model's distributions; with --kl-base, "
        "compare this model with a saved base: KL divergence, top-1 agreement, delta PPL, Hellinger distance.");
    ppl->add_option("-m,--model", f.model, "model file (GGUF, or llama2.c .bin with --tokenizer)")->required();
    ppl->add_option("--tokenizer", f.tokenizer, "tokenizer file (llama2.c tokenizer.bin, GGUF vocab or tokenizer.json)");
    ppl->add_option("-f,--file", f.text, "text to evaluate (- for stdin)");
    CLI::Option* ctx = ppl->add_option("-c,--ctx-size", f.n_ctx, "window size in tokens")
                           ->capture_default_str()
                           ->check(CLI::Range(4, 1 << 20));
    ppl->add_option("--chunks", f.chunks, "evaluate at most N windows (default: all)")->check(CLI::Range(0, 1 << 30));
    ppl->add_option("-b,--batch-size", f.n_batch, "tokens per forward call")
        ->capture_default_str()
        ->check(CLI::Range(1, 1 << 20));
    ppl->add_option("-t,--threads", f.threads, "threads (default: all cores)")->check(CLI::Range(0, 1024));
    ppl->add_flag("--json", f.json, "print results as JSON");
    CLI::Option* out = ppl->add_option("--kl-base-out", f.kl_base_out, "save this (base) model's distributions to FILE");
    ppl->add_option("--kl-base", f.kl_base, "compare with the base distributions saved in FILE")->excludes(out);
    return guarded(app, argc, argv, [&] { return run_perplexity(f, ctx->count() > 0); });
}

}  // namespace llmopt::cli
