// Shared front-end plumbing: errors, common flags.
#include "cli_support.h"

#include <algorithm>
#include <fstream>
#include <iostream>
#include <sstream>

#include "llmopt/util/error.h"

namespace llmopt::cli {

int guarded(CLI::App& app, int argc, char** argv, const std::function<int()>& body) {
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int code = app.exit(e);
        return code == 0 ? 0 : 2;
    }
    try {
        return body();
    } catch (const Error& e) {
        std::cerr << "llmopt: error: " << e.what() << "\n";
        return 1;
    } catch (const std::bad_alloc&) {
        std::cerr << "llmopt: error: out of memory\n";
        return 1;
    }
}

void add_model_flags(CLI::App& app, ModelFlags& f) {
    app.add_option("-m,--model", f.model, "model file (GGUF, or llama2.c .bin with --tokenizer)")->required();
    app.add_option("--tokenizer", f.tokenizer, "tokenizer file (llama2.c tokenizer.bin, GGUF vocab or tokenizer.json)");
    app.add_option("-t,--threads", f.threads, "threads (default: all cores)")->check(CLI::Range(0, 1024));
    app.add_option("-c,--ctx-size", f.n_ctx, "context size in tokens (default: the model's, at most 4096)")
        ->check(CLI::Range(0, 1 << 24));
}

DType parse_kv_type(const std::string& name) {
    const std::optional<DType> type = parse_dtype(name);
    if (!type || (*type != DType::kF32 && *type != DType::kF16 && *type != DType::kQ8_0))
        throw InputError("--kv-type must be f32, f16 or q8_0 (got " + name + ")");
    return *type;
}

int32_t context_size(const ModelFlags& flags, const ModelConfig& config) {
    if (flags.n_ctx > 0) return flags.n_ctx;
    return std::min(config.n_ctx_train > 0 ? config.n_ctx_train : 4096, 4096);
}

void add_sampling_flags(CLI::App& app, SamplingParams& p) {
    app.add_option("--temp", p.temperature, "temperature (0 = greedy)")->check(CLI::Range(0.0f, 100.0f));
    app.add_option("--top-k", p.top_k, "top-k (0 = off)")->check(CLI::Range(0, 1 << 30));
    app.add_option("--top-p", p.top_p, "top-p (1 = off)")->check(CLI::Range(0.0f, 1.0f));
    app.add_option("--min-p", p.min_p, "min-p (0 = off)")->check(CLI::Range(0.0f, 1.0f));
    app.add_option("--repeat-penalty", p.repeat_penalty, "repetition penalty (1 = off)")->check(CLI::Range(0.0f, 10.0f));
    app.add_option("--repeat-last-n", p.repeat_last_n, "tokens the penalties look back over")->check(CLI::Range(0, 1 << 20));
    app.add_option("--frequency-penalty", p.frequency_penalty, "frequency penalty")->check(CLI::Range(-2.0f, 2.0f));
    app.add_option("--presence-penalty", p.presence_penalty, "presence penalty")->check(CLI::Range(-2.0f, 2.0f));
    app.add_option("--seed", p.seed, "random seed (same seed, same text)");
}

std::string read_text(const std::string& path) {
    std::ostringstream s;
    if (path == "-") {
        s << std::cin.rdbuf();
        return s.str();
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) throw InputError("cannot read " + path);
    s << in.rdbuf();
    return s.str();
}

}  // namespace llmopt::cli
