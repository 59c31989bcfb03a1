// Causal attention of each batch token over its own sequence's cached keys and values.
#include <algorithm>
#include <cmath>
#include <vector>

#include "llmopt/kernels/ops.h"
#include "llmopt/kernels/quant.h"
#include "llmopt/model/model.h"
#include "llmopt/tensor/fp16.h"

namespace llmopt {
namespace {

struct HeadJob {
    const float* q;         // (head_dim)
    float* out;             // (head_dim)
    std::span<const int32_t> table;
    int32_t n_past;         // attends to positions [0, n_past)
    size_t head_offset;     // bytes into each cached row
};

// F32 cache: one pass over the positions with an online softmax (running max and sum, as flash
// attention does), so no score buffer however long the context.
void attend_f32(const KvCache& kv, int32_t layer, const HeadJob& j, float scale, std::vector<float>& acc) {
    const int32_t hd = kv.shape().head_dim, bs = kv.block_size();
    std::fill(acc.begin(), acc.end(), 0.0f);
    float max_score = -INFINITY, sum = 0.0f;
    for (int32_t p = 0; p < j.n_past; ++p) {
        const auto* k = reinterpret_cast<const float*>(kv.key(layer, j.table[p / bs], p % bs) + j.head_offset);
        const auto* v = reinterpret_cast<const float*>(kv.value(layer, j.table[p / bs], p % bs) + j.head_offset);
        float s = 0.0f;
        for (int32_t i = 0; i < hd; ++i) s += j.q[i] * k[i];
        s *= scale;
        if (s > max_score) {
            const float correction = std::exp(max_score - s);
            for (int32_t i = 0; i < hd; ++i) acc[i] *= correction;
            sum *= correction;
            max_score = s;
        }
        const float w = std::exp(s - max_score);
        sum += w;
        for (int32_t i = 0; i < hd; ++i) acc[i] += w * v[i];
    }
    for (int32_t i = 0; i < hd; ++i) j.out[i] = acc[i] / sum;
}

// F16 / Q8_0 cache: scores against the stored keys with the query converted as the stored type
// needs (rounded to f16, or quantized to Q8_0), a normalized softmax, then the probabilities
// (rounded to f16 for an f16 cache) weight the dequantized values. This is llama.cpp's
// non-flash path, so its logits can be reproduced closely.
void attend_quantized(const KvCache& kv, int32_t layer, const HeadJob& j, float scale, std::vector<float>& scores,
                      std::vector<float>& q_conv, std::vector<uint8_t>& q_act, std::vector<float>& v_row) {
    const int32_t hd = kv.shape().head_dim, bs = kv.block_size();
    const DType type = kv.type();
    const DType act = kernels::activation_type(type);
    const bool f16 = type == DType::kF16;
    for (int32_t i = 0; i < hd; ++i) q_conv[i] = f16 ? fp16_to_fp32(fp32_to_fp16(j.q[i])) : j.q[i];
    kernels::quantize_activation(act, q_conv.data(), q_act.data(), hd);
    for (int32_t p = 0; p < j.n_past; ++p)
        scores[p] = scale * kernels::vec_dot(type, hd, kv.key(layer, j.table[p / bs], p % bs) + j.head_offset, q_act.data());
    kernels::softmax(scores.data(), j.n_past);
    std::fill(j.out, j.out + hd, 0.0f);
    for (int32_t p = 0; p < j.n_past; ++p) {
        const float w = f16 ? fp16_to_fp32(fp32_to_fp16(scores[p])) : scores[p];
        kernels::dequantize_row(type, kv.value(layer, j.table[p / bs], p % bs) + j.head_offset, v_row.data(), hd);
        for (int32_t i = 0; i < hd; ++i) j.out[i] += w * v_row[i];
    }
}

}  // namespace

void Model::attend(int32_t l, const Batch& batch, const KvCache& kv) {
    const ModelConfig& c = config();
    const int32_t n = batch.size(), hd = c.head_dim;
    const int32_t group = c.n_heads / c.n_kv_heads;
    const float scale = 1.0f / std::sqrt(float(hd));
    int32_t longest = 0;
    int64_t work = 0;  // multiply-adds over all heads
    for (int32_t t = 0; t < n; ++t) {
        longest = std::max(longest, batch.positions[t] + 1);
        work += int64_t(batch.positions[t] + 1) * c.n_heads * hd * 2;
    }
    constexpr int64_t kMinParallelWork = 1 << 16;
#pragma omp parallel if (work >= kMinParallelWork)
    {
        std::vector<float> acc(hd), q_conv(hd), v_row(hd), scores;
        std::vector<uint8_t> q_act;
        if (kv.type() != DType::kF32) {
            scores.resize(longest);
            q_act.resize(row_bytes(kernels::activation_type(kv.type()), hd));
        }
#pragma omp for schedule(static)
        for (int64_t job = 0; job < int64_t(n) * c.n_heads; ++job) {
            const int32_t t = int32_t(job / c.n_heads), h = int32_t(job % c.n_heads);
            const HeadJob j{&q_[size_t(t) * c.q_dim() + size_t(h) * hd], &att_[size_t(t) * c.q_dim() + size_t(h) * hd],
                            batch.block_tables[batch.seq[t]], batch.positions[t] + 1, kv.head_offset(h / group)};
            if (kv.type() == DType::kF32)
                attend_f32(kv, l, j, scale, acc);
            else
                attend_quantized(kv, l, j, scale, scores, q_conv, q_act, v_row);
        }
    }
}

}  // namespace llmopt
