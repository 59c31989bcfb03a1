// `llmopt synth`: write a random-weight model with a real architecture's shape.
#include <cstdio>

#include "cli_support.h"
#include "commands.h"
#include "llmopt/model/synth.h"
#include "llmopt/util/error.h"

namespace llmopt::cli {

int run_synth(int argc, char** argv) {
    CLI::App app("Write a random-weight GGUF model (normal, std 0.02; norms at 1; reproducible from the seed) "
                 "with a real architecture's shape.", "llmopt synth");
    std::string shape, type_name = "f16", out;
    SynthSpec overrides;
    int32_t layers = 0, dim = 0, ffn = 0, heads = 0, kv_heads = 0, vocab = 0, experts = -1, experts_used = 0;
    app.add_option("--shape", shape, std::string("model shape: ") + synth_shape_names())->required();
    app.add_option("--type", type_name, "weight type: f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_k ... q6_k");
    app.add_option("--vocab-from", overrides.vocab_from, "copy the vocabulary (and its size) from this GGUF");
    app.add_option("--seed", overrides.seed, "random seed");
    app.add_option("--layers", layers, "override the layer count")->check(CLI::Range(1, 1024));
    app.add_option("--dim", dim, "override the embedding width")->check(CLI::Range(2, 1 << 16));
    app.add_option("--ffn", ffn, "override the feed-forward width")->check(CLI::Range(1, 1 << 18));
    app.add_option("--heads", heads, "override the attention heads")->check(CLI::Range(1, 1024));
    app.add_option("--kv-heads", kv_heads, "override the KV heads")->check(CLI::Range(1, 1024));
    app.add_option("--vocab", vocab, "override the vocabulary size")->check(CLI::Range(1, 1 << 20));
    app.add_option("--experts", experts, "experts per layer (0: dense)")->check(CLI::Range(0, 256));
    app.add_option("--experts-used", experts_used, "experts each token uses")->check(CLI::Range(0, 256));
    app.add_option("-o,--output", out, "output GGUF path")->required();
    return guarded(app, argc, argv, [&] {
        SynthSpec s = synth_shape(shape);
        const auto type = parse_dtype(type_name);
        if (!type || *type == DType::kQ8_1 || *type == DType::kQ8_K || info(*type).block_bytes == 0 ||
            *type == DType::kI8 || *type == DType::kI16 || *type == DType::kI32)
            throw InputError("unknown or unsupported weight type '" + type_name + "'");
        s.type = *type;
        s.vocab_from = overrides.vocab_from;
        s.seed = overrides.seed;
        if (layers) s.n_layers = layers;
        if (dim) s.dim = dim;
        if (ffn) s.ffn_dim = ffn;
        if (heads) s.n_heads = heads;
        if (kv_heads) s.n_kv_heads = kv_heads;
        if (vocab) s.n_vocab = vocab;
        if (experts >= 0) {
            s.n_experts = experts;
            s.n_experts_used = experts > 0 ? (experts_used > 0 ? experts_used : std::min(2, experts)) : 0;
        }
        std::fprintf(stderr, "writing %s: %s, %d layers, dim %d, ffn %d, %d/%d heads, %s weights\n", out.c_str(),
                     s.arch.c_str(), s.n_layers, s.dim, s.ffn_dim, s.n_heads, s.n_kv_heads, type_name.c_str());
        write_synthetic_model(s, out);
        return 0;
    });
}

}  // namespace llmopt::cli
