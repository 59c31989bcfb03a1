// The forward pass over a ragged batch: RMSNorm → attention → residual → RMSNorm → FFN → residual.
#include "llmopt/model/model.h"

#include <cstring>

#include "llmopt/format/gguf.h"
#include "llmopt/kernels/matmul.h"
#include "llmopt/kernels/ops.h"
#include "llmopt/kernels/quant.h"
#include "llmopt/util/error.h"
#include "llmopt/util/mapped_file.h"

namespace llmopt {
namespace {

bool has_gguf_magic(const std::string& path) {
    MappedFile f(path);
    return f.size() >= 4 && std::memcmp(f.data(), "GGUF", 4) == 0;
}

void add_bias(float* rows, const float* bias, int32_t n, int32_t width) {
    if (!bias) return;
    for (int32_t t = 0; t < n; ++t) kernels::add(rows + int64_t(t) * width, bias, width);
}

}  // namespace

Model::Model(LoadedWeights weights, bool regroup_weights)
    : w_(std::move(weights)),
      rope_inv_freq_(kernels::rope_inverse_frequencies(w_.config.rope_theta, w_.config.rope_dim)) {
    if (regroup_weights) regroup_for_matmul(w_);
}

Model Model::load(const std::string& path) {
    if (has_gguf_magic(path)) return Model(load_gguf_weights(std::make_shared<GgufFile>(path)));
    return Model(load_llama2c_weights(path));
}

void Model::resize_workspace(int32_t n) {
    const ModelConfig& c = config();
    auto fit = [](std::vector<float>& v, size_t size) {
        if (v.size() < size) v.resize(size);
    };
    fit(x_, size_t(n) * c.dim);
    fit(xn_, size_t(n) * c.dim);
    fit(q_, size_t(n) * c.q_dim());
    fit(k_, size_t(n) * c.kv_dim());
    fit(v_, size_t(n) * c.kv_dim());
    fit(att_, size_t(n) * c.q_dim());
    fit(out_, size_t(n) * c.dim);
    fit(gate_, size_t(n) * c.ffn_dim);
    fit(up_, size_t(n) * c.ffn_dim);
    fit(router_, size_t(n) * c.n_experts);
    fit(gathered_, size_t(n) * c.dim);
    fit(rope_cos_, size_t(n) * (c.rope_dim / 2));
    fit(rope_sin_, size_t(n) * (c.rope_dim / 2));
}

void Model::forward(const Batch& batch, KvCache& kv, float* logits) {
    const ModelConfig& c = config();
    const ModelWeights& W = weights();
    const int32_t n = batch.size();
    if (n == 0) return;
    for (int32_t t = 0; t < n; ++t) {
        if (batch.tokens[t] < 0 || batch.tokens[t] >= c.n_vocab)
            throw InputError("token id " + std::to_string(batch.tokens[t]) + " is outside the vocabulary (" +
                             std::to_string(c.n_vocab) + ")");
        const auto& table = batch.block_tables.at(batch.seq[t]);
        if (batch.positions[t] < 0 || size_t(batch.positions[t] / kv.block_size()) >= table.size())
            throw InputError("position " + std::to_string(batch.positions[t]) + " has no KV block");
    }
    resize_workspace(n);

    // x (n, dim) = token embeddings
    for (int32_t t = 0; t < n; ++t) kernels::dequantize_matrix_row(W.token_embd, batch.tokens[t], &x_[size_t(t) * c.dim]);
    // A token's rotary angles depend on its position only: computed once for all layers (taken
    // per layer, their double-precision sincos was 1-2% of stories260K's decode).
    const kernels::RopeParams rope{c.head_dim, c.rope_dim, rope_inv_freq_.data(), c.rope_freq_scale,
                                   c.rope_style == RopeStyle::kNeox, W.rope_freq_factors};
    const size_t half = c.rope_dim / 2;
    for (int32_t t = 0; t < n; ++t)
        kernels::rope_angles(batch.positions[t], rope, &rope_cos_[t * half], &rope_sin_[t * half]);

    for (int32_t l = 0; l < c.n_layers; ++l) {
        attention_block(l, batch, kv, rope);
        ffn_block(l, n);
    }

    // Final norm and the output projection, only for the rows that want logits.
    int32_t n_out = 0;
    for (int32_t t = 0; t < n; ++t)
        if (batch.output[t])
            kernels::rms_norm(&xn_[size_t(n_out++) * c.dim], &x_[size_t(t) * c.dim], W.output_norm, c.dim, c.rms_eps);
    if (n_out > 0) kernels::matmul(W.output, xn_.data(), n_out, logits, act_scratch_);
}

void Model::attention_block(int32_t l, const Batch& batch, KvCache& kv,
                            const kernels::RopeParams& rope) {
    const ModelConfig& c = config();
    const LayerWeights& L = weights().layers[l];
    const int32_t n = batch.size();
    for (int32_t t = 0; t < n; ++t)
        kernels::rms_norm(&xn_[size_t(t) * c.dim], &x_[size_t(t) * c.dim], L.attn_norm, c.dim, c.rms_eps);
    const kernels::MatmulOutput qkv[] = {
        {&L.wq, q_.data()}, {&L.wk, k_.data()}, {&L.wv, v_.data()}};
    kernels::matmul(qkv, xn_.data(), n, act_scratch_);
    add_bias(q_.data(), L.bq, n, c.q_dim());
    add_bias(k_.data(), L.bk, n, c.kv_dim());
    add_bias(v_.data(), L.bv, n, c.kv_dim());

    const size_t half = c.rope_dim / 2;
    const int32_t bs = kv.block_size();
    for (int32_t t = 0; t < n; ++t) {
        const int32_t pos = batch.positions[t];
        float* q = &q_[size_t(t) * c.q_dim()];
        float* k = &k_[size_t(t) * c.kv_dim()];
        const float* cos = &rope_cos_[t * half];
        const float* sin = &rope_sin_[t * half];
        kernels::rope_rotate(q, c.n_heads, cos, sin, rope);
        kernels::rope_rotate(k, c.n_kv_heads, cos, sin, rope);
        // Store this token's key and value at its position before any token attends to it.
        const int32_t block = batch.block_tables[batch.seq[t]][pos / bs];
        kernels::quantize_row(kv.type(), k, kv.key(l, block, pos % bs), c.kv_dim());
        kernels::quantize_row(kv.type(), &v_[size_t(t) * c.kv_dim()], kv.value(l, block, pos % bs), c.kv_dim());
    }
    attend(l, batch, kv);
    kernels::matmul(L.wo, att_.data(), n, out_.data(), act_scratch_);
    kernels::add(x_.data(), out_.data(), int64_t(n) * c.dim);
}

void Model::ffn_block(int32_t l, int32_t n) {
    const ModelConfig& c = config();
    const LayerWeights& L = weights().layers[l];
    for (int32_t t = 0; t < n; ++t)
        kernels::rms_norm(&xn_[size_t(t) * c.dim], &x_[size_t(t) * c.dim], L.ffn_norm, c.dim, c.rms_eps);
    if (c.n_experts > 0)
        moe_ffn(L, n);
    else
        dense_ffn(L, n);
    kernels::add(x_.data(), out_.data(), int64_t(n) * c.dim);
}

void Model::dense_ffn(const LayerWeights& L, int32_t n) {
    const int32_t ffn = config().ffn_dim;
    const kernels::MatmulOutput gate_up[] = {{&L.w_gate, gate_.data()}, {&L.w_up, up_.data()}};
    kernels::matmul(gate_up, xn_.data(), n, act_scratch_);
    kernels::silu_mul(gate_.data(), up_.data(), int64_t(n) * ffn);
    kernels::matmul(L.w_down, gate_.data(), n, out_.data(), act_scratch_);
}

}  // namespace llmopt
