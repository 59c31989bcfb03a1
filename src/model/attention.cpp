// Causal attention of each batch token over its own sequence's cached keys and values.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "llmopt/kernels/ops.h"
#include "llmopt/kernels/quant.h"
#include "llmopt/model/model.h"
#include "llmopt/tensor/fp16.h"

// The SIMD loops carry this attribute and run only when kernels::cpu_has_avx2().
#define LLMOPT_ATTN_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace llmopt {
namespace {

// Sum of 8 lanes in a fixed order.
LLMOPT_ATTN_AVX2 inline float hsum8(__m256 v) {
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
}

// Query heads per KV head that the grouped AVX2 path handles at once; larger groups are split.
constexpr int32_t kMaxGroup = 16;

struct HeadJob {
    const float* q;         // (head_dim)
    float* out;             // (head_dim)
    std::span<const int32_t> table;
    int32_t n_past;         // attends to positions [0, n_past)
    size_t head_offset;     // bytes into each cached row
};

// F32 cache, scalar reference: one pass over the positions with an online softmax (running max
// and sum, as flash attention does), so no score buffer however long the context.
void attend_f32_scalar(const KvCache& kv, int32_t layer, const HeadJob& j, float scale,
                       std::vector<float>& acc) {
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

// F32 cache, AVX2, for the query heads that share one KV head (GQA): all scores first (8-lane
// dots, their max), then one pass of exp-weighted value rows. Each key and value row is loaded
// once for the whole group instead of once per head. With no running rescale the value loop is
// one FMA per 8 dims. Per head the operations and their order are those of a lone head and
// depend only on head_dim and n_past. Buffers: scores (heads, n_past), acc (heads, head_dim).
LLMOPT_ATTN_AVX2 void attend_f32_avx2(const KvCache& kv, int32_t layer, const HeadJob* jobs,
                                      int32_t heads, float scale, std::vector<float>& acc,
                                      std::vector<float>& scores) {
    const int32_t hd = kv.shape().head_dim, bs = kv.block_size();
    const int32_t hd8 = hd - hd % 8, n_past = jobs[0].n_past;
    const auto table = jobs[0].table;
    const size_t head_offset = jobs[0].head_offset;
    float max_score[kMaxGroup];
    std::fill(max_score, max_score + heads, -INFINITY);
    for (int32_t p = 0; p < n_past; ++p) {
        const auto* k =
            reinterpret_cast<const float*>(kv.key(layer, table[p / bs], p % bs) + head_offset);
        for (int32_t h = 0; h < heads; ++h) {
            const float* q = jobs[h].q;
            __m256 d0 = _mm256_setzero_ps(), d1 = _mm256_setzero_ps();
            int32_t i = 0;
            for (; i + 16 <= hd8; i += 16) {
                d0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(k + i), d0);
                d1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), _mm256_loadu_ps(k + i + 8), d1);
            }
            if (i < hd8) d0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(k + i), d0);
            float s = hsum8(_mm256_add_ps(d0, d1));
            for (i = hd8; i < hd; ++i) s = std::fma(q[i], k[i], s);
            s *= scale;
            scores[size_t(h) * n_past + p] = s;
            max_score[h] = std::max(max_score[h], s);
        }
    }
    std::fill(acc.begin(), acc.begin() + size_t(heads) * hd, 0.0f);
    float sum[kMaxGroup] = {};
    for (int32_t p = 0; p < n_past; ++p) {
        const auto* v =
            reinterpret_cast<const float*>(kv.value(layer, table[p / bs], p % bs) + head_offset);
        for (int32_t h = 0; h < heads; ++h) {
            float* a = &acc[size_t(h) * hd];
            const float w = std::exp(scores[size_t(h) * n_past + p] - max_score[h]);
            sum[h] += w;
            const __m256 wv = _mm256_set1_ps(w);
            int32_t i = 0;
            for (; i < hd8; i += 8)
                _mm256_storeu_ps(
                    a + i, _mm256_fmadd_ps(wv, _mm256_loadu_ps(v + i), _mm256_loadu_ps(a + i)));
            for (; i < hd; ++i) a[i] = std::fma(w, v[i], a[i]);
        }
    }
    for (int32_t h = 0; h < heads; ++h)
        for (int32_t i = 0; i < hd; ++i) jobs[h].out[i] = acc[size_t(h) * hd + i] / sum[h];
}

// F16 / Q8_0 cache: scores against the stored keys with the query converted as the stored type
// needs (rounded to f16, or quantized to Q8_0), a normalized softmax, then the probabilities
// (rounded to f16 for an f16 cache) weight the dequantized values. This is llama.cpp's
// non-flash path, so its logits can be reproduced closely. `add_weighted_value` adds one value
// row: the scalar reference, or the AVX2 one with the same roundings.
using AddValueFn = void (*)(DType type, const uint8_t* v, float w, float* out, int32_t hd,
                            std::vector<float>& v_row);

// out += w * dequantize(v), a rounded product then a rounded sum per element.
void add_weighted_value_scalar(DType type, const uint8_t* v, float w, float* out, int32_t hd,
                               std::vector<float>& v_row) {
    kernels::dequantize_row(type, v, v_row.data(), hd);
    for (int32_t i = 0; i < hd; ++i) out[i] += w * v_row[i];
}

// The product goes through an empty asm so the compiler cannot fuse it with the sum into one
// FMA (which would round once instead of twice and so differ from the reference).
LLMOPT_ATTN_AVX2 inline __m256 product_unfused(__m256 a, __m256 b) {
    __m256 p = _mm256_mul_ps(a, b);
    asm("" : "+x"(p));
    return p;
}

LLMOPT_ATTN_AVX2 void add_weighted_value_avx2(DType type, const uint8_t* v, float w, float* out,
                                              int32_t hd, std::vector<float>& v_row) {
    if (type == DType::kF16 && hd % 8 == 0) {
        const __m256 wv = _mm256_set1_ps(w);
        const auto* h = reinterpret_cast<const __m128i*>(v);
        for (int32_t i = 0; i < hd; i += 8) {
            const __m256 x = _mm256_cvtph_ps(_mm_loadu_si128(h + i / 8));  // exact, as fp16_to_fp32
            _mm256_storeu_ps(out + i,
                             _mm256_add_ps(_mm256_loadu_ps(out + i), product_unfused(wv, x)));
        }
        return;
    }
    if (type == DType::kQ8_0 && hd % 32 == 0) {
        // Q8_0 block: f16 scale, then 32 int8; dequantized as float(q) * d, like the reference.
        const __m256 wv = _mm256_set1_ps(w);
        for (int32_t b = 0; b < hd / 32; ++b) {
            const uint8_t* block = v + b * 34;
            uint16_t d16;
            std::memcpy(&d16, block, sizeof d16);
            const __m256 d = _mm256_set1_ps(fp16_to_fp32(d16));
            for (int32_t g = 0; g < 4; ++g) {
                const __m128i q8 =
                    _mm_loadl_epi64(reinterpret_cast<const __m128i*>(block + 2 + 8 * g));
                const __m256 x = product_unfused(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q8)), d);
                float* o = out + 32 * b + 8 * g;
                _mm256_storeu_ps(o, _mm256_add_ps(_mm256_loadu_ps(o), product_unfused(wv, x)));
            }
        }
        return;
    }
    add_weighted_value_scalar(type, v, w, out, hd, v_row);
}

void attend_quantized(const KvCache& kv, int32_t layer, const HeadJob& j, float scale,
                      std::vector<float>& scores, std::vector<float>& q_conv,
                      std::vector<uint8_t>& q_act, std::vector<float>& v_row,
                      AddValueFn add_value) {
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
        add_value(type, kv.value(layer, j.table[p / bs], p % bs) + j.head_offset, w, j.out, hd,
                  v_row);
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
    const bool simd = kernels::cpu_has_avx2();
#pragma omp parallel if (work >= kMinParallelWork)
    {
        std::vector<float> acc(size_t(kMaxGroup) * hd), q_conv(hd), v_row(hd),
            scores(size_t(kMaxGroup) * longest);
        std::vector<uint8_t> q_act;
        if (kv.type() != DType::kF32)
            q_act.resize(row_bytes(kernels::activation_type(kv.type()), hd));
        // A job is one token's query heads that share a KV head (up to kMaxGroup of them). Jobs
        // are dealt round-robin: in a prefill chunk later tokens attend to more positions, so
        // contiguous shares would leave the thread holding the first tokens idle.
        const int32_t parts = (group + kMaxGroup - 1) / kMaxGroup,
                      per_job = (group + parts - 1) / parts;
        const int64_t jobs_per_token = int64_t(c.n_kv_heads) * parts;
#pragma omp for schedule(static, 1)
        for (int64_t job = 0; job < int64_t(n) * jobs_per_token; ++job) {
            const int32_t t = int32_t(job / jobs_per_token), part = int32_t(job % jobs_per_token);
            const int32_t h0 = part / parts * group + part % parts * per_job;
            const int32_t h1 = std::min(h0 + per_job, (part / parts + 1) * group);
            HeadJob jobs[kMaxGroup];
            for (int32_t h = h0; h < h1; ++h)
                jobs[h - h0] = {&q_[size_t(t) * c.q_dim() + size_t(h) * hd],
                                &att_[size_t(t) * c.q_dim() + size_t(h) * hd],
                                batch.block_tables[batch.seq[t]], batch.positions[t] + 1,
                                kv.head_offset(h / group)};
            if (kv.type() == DType::kF32 && simd) {
                attend_f32_avx2(kv, l, jobs, h1 - h0, scale, acc, scores);
                continue;
            }
            for (int32_t h = 0; h < h1 - h0; ++h) {
                if (kv.type() != DType::kF32)
                    attend_quantized(kv, l, jobs[h], scale, scores, q_conv, q_act, v_row,
                                     simd ? add_weighted_value_avx2 : add_weighted_value_scalar);
                else
                    attend_f32_scalar(kv, l, jobs[h], scale, acc);
            }
        }
    }
}

}  // namespace llmopt
