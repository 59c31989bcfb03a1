// Writes random-weight GGUF models: normal(0, stddev) weights, unit norms, reproducible by seed.
#include "llmopt/model/synth.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "llmopt/format/gguf.h"
#include "llmopt/kernels/quant.h"
#include "llmopt/util/error.h"

namespace llmopt {
namespace {

// Box–Muller on mt19937_64 bits: the same numbers on every platform for a given seed.
class NormalSource {
public:
    explicit NormalSource(uint64_t seed) : rng_(seed) {}
    float next(float stddev) {
        const double u1 = (double(rng_() >> 11) + 1.0) * 0x1.0p-53;
        const double u2 = double(rng_() >> 11) * 0x1.0p-53;
        return float(stddev * std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2));
    }

private:
    std::mt19937_64 rng_;
};

class SynthWriter {
public:
    SynthWriter(const SynthSpec& spec, GgufWriter& w) : spec_(spec), w_(w), normal_(spec.seed) {}

    // A (rows, cols) matrix, or `experts` of them stacked into one 3-D tensor, in the spec's
    // type (f16 when the row length does not fit the type's blocks).
    void matrix(const std::string& name, int64_t rows, int64_t cols, int64_t experts = 0) {
        DType type = spec_.type;
        if (cols % info(type).block_elems != 0) type = DType::kF16;
        std::vector<float> row(cols);
        const int64_t slices = std::max<int64_t>(experts, 1);
        std::vector<uint8_t> bytes(row_bytes(type, cols) * rows * slices);
        for (int64_t r = 0; r < rows * slices; ++r) {
            for (float& v : row) v = normal_.next(spec_.stddev);
            kernels::quantize_row(type, row.data(), bytes.data() + r * row_bytes(type, cols), cols);
        }
        std::vector<int64_t> dims{cols, rows};
        if (experts > 0) dims.push_back(experts);
        w_.add_tensor(name, type, dims, bytes.data(), bytes.size());
    }

    void vector(const std::string& name, int64_t n, bool random) {
        std::vector<float> v(n, 1.0f);
        if (random)
            for (float& x : v) x = normal_.next(spec_.stddev);
        w_.add_tensor(name, DType::kF32, {n}, v.data(), v.size() * sizeof(float));
    }

private:
    const SynthSpec& spec_;
    GgufWriter& w_;
    NormalSource normal_;
};

}  // namespace

const char* synth_shape_names() { return "tinyllama-1.1b, llama-3.2-1b, qwen2.5-0.5b, llama-3.1-8b, mixtral-tiny"; }

SynthSpec synth_shape(const std::string& name) {
    SynthSpec s;
    auto set = [&](int32_t layers, int32_t dim, int32_t ffn, int32_t heads, int32_t kv_heads, int32_t vocab) {
        s.n_layers = layers;
        s.dim = dim;
        s.ffn_dim = ffn;
        s.n_heads = heads;
        s.n_kv_heads = kv_heads;
        s.n_vocab = vocab;
    };
    if (name == "tinyllama-1.1b") {
        set(22, 2048, 5632, 32, 4, 32000);
    } else if (name == "llama-3.2-1b") {
        set(16, 2048, 8192, 32, 8, 128256);
        s.rope_theta = 500000.0f;
        s.tied_output = true;
    } else if (name == "qwen2.5-0.5b") {
        set(24, 896, 4864, 14, 2, 151936);
        s.arch = "qwen2";
        s.rope_theta = 1000000.0f;
        s.tied_output = true;
    } else if (name == "llama-3.1-8b") {
        set(32, 4096, 14336, 32, 8, 128256);
        s.rope_theta = 500000.0f;
    } else if (name == "mixtral-tiny") {
        set(4, 1024, 2048, 16, 4, 32000);
        s.n_experts = 8;
        s.n_experts_used = 2;
        s.rope_theta = 1000000.0f;
    } else {
        throw InputError("unknown shape '" + name + "' (known: " + synth_shape_names() + ")");
    }
    s.n_ctx = 4096;
    return s;
}

void write_synthetic_model(const SynthSpec& s, const std::string& path) {
    if (s.arch != "llama" && s.arch != "qwen2") throw InputError("synth: unsupported architecture '" + s.arch + "'");
    if (s.n_layers <= 0 || s.dim <= 0 || s.ffn_dim <= 0 || s.n_heads <= 0 || s.n_kv_heads <= 0 ||
        s.n_heads % s.n_kv_heads != 0 || s.dim % s.n_heads != 0 || (s.dim / s.n_heads) % 2 != 0)
        throw InputError("synth: inconsistent shape (dim must split into an even head size; heads a multiple of kv heads)");
    if (s.n_experts < 0 || s.n_experts_used < 0 || s.n_experts_used > s.n_experts ||
        (s.n_experts > 0 && s.n_experts_used == 0))
        throw InputError("synth: expert counts must satisfy 0 < used <= experts");

    GgufWriter w;
    int32_t n_vocab = s.n_vocab;
    if (!s.vocab_from.empty()) {
        const GgufFile vocab(s.vocab_from);
        for (const auto& [key, value] : vocab.metadata())
            if (key.rfind("tokenizer.", 0) == 0) w.set(key, value);
        if (const auto* tokens = vocab.get_strings("tokenizer.ggml.tokens")) n_vocab = static_cast<int32_t>(tokens->size());
    }
    const std::string a = s.arch + ".";
    const int32_t head_dim = s.dim / s.n_heads;
    w.set_string("general.architecture", s.arch);
    w.set_string("general.name", "synthetic-" + s.arch);
    w.set_u32(a + "context_length", s.n_ctx);
    w.set_u32(a + "embedding_length", s.dim);
    w.set_u32(a + "block_count", s.n_layers);
    w.set_u32(a + "feed_forward_length", s.ffn_dim);
    w.set_u32(a + "attention.head_count", s.n_heads);
    w.set_u32(a + "attention.head_count_kv", s.n_kv_heads);
    w.set_u32(a + "rope.dimension_count", head_dim);
    w.set_f32(a + "rope.freq_base", s.rope_theta);
    w.set_f32(a + "attention.layer_norm_rms_epsilon", 1e-5f);
    w.set_u32(a + "vocab_size", n_vocab);
    if (s.n_experts > 0) {
        w.set_u32(a + "expert_count", s.n_experts);
        w.set_u32(a + "expert_used_count", s.n_experts_used);
    }

    SynthWriter t(s, w);
    const int64_t q_dim = s.dim, kv_dim = int64_t(s.n_kv_heads) * head_dim;
    t.matrix("token_embd.weight", n_vocab, s.dim);
    for (int32_t l = 0; l < s.n_layers; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        t.vector(p + "attn_norm.weight", s.dim, false);
        t.matrix(p + "attn_q.weight", q_dim, s.dim);
        t.matrix(p + "attn_k.weight", kv_dim, s.dim);
        t.matrix(p + "attn_v.weight", kv_dim, s.dim);
        t.matrix(p + "attn_output.weight", s.dim, q_dim);
        if (s.qkv_bias || s.arch == "qwen2") {
            t.vector(p + "attn_q.bias", q_dim, true);
            t.vector(p + "attn_k.bias", kv_dim, true);
            t.vector(p + "attn_v.bias", kv_dim, true);
        }
        t.vector(p + "ffn_norm.weight", s.dim, false);
        if (s.n_experts > 0) {
            t.matrix(p + "ffn_gate_inp.weight", s.n_experts, s.dim);
            t.matrix(p + "ffn_gate_exps.weight", s.ffn_dim, s.dim, s.n_experts);
            t.matrix(p + "ffn_up_exps.weight", s.ffn_dim, s.dim, s.n_experts);
            t.matrix(p + "ffn_down_exps.weight", s.dim, s.ffn_dim, s.n_experts);
        } else {
            t.matrix(p + "ffn_gate.weight", s.ffn_dim, s.dim);
            t.matrix(p + "ffn_up.weight", s.ffn_dim, s.dim);
            t.matrix(p + "ffn_down.weight", s.dim, s.ffn_dim);
        }
    }
    t.vector("output_norm.weight", s.dim, false);
    if (!s.tied_output) t.matrix("output.weight", n_vocab, s.dim);
    w.write(path);
}

}  // namespace llmopt
