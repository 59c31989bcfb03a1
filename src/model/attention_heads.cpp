// Attention of one token's query heads that share a KV head: scalar references and AVX2
// kernels per cache type (F32, F16, Q8_0).
#include "attention_heads.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

#include "llmopt/kernels/ops.h"
#include "llmopt/kernels/quant.h"
#include "llmopt/kernels/simd_exp.h"
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

// The cached key rows of job j's positions into rows[0, n_past) and its value rows into
// rows[n_past, 2 n_past), at its head: once per job, so no division by the block size per
// position and head. Returns the two arrays.
template <typename Row>
std::pair<const Row**, const Row**> find_rows(const KvCache& kv, int32_t layer, const HeadJob& j,
                                              std::vector<const Row*>& rows) {
    const int32_t bs = kv.block_size();
    rows.resize(2 * size_t(j.n_past));
    const Row** keys = rows.data();
    const Row** values = keys + j.n_past;
    for (int32_t p0 = 0; p0 < j.n_past; p0 += bs) {
        const int32_t block = j.table[p0 / bs];
        for (int32_t i = 0; i < bs && p0 + i < j.n_past; ++i) {
            keys[p0 + i] = reinterpret_cast<const Row*>(kv.key(layer, block, i) + j.head_offset);
            values[p0 + i] = reinterpret_cast<const Row*>(kv.value(layer, block, i) + j.head_offset);
        }
    }
    return {keys, values};
}

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
        if (p < j.n_masked) continue;
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

// Positions p .. p + 7 that weigh something: [n_masked, n_past).
LLMOPT_ATTN_AVX2 inline __m256 live_lanes(int32_t p, int32_t n_masked, int32_t n_past) {
    const __m256 pos = _mm256_add_ps(_mm256_set1_ps(float(p)), _mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7));
    return _mm256_and_ps(_mm256_cmp_ps(pos, _mm256_set1_ps(float(n_past)), _CMP_LT_OQ),
                         _mm256_cmp_ps(pos, _mm256_set1_ps(float(n_masked)), _CMP_GE_OQ));
}

// s[p] := exp(s[p] - max) for the live positions and 0 for the others, over n_past rounded up
// to 8; returns the sum, added eight lanes at a time then by a fixed tree.
LLMOPT_ATTN_AVX2 float exp_scores(float* s, int32_t n_past, int32_t n_masked) {
    const __m256 none = _mm256_set1_ps(-INFINITY);
    __m256 lane_max = none;
    for (int32_t p = 0; p < n_past; p += 8) {
        __m256 v = _mm256_loadu_ps(s + p);
        if (p < n_masked || p + 8 > n_past) v = _mm256_blendv_ps(none, v, live_lanes(p, n_masked, n_past));
        lane_max = _mm256_max_ps(lane_max, v);
    }
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(lane_max), _mm256_extractf128_ps(lane_max, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    const __m256 max_v = _mm256_broadcastss_ps(_mm_max_ss(m, _mm_movehdup_ps(m)));
    __m256 sum_v = _mm256_setzero_ps();
    for (int32_t p = 0; p < n_past; p += 8) {
        __m256 w = kernels::exp8(_mm256_sub_ps(_mm256_loadu_ps(s + p), max_v));
        if (p < n_masked || p + 8 > n_past) w = _mm256_and_ps(w, live_lanes(p, n_masked, n_past));
        _mm256_storeu_ps(s + p, w);
        sum_v = _mm256_add_ps(sum_v, w);
    }
    return hsum8(sum_v);
}

// The dots of one query with eight keys (hd floats each): lane j of each key's 8-lane products, the chunks of 8 dims
// summed in order, then the 8 lanes by a fixed tree of horizontal adds. Returns the 8 scores.
LLMOPT_ATTN_AVX2 inline __m256 dot8_keys(const float* q, const float* const* k, int32_t hd) {
    __m256 d[8];
    for (int j = 0; j < 8; ++j) d[j] = _mm256_setzero_ps();
    for (int32_t i = 0; i < hd; i += 8) {
        const __m256 qv = _mm256_loadu_ps(q + i);
#pragma GCC unroll 8
        for (int j = 0; j < 8; ++j) d[j] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k[j] + i), d[j]);
    }
    const __m256 t0 = _mm256_hadd_ps(d[0], d[1]), t1 = _mm256_hadd_ps(d[2], d[3]);
    const __m256 t2 = _mm256_hadd_ps(d[4], d[5]), t3 = _mm256_hadd_ps(d[6], d[7]);
    const __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
    return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

// acc[h] += w[h][p] · v for kHeads heads, each 8-dim chunk of the row loaded once for all.
template <int kChunks, int kHeads>
LLMOPT_ATTN_AVX2 inline void add_weighted_row(__m256 (&acc)[kHeads][kChunks], const float* const* w,
                                              int32_t p, const float* v) {
    __m256 wv[kHeads];
    for (int h = 0; h < kHeads; ++h) wv[h] = _mm256_set1_ps(w[h][p]);
#pragma GCC unroll 8
    for (int c = 0; c < kChunks; ++c) {
        __m256 x = _mm256_loadu_ps(v + 8 * c);
        asm("" : "+x"(x));  // one load for all the heads, not one folded into each FMA
#pragma GCC unroll 2
        for (int h = 0; h < kHeads; ++h) acc[h][c] = _mm256_fmadd_ps(wv[h], x, acc[h][c]);
    }
}

// out[0][d0 ...] (kChunks × 8 dims) = inv_sum[0] · Σ_p w[0][p] · v[p][d0 ...] for one head.
// Accumulators stay in registers; with few chunks the positions are dealt to kStreams
// independent sums (position p to sum p % kStreams, added in a fixed order at the end) so the
// FMA latency does not serialize the loop. A head's order depends only on n_past and kChunks:
// at 4 or 8 chunks (one stream) it is the order paired_value_sums gives each of its heads.
template <int kChunks>
LLMOPT_ATTN_AVX2 void weighted_values(const float* const* v, const float* const* w, int32_t n_past,
                                      int32_t d0, const __m256* inv_sum, float* const* out) {
    constexpr int kStreams = kChunks >= 4 ? 1 : kChunks >= 2 ? 2 : 4;
    __m256 acc[kStreams][1][kChunks];
    for (auto& stream : acc)
        for (auto& a : stream[0]) a = _mm256_setzero_ps();
    int32_t p = 0;
    for (; p + kStreams <= n_past; p += kStreams)
#pragma GCC unroll 4
        for (int s = 0; s < kStreams; ++s) add_weighted_row<kChunks, 1>(acc[s], w, p + s, v[p + s] + d0);
#pragma GCC unroll 4
    for (int s = 0; s < kStreams; ++s)
        if (p + s < n_past) add_weighted_row<kChunks, 1>(acc[s], w, p + s, v[p + s] + d0);
#pragma GCC unroll 8
    for (int c = 0; c < kChunks; ++c) {
        __m256 total = acc[0][0][c];
        if constexpr (kStreams == 2) total = _mm256_add_ps(acc[0][0][c], acc[1][0][c]);
        if constexpr (kStreams == 4)
            total = _mm256_add_ps(_mm256_add_ps(acc[0][0][c], acc[1][0][c]), _mm256_add_ps(acc[2][0][c], acc[3][0][c]));
        _mm256_storeu_ps(out[0] + d0 + 8 * c, _mm256_mul_ps(total, inv_sum[0]));
    }
}

// Positions per pass of paired_value_sums: their value rows (16 KB of F32 at head size 64) stay
// in L1 while every pair of heads and every 32 dims take them.
constexpr int32_t kValueRange = 64;

// F32 value rows in paired_value_sums: fused multiply-adds, the sums then scaled by 1 / sum.
struct F32Values {
    using Row = float;
    LLMOPT_ATTN_AVX2 static void add(__m256 (&acc)[2][4], const float* const* w, int32_t p,
                                     const float* row, int32_t d0) {
        add_weighted_row<4, 2>(acc, w, p, row + d0);
    }
    LLMOPT_ATTN_AVX2 static __m256 finish(__m256 sum, const __m256* inv_sums, int32_t head) {
        return _mm256_mul_ps(sum, inv_sums[head]);
    }
};

// The value sums of heads [0, 2 pairs), two heads 32 dims at a time (each row's chunk loaded
// once for both), with the positions taken kValueRange at a time: a range's rows come from L2
// once, then from L1 for each pair and 32 dims, whose accumulators wait in `state` (pairs × hd
// × 2 floats) between ranges. Values::add adds row p to two heads' sums (dims d0 ... d0 + 31);
// per head and element, its operations and their order are those of a pass over all positions.
// Values::finish turns head h's sums into its output (inv_sums: 1 / sum per head, or null).
template <typename Values>
LLMOPT_ATTN_AVX2 void paired_value_sums(const typename Values::Row* const* v, const float* const* w,
                                        int32_t pairs, int32_t n_past, int32_t hd,
                                        const __m256* inv_sums, float* const* out, float* state) {
    const int32_t slices = hd / 32;
    std::fill(state, state + size_t(pairs) * slices * 64, 0.0f);
    for (int32_t p0 = 0; p0 < n_past; p0 += kValueRange) {
        const int32_t p1 = std::min(n_past, p0 + kValueRange);
        for (int32_t pair = 0; pair < pairs; ++pair)
            for (int32_t slice = 0; slice < slices; ++slice) {
                float* saved = state + (size_t(pair) * slices + slice) * 64;
                __m256 acc[2][4];
                for (int h = 0; h < 2; ++h)
                    for (int c = 0; c < 4; ++c) acc[h][c] = _mm256_loadu_ps(saved + 32 * h + 8 * c);
                for (int32_t p = p0; p < p1; ++p) Values::add(acc, &w[2 * pair], p, v[p], 32 * slice);
                for (int h = 0; h < 2; ++h)
                    for (int c = 0; c < 4; ++c) _mm256_storeu_ps(saved + 32 * h + 8 * c, acc[h][c]);
            }
    }
    for (int32_t pair = 0; pair < pairs; ++pair)
        for (int32_t slice = 0; slice < slices; ++slice)
            for (int h = 0; h < 2; ++h)
                for (int c = 0; c < 4; ++c) {
                    const float* saved = state + (size_t(pair) * slices + slice) * 64 + 32 * h + 8 * c;
                    _mm256_storeu_ps(out[2 * pair + h] + 32 * slice + 8 * c,
                                     Values::finish(_mm256_loadu_ps(saved), inv_sums, 2 * pair + h));
                }
}

// F32 cache, AVX2 (head_dim a multiple of 8), for the query heads that share one KV head (GQA):
// scores eight positions at a time (each key row loaded once for the whole group), then per
// head exp(score - max) eight at a time, then the weighted value rows into accumulators held
// in registers (paired_value_sums where head_dim is a multiple of 32, else one head 64 dims at
// a time). Each head's operations and their order depend only on head_dim and n_past, never on
// the other heads or tokens. Buffers: scores (heads, n_past rounded up to 8), rows (2 × n_past
// row pointers), value_state (heads × head_dim floats).
LLMOPT_ATTN_AVX2 void attend_f32_avx2(const KvCache& kv, int32_t layer, const HeadJob* jobs,
                                      int32_t heads, float scale, std::vector<float>& scores,
                                      std::vector<const float*>& rows, float* value_state) {
    const int32_t hd = kv.shape().head_dim;
    const int32_t n_past = jobs[0].n_past, padded = (n_past + 7) / 8 * 8, n_masked = jobs[0].n_masked;
    const auto [keys, values] = find_rows(kv, layer, jobs[0], rows);
    const __m256 scale_v = _mm256_set1_ps(scale);
    for (int32_t p0 = 0; p0 < n_past; p0 += 8) {
        const float* k[8];
        // Lanes past n_past repeat the last key; their weights are set to zero below.
        for (int j = 0; j < 8; ++j) k[j] = keys[std::min(p0 + j, n_past - 1)];
        for (int32_t h = 0; h < heads; ++h)
            _mm256_storeu_ps(&scores[size_t(h) * padded + p0],
                             _mm256_mul_ps(dot8_keys(jobs[h].q, k, hd), scale_v));
    }
    __m256 inv_sums[kMaxHeadGroup];
    const float* w[kMaxHeadGroup];
    float* out[kMaxHeadGroup];
    for (int32_t h = 0; h < heads; ++h) {
        w[h] = &scores[size_t(h) * padded];
        out[h] = jobs[h].out;
        inv_sums[h] = _mm256_set1_ps(1.0f / exp_scores(&scores[size_t(h) * padded], n_past, n_masked));
    }
    int32_t h = 0;
    if (hd % 32 == 0 && heads >= 2) {  // two heads at a time: each value row is read once for both
        paired_value_sums<F32Values>(values, w, heads / 2, n_past, hd, inv_sums, out, value_state);
        h = heads / 2 * 2;
    }
    for (; h < heads; ++h) {
        const float* const* wh = &w[h];
        const __m256* inv = &inv_sums[h];
        float* const* oh = &out[h];
        int32_t d0 = 0;
        for (; d0 + 64 <= hd; d0 += 64) weighted_values<8>(values, wh, n_past, d0, inv, oh);
        switch ((hd - d0) / 8) {
            case 7: weighted_values<7>(values, wh, n_past, d0, inv, oh); break;
            case 6: weighted_values<6>(values, wh, n_past, d0, inv, oh); break;
            case 5: weighted_values<5>(values, wh, n_past, d0, inv, oh); break;
            case 4: weighted_values<4>(values, wh, n_past, d0, inv, oh); break;
            case 3: weighted_values<3>(values, wh, n_past, d0, inv, oh); break;
            case 2: weighted_values<2>(values, wh, n_past, d0, inv, oh); break;
            case 1: weighted_values<1>(values, wh, n_past, d0, inv, oh); break;
            default: break;
        }
    }
}

// F16 / Q8_0 cache: scores against the stored keys with the query converted as the stored type
// needs (rounded to f16, or quantized to Q8_0), a normalized softmax, then the probabilities
// (rounded to f16 for an f16 cache) weight the dequantized values. This is llama.cpp's
// non-flash path, so its logits can be reproduced closely. The value sum takes, per element and
// position in order, a rounded product then a rounded sum, in the scalar reference as in the
// AVX2 kernels.

// The query as a dot with the stored keys takes it, into q_act: f16-rounded floats for an F16
// cache, Q8_0 blocks for a Q8_0 cache.
void convert_query(DType type, const float* q, int32_t hd, uint8_t* q_act) {
    if (type != DType::kF16) return kernels::quantize_activation(kernels::activation_type(type), q, q_act, hd);
    auto* rounded = reinterpret_cast<float*>(q_act);
    for (int32_t i = 0; i < hd; ++i) rounded[i] = fp16_to_fp32(fp32_to_fp16(q[i]));
}

// The same values, the f16 rounding eight at a time.
LLMOPT_ATTN_AVX2 void convert_query_avx2(DType type, const float* q, int32_t hd, uint8_t* q_act) {
    if (type != DType::kF16 || hd % 8 != 0) return convert_query(type, q, hd, q_act);
    auto* rounded = reinterpret_cast<float*>(q_act);
    for (int32_t i = 0; i < hd; i += 8)
        _mm256_storeu_ps(rounded + i, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(q + i), _MM_FROUND_TO_NEAREST_INT)));
}

void weighted_values_scalar(DType type, const uint8_t* const* v, const float* w, int32_t n_past,
                            float* out, int32_t hd, std::vector<float>& v_row) {
    std::fill(out, out + hd, 0.0f);
    for (int32_t p = 0; p < n_past; ++p) {
        kernels::dequantize_row(type, v[p], v_row.data(), hd);
        for (int32_t i = 0; i < hd; ++i) out[i] += w[p] * v_row[i];
    }
}

// The product goes through an empty asm so the compiler cannot fuse it with the sum into one
// FMA (which would round once instead of twice and so differ from the reference).
LLMOPT_ATTN_AVX2 inline __m256 product_unfused(__m256 a, __m256 b) {
    __m256 p = _mm256_mul_ps(a, b);
    asm("" : "+x"(p));
    return p;
}

// Eight elements from index i of an F16 value row, widened exactly (as fp16_to_fp32).
struct F16Rows {
    LLMOPT_ATTN_AVX2 static __m256 load8(const uint8_t* row, int32_t i) {
        return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * i)));
    }
};

// Eight elements from index i (a multiple of 8) of a Q8_0 value row, each float(q) * d as the
// reference dequantizes.
struct Q8_0Rows {
    LLMOPT_ATTN_AVX2 static __m256 load8(const uint8_t* row, int32_t i) {
        const uint8_t* block = row + i / 32 * 34;
        uint16_t d16;
        std::memcpy(&d16, block, sizeof d16);
        const __m256 d = _mm256_set1_ps(_cvtsh_ss(d16));  // exact, as fp16_to_fp32
        const __m128i q8 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(block + 2 + i % 32));
        return product_unfused(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q8)), d);
    }
};

// acc[h] += w[h][p] · row[d0 ...] (kChunks × 8 dims), each product rounded then added, for
// kHeads heads; the row's elements are dequantized once for the heads.
template <typename Rows, int kChunks, int kHeads>
LLMOPT_ATTN_AVX2 inline void add_rounded_row(__m256 (&acc)[kHeads][kChunks], const float* const* w,
                                             int32_t p, const uint8_t* row, int32_t d0) {
    __m256 wv[kHeads];
    for (int h = 0; h < kHeads; ++h) wv[h] = _mm256_set1_ps(w[h][p]);
#pragma GCC unroll 8
    for (int c = 0; c < kChunks; ++c) {
        const __m256 x = Rows::load8(row, d0 + 8 * c);
#pragma GCC unroll 2
        for (int h = 0; h < kHeads; ++h) acc[h][c] = _mm256_add_ps(acc[h][c], product_unfused(wv[h], x));
    }
}

// Dims [d0, d0 + 8 kChunks) of kHeads heads' value sums (weights w[h], outputs out[h]) held
// in registers over all positions.
template <typename Rows, int kChunks, int kHeads>
LLMOPT_ATTN_AVX2 void weighted_rows(const uint8_t* const* v, const float* const* w, int32_t n_past,
                                    int32_t d0, float* const* out) {
    __m256 acc[kHeads][kChunks];
    for (auto& head : acc)
        for (auto& a : head) a = _mm256_setzero_ps();
    for (int32_t p = 0; p < n_past; ++p) add_rounded_row<Rows, kChunks, kHeads>(acc, w, p, v[p], d0);
    for (int h = 0; h < kHeads; ++h)
#pragma GCC unroll 8
        for (int c = 0; c < kChunks; ++c) _mm256_storeu_ps(out[h] + d0 + 8 * c, acc[h][c]);
}

// F16 / Q8_0 value rows in paired_value_sums: rounded products and sums, as weighted_rows; the
// weights are already normalized, so the sums are the outputs.
template <typename Rows>
struct RoundedValues {
    using Row = uint8_t;
    LLMOPT_ATTN_AVX2 static void add(__m256 (&acc)[2][4], const float* const* w, int32_t p,
                                     const uint8_t* row, int32_t d0) {
        add_rounded_row<Rows, 4, 2>(acc, w, p, row, d0);
    }
    LLMOPT_ATTN_AVX2 static __m256 finish(__m256 sum, const __m256*, int32_t) { return sum; }
};

// The value sums of one head, or of two sharing each dequantized row (32 dims at a time, so
// the two heads' accumulators fit in registers). head_dim a multiple of 8.
template <typename Rows>
LLMOPT_ATTN_AVX2 void weighted_values_rows(const uint8_t* const* v, const float* const* w, int32_t heads,
                                           int32_t n_past, float* const* out, int32_t hd) {
    int32_t d0 = 0;
    if (heads == 2) {
        for (; d0 + 32 <= hd; d0 += 32) weighted_rows<Rows, 4, 2>(v, w, n_past, d0, out);
        for (; d0 < hd; d0 += 8) weighted_rows<Rows, 1, 2>(v, w, n_past, d0, out);
        return;
    }
    for (; d0 + 64 <= hd; d0 += 64) weighted_rows<Rows, 8, 1>(v, w, n_past, d0, out);
    for (; d0 + 32 <= hd; d0 += 32) weighted_rows<Rows, 4, 1>(v, w, n_past, d0, out);
    for (; d0 < hd; d0 += 8) weighted_rows<Rows, 1, 1>(v, w, n_past, d0, out);
}

// One head, scalar reference: `keys` and `values` are its job's rows (find_rows).
void attend_quantized_scalar(const KvCache& kv, const HeadJob& j, const uint8_t* const* keys,
                             const uint8_t* const* values, float scale, std::vector<float>& scores,
                             std::vector<uint8_t>& q_act, std::vector<float>& v_row) {
    const int32_t hd = kv.shape().head_dim;
    const DType type = kv.type();
    convert_query(type, j.q, hd, q_act.data());
    for (int32_t p = 0; p < j.n_past; ++p)
        scores[p] = scale * kernels::vec_dot(type, hd, keys[p], q_act.data());
    std::fill(scores.begin(), scores.begin() + j.n_masked, -INFINITY);
    kernels::softmax(scores.data(), j.n_past);
    if (type == DType::kF16)
        for (int32_t p = 0; p < j.n_past; ++p) scores[p] = fp16_to_fp32(fp32_to_fp16(scores[p]));
    weighted_values_scalar(type, values, scores.data(), j.n_past, j.out, hd, v_row);
}

// rows[0, 8) (F16, hd each) as floats in out (8 × hd); rows[j] then points at its copy.
LLMOPT_ATTN_AVX2 void widen_f16_rows(const void** rows, int32_t hd, float* out) {
    for (int j = 0; j < 8; ++j) {
        const auto* half = static_cast<const uint16_t*>(rows[j]);
        float* wide = out + size_t(j) * hd;
        int32_t i = 0;
        for (; i + 8 <= hd; i += 8)
            _mm256_storeu_ps(wide + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(half + i))));
        for (; i < hd; ++i) wide[i] = fp16_to_fp32(half[i]);
        rows[j] = wide;
    }
}

// The heads of one KV head, AVX2: each head's scores eight positions at a time (each batch of
// eight key rows read once for the whole group; a score has vec_dot's bits), exp(score - max)
// eight at a time, the probabilities normalized (and rounded to f16 for an F16 cache), then
// the value sums, two heads sharing each dequantized row (paired_value_sums where head_dim is
// a multiple of 32). Buffers: scores (heads, n_past rounded up to 8), q_act (heads converted
// queries of act_bytes each), value_state (heads × head_dim floats).
LLMOPT_ATTN_AVX2 void attend_quantized_avx2(const KvCache& kv, const HeadJob* jobs, int32_t heads,
                                            const uint8_t* const* keys, const uint8_t* const* values,
                                            float scale, std::vector<float>& scores,
                                            std::vector<uint8_t>& q_act, size_t act_bytes,
                                            std::vector<float>& wide_keys, std::vector<float>& v_row,
                                            float* value_state) {
    const int32_t hd = kv.shape().head_dim;
    const DType type = kv.type();
    const int32_t n_past = jobs[0].n_past, padded = (n_past + 7) / 8 * 8, n_masked = jobs[0].n_masked;
    for (int32_t h = 0; h < heads; ++h) convert_query_avx2(type, jobs[h].q, hd, &q_act[h * act_bytes]);
    const __m256 scale_v = _mm256_set1_ps(scale);
    // F16 keys are widened once for the whole group (exactly, so each dot keeps its bits).
    const bool widen = type == DType::kF16 && heads > 1;
    for (int32_t p0 = 0; p0 < n_past; p0 += 8) {
        const void* k[8];
        // Lanes past n_past repeat the last key; exp_scores gives them no weight.
        for (int j = 0; j < 8; ++j) k[j] = keys[std::min(p0 + j, n_past - 1)];
        if (widen) widen_f16_rows(k, hd, wide_keys.data());
        for (int32_t h = 0; h < heads; ++h)
            kernels::vec_dot8(widen ? DType::kF32 : type, hd, k, &q_act[h * act_bytes], &scores[size_t(h) * padded + p0]);
    }
    for (int32_t h = 0; h < heads; ++h) {
        float* s = &scores[size_t(h) * padded];
        for (int32_t p = 0; p < padded; p += 8) _mm256_storeu_ps(s + p, _mm256_mul_ps(_mm256_loadu_ps(s + p), scale_v));
        const __m256 inv_sum = _mm256_set1_ps(1.0f / exp_scores(s, n_past, n_masked));
        for (int32_t p = 0; p < padded; p += 8) {
            __m256 w = _mm256_mul_ps(_mm256_loadu_ps(s + p), inv_sum);
            if (type == DType::kF16) w = _mm256_cvtph_ps(_mm256_cvtps_ph(w, _MM_FROUND_TO_NEAREST_INT));
            _mm256_storeu_ps(s + p, w);
        }
    }
    int32_t h = 0;
    if (hd % 32 == 0 && heads >= 2) {
        const float* w[kMaxHeadGroup];
        float* out[kMaxHeadGroup];
        for (int32_t i = 0; i < heads; ++i) {
            w[i] = &scores[size_t(i) * padded];
            out[i] = jobs[i].out;
        }
        if (type == DType::kF16)
            paired_value_sums<RoundedValues<F16Rows>>(values, w, heads / 2, n_past, hd, nullptr, out, value_state);
        else
            paired_value_sums<RoundedValues<Q8_0Rows>>(values, w, heads / 2, n_past, hd, nullptr, out, value_state);
        h = heads / 2 * 2;
    }
    for (; h < heads; h += 2) {
        const int32_t pair = std::min(2, heads - h);
        const float* w[2] = {&scores[size_t(h) * padded], &scores[size_t(h + pair - 1) * padded]};
        float* out[2] = {jobs[h].out, jobs[h + pair - 1].out};
        if (hd % 8 != 0) {
            for (int32_t i = 0; i < pair; ++i) weighted_values_scalar(type, values, w[i], n_past, out[i], hd, v_row);
        } else if (type == DType::kF16) {
            weighted_values_rows<F16Rows>(values, w, pair, n_past, out, hd);
        } else {
            weighted_values_rows<Q8_0Rows>(values, w, pair, n_past, out, hd);
        }
    }
}

// Scratch of one thread's attention jobs. The pool's threads live as long as the process, so
// the buffers are allocated once and only grow: no allocation per layer or token.
struct AttendBuffers {
    std::vector<float> acc, v_row, scores, wide_keys, value_state;
    std::vector<uint8_t> q_act;
    std::vector<const float*> rows;
    std::vector<const uint8_t*> byte_rows;

    static AttendBuffers& of_this_thread() {
        thread_local AttendBuffers buffers;
        return buffers;
    }
    void fit(size_t head_dim, size_t n_scores, size_t q_act_bytes) {
        auto grow = [](auto& v, size_t n) {
            if (v.size() < n) v.resize(n);
        };
        grow(acc, head_dim);
        grow(value_state, kMaxHeadGroup * head_dim);
        grow(v_row, head_dim);
        grow(wide_keys, 8 * head_dim);
        grow(scores, n_scores);
        grow(q_act, q_act_bytes);
    }
};

}  // namespace

void attend_heads(const KvCache& kv, int32_t layer, const HeadJob* jobs, int32_t heads, float scale,
                  bool simd) {
    const int32_t hd = kv.shape().head_dim;
    const DType type = kv.type();
    const size_t act_bytes = type == DType::kF32 ? 0 : row_bytes(kernels::activation_type(type), hd);
    AttendBuffers& b = AttendBuffers::of_this_thread();
    b.fit(size_t(hd), size_t(heads) * ((jobs[0].n_past + 7) / 8 * 8), size_t(heads) * act_bytes);
    if (type == DType::kF32) {
        if (simd && hd % 8 == 0)
            return attend_f32_avx2(kv, layer, jobs, heads, scale, b.scores, b.rows, b.value_state.data());
        for (int32_t h = 0; h < heads; ++h) attend_f32_scalar(kv, layer, jobs[h], scale, b.acc);
        return;
    }
    const auto [keys, values] = find_rows(kv, layer, jobs[0], b.byte_rows);
    if (simd)
        return attend_quantized_avx2(kv, jobs, heads, keys, values, scale, b.scores, b.q_act, act_bytes,
                                     b.wide_keys, b.v_row, b.value_state.data());
    for (int32_t h = 0; h < heads; ++h)
        attend_quantized_scalar(kv, jobs[h], keys, values, scale, b.scores, b.q_act, b.v_row);
}

}  // namespace llmopt
