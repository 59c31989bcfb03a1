// llama2.c legacy checkpoints: a 7-int header and float32 tensors in a fixed order.
#include <cstring>

#include "llmopt/model/weights.h"
#include "llmopt/util/error.h"
#include "llmopt/util/mapped_file.h"

namespace llmopt {

LoadedWeights load_llama2c_weights(const std::string& path) {
    auto map = std::make_shared<MappedFile>(path);
    int32_t h[7];
    if (map->size() < sizeof h) throw FormatError(path + ": too small for a llama2.c header");
    std::memcpy(h, map->data(), sizeof h);
    for (int32_t v : h)
        if (v == 0 || v > (1 << 24) || v < -(1 << 24)) throw FormatError(path + ": implausible llama2.c header");
    LoadedWeights lw;
    ModelConfig& c = lw.config;
    c.arch_name = "llama";
    c.dim = h[0];
    c.ffn_dim = h[1];
    c.n_layers = h[2];
    c.n_heads = h[3];
    c.n_kv_heads = h[4];
    const bool shared_classifier = h[5] > 0;  // a negative vocab size marks a separate classifier
    c.n_vocab = shared_classifier ? h[5] : -h[5];
    c.n_ctx_train = h[6];
    c.head_dim = c.n_heads > 0 ? c.dim / c.n_heads : 0;
    c.rope_dim = c.head_dim;
    c.validate();

    // Every size below is bounded by the header checks (< 2^24 each), so products fit in 64 bits.
    const int64_t dim = c.dim, kv = c.kv_dim(), ffn = c.ffn_dim, L = c.n_layers;
    int64_t floats = c.n_vocab * dim + L * (dim * 2 + dim * dim * 2 + dim * kv * 2 + ffn * dim * 3) + dim +
                     int64_t(c.n_ctx_train) * c.head_dim;
    if (!shared_classifier) floats += c.n_vocab * dim;
    if ((map->size() - sizeof h) / sizeof(float) < static_cast<size_t>(floats))
        throw FormatError(path + ": file is shorter than its header says (" + std::to_string(map->size()) + " bytes)");

    const float* p = reinterpret_cast<const float*>(map->data() + sizeof h);
    auto take = [&p](int64_t n) {
        const float* at = p;
        p += n;
        return at;
    };
    auto matrix = [&](int64_t rows, int64_t cols) {
        return WeightMatrix{DType::kF32, rows, cols, reinterpret_cast<const uint8_t*>(take(rows * cols))};
    };
    ModelWeights& w = lw.weights;
    w.layers.resize(c.n_layers);
    w.token_embd = matrix(c.n_vocab, dim);
    for (auto& l : w.layers) l.attn_norm = take(dim);
    for (auto& l : w.layers) l.wq = matrix(c.q_dim(), dim);
    for (auto& l : w.layers) l.wk = matrix(kv, dim);
    for (auto& l : w.layers) l.wv = matrix(kv, dim);
    for (auto& l : w.layers) l.wo = matrix(dim, c.q_dim());
    for (auto& l : w.layers) l.ffn_norm = take(dim);
    for (auto& l : w.layers) l.w_gate = matrix(ffn, dim);
    for (auto& l : w.layers) l.w_down = matrix(dim, ffn);
    for (auto& l : w.layers) l.w_up = matrix(ffn, dim);
    w.output_norm = take(dim);
    take(int64_t(c.n_ctx_train) * c.head_dim);  // legacy precomputed RoPE tables, unused
    w.output = shared_classifier ? w.token_embd : matrix(c.n_vocab, dim);
    lw.mapped = std::move(map);
    return lw;
}

}  // namespace llmopt
