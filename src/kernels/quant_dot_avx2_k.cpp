// AVX2 dot products of K-quant super-blocks with Q8_K activations, one or more rows at a time.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <type_traits>

#include "gemm_kernels.h"
#include "quant_avx2.h"
#include "quant_blocks.h"

// Shared shape: per super-block the levels are unpacked to unsigned bytes, multiplied with the
// activation bytes by maddubs (int16 pair sums; at most 2 * 63 * 127, so no saturation),
// weighted by the integer sub-block scales with madd (int32) and summed exactly in integers.
// A level offset (Q3_K's -4, Q6_K's -32) or a min (Q2_K, Q4_K, Q5_K) is applied once per
// super-block through the activation's 16-element sums (bsums). Float rounding is left to the
// scale products and the accumulation over super-blocks.

namespace llmopt::kernels::avx2 {
namespace {

// 8 int8 scales -> int16 in both 128-bit lanes, the table row_scale() picks from.
LLMOPT_AVX2 inline __m256i broadcast_scales(__m128i eight_i8) {
    return _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(eight_i8));
}

// A 32-element row's maddubs result holds the pair sums of elements 0-15 in the low lane and
// 16-31 in the high lane: with scales per 16, row r of a half uses scales 2r and 2r+1.
LLMOPT_AVX2 inline __m256i row_scale(__m256i scales, int row) { return pick_i16(scales, kPickPair[row]); }

// The 16 int16 bsums times 16 int16 weights, as 8 int32 partial sums.
LLMOPT_AVX2 inline __m256i weighted_bsums(const BlockQ8_K& y, __m256i weights) {
    return _mm256_madd_epi16(weights, load256(y.bsums));
}

// One 128-element half of the 2-bit layout (Q2_K, Q3_K): a 32-byte load holds 4 rows of 32,
// row r in bits 2r. With kHighBit (Q3_K) bit 0 of `high` is row r's third bit, and `high` is
// shifted along for the next row. `scales` holds the half's 8 scales.
template <bool kHighBit>
LLMOPT_AVX2 inline __m256i dot_2bit_half(__m256i qs, __m256i* high, const int8_t* a, __m256i scales) {
    const __m256i three = _mm256_set1_epi8(3);
    const __m256i one = _mm256_set1_epi8(1);
    __m256i sum = _mm256_setzero_si256();
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r) {
        __m256i q = _mm256_and_si256(qs, three);
        if constexpr (kHighBit) {
            q = _mm256_or_si256(q, _mm256_slli_epi16(_mm256_and_si256(*high, one), 2));
            *high = _mm256_srli_epi16(*high, 1);
        }
        qs = _mm256_srli_epi16(qs, 2);
        const __m256i p = _mm256_maddubs_epi16(q, load256(a + 32 * r));
        sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p, row_scale(scales, r)));
    }
    return sum;
}

// Q4_K / Q5_K scales and mins (see unpack_scale_min_k4) four at a time in 32-bit words:
// bytes 0-7 of the result are the 8 scales, bytes 8-15 the 8 mins.
LLMOPT_AVX2 inline __m128i unpack_scales_mins_k4(const uint8_t* packed) {
    uint32_t s[3];
    std::memcpy(s, packed, sizeof s);
    const uint32_t low6 = 0x3F3F3F3F, low4 = 0x0F0F0F0F, low2 = 0x03030303;
    const uint32_t scales_lo = s[0] & low6;
    const uint32_t mins_lo = s[1] & low6;
    const uint32_t scales_hi = (s[2] & low4) | (((s[0] >> 6) & low2) << 4);
    const uint32_t mins_hi = ((s[2] >> 4) & low4) | (((s[1] >> 6) & low2) << 4);
    return _mm_set_epi32(static_cast<int>(mins_hi), static_cast<int>(mins_lo),
                         static_cast<int>(scales_hi), static_cast<int>(scales_lo));
}

// The float steps of one Q4_K / Q5_K output, a super-block at a time, from its exact integers
// isum = sum(scale * dot) and imin = sum(min * bsum) held as 8 int32 lanes:
//  LaneChain (Q5_K): lane-wise acc = fma(d_a * d, float(isum), acc), and acc_min likewise with
//   dmin and imin, the lanes summed at the end: llama.cpp's chain, so its logits to rounding;
//  ScalarChain (Q4_K): the lanes summed per super-block first, one scalar chain, which the
//   regrouped kernel (gemm_rowgroups8_k_tiles.h), one row per lane, follows bit for bit.
struct LaneChain {
    __m256 acc{}, acc_min{};
    LLMOPT_AVX2 void add(float d, float dmin, __m256i isum, __m256i imin) {
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(isum), acc);
        acc_min = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(imin), acc_min);
    }
    LLMOPT_AVX2 float result() const { return hsum(acc) - hsum(acc_min); }
};
struct ScalarChain {
    float acc = 0, acc_min = 0;
    LLMOPT_AVX2 void add(float d, float dmin, __m256i isum, __m256i imin) {
        acc = std::fma(d, float(hsum_i32(isum)), acc);
        acc_min = std::fma(dmin, float(hsum_i32(imin)), acc_min);
    }
    LLMOPT_AVX2 float result() const { return acc - acc_min; }
};

// Q4_K and Q5_K: 4 chunks of 64 elements, each a 32-byte load of nibbles (low: sub-block 2k,
// high: 2k+1); `fifth` (Q5_K) is the qh bytes, bit 2k / 2k+1 giving the 5th bit.
// kRows weight rows w[i] against kActs activation rows y[j] (out[i * kActs + j]): each weight
// chunk is unpacked once and meets every activation, each activation chunk every row, with
// exactly the operations of the one-row, one-activation dot, so each result equals vec_dot's
// (the matmul's batches rely on it). Two rows for one activation give the core two
// independent chains to overlap. With `next` (the kRows rows after these, which follow them
// in memory), their bytes are prefetched, a super-block's worth per super-block.
template <bool kFifthBit, int kRows, int kActs>
LLMOPT_AVX2 inline void dot_q45_k(int64_t n, const uint8_t* const* w, size_t block_bytes,
                                  const BlockQ8_K* const* y, float* out,
                                  const uint8_t* next = nullptr) {
    std::conditional_t<kFifthBit, LaneChain, ScalarChain> chain[kRows][kActs];
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    const __m256i one = _mm256_set1_epi8(1);
    for (int64_t b = 0; b < n / kQK_K; ++b) {
        if (next) prefetch_span(next + b * kRows * block_bytes, kRows * block_bytes);
        const uint8_t* qs[kRows];
        __m256i mins[kRows], scales[kRows], high[kRows], isum[kRows][kActs];
#pragma GCC unroll 2
        for (int i = 0; i < kRows; ++i) {
            // Q4_K and Q5_K agree on d, dmin and scales (bytes 0-15); qs follow qh in Q5_K.
            const uint8_t* block = w[i] + b * block_bytes;
            qs[i] = kFifthBit ? block + offsetof(BlockQ5_K, qs) : block + offsetof(BlockQ4_K, qs);
            const __m128i sm =
                unpack_scales_mins_k4(reinterpret_cast<const BlockQ4_K*>(block)->scales);
            // Each min covers two 16-element bsums: duplicate the min bytes, then widen.
            mins[i] = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(sm, sm));
            scales[i] = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));
            high[i] = kFifthBit ? load256(block + offsetof(BlockQ5_K, qh)) : _mm256_setzero_si256();
            for (int j = 0; j < kActs; ++j) isum[i][j] = _mm256_setzero_si256();
        }
#pragma GCC unroll 4
        for (int k = 0; k < 4; ++k) {
#pragma GCC unroll 2
            for (int i = 0; i < kRows; ++i) {
                const __m256i q = load256(qs[i] + 32 * k);
                __m256i lo = _mm256_and_si256(q, low4);
                __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
                if constexpr (kFifthBit) {
                    lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(high[i], one), 4));
                    hi = _mm256_or_si256(
                        hi,
                        _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(high[i], 1), one), 4));
                    high[i] = _mm256_srli_epi16(high[i], 2);
                }
                const __m256i scale_lo = pick_i16(scales[i], kPickBoth[2 * k]);
                const __m256i scale_hi = pick_i16(scales[i], kPickBoth[2 * k + 1]);
#pragma GCC unroll 4
                for (int j = 0; j < kActs; ++j) {
                    const __m256i p_lo = _mm256_maddubs_epi16(lo, load256(y[j][b].qs + 64 * k));
                    const __m256i p_hi =
                        _mm256_maddubs_epi16(hi, load256(y[j][b].qs + 64 * k + 32));
                    isum[i][j] = _mm256_add_epi32(isum[i][j], _mm256_madd_epi16(p_lo, scale_lo));
                    isum[i][j] = _mm256_add_epi32(isum[i][j], _mm256_madd_epi16(p_hi, scale_hi));
                }
            }
        }
#pragma GCC unroll 2
        for (int i = 0; i < kRows; ++i) {
            const auto& head = *reinterpret_cast<const BlockQ4_K*>(w[i] + b * block_bytes);
            const float d_w = half_to_float(head.d), dmin_w = half_to_float(head.dmin);
#pragma GCC unroll 4
            for (int j = 0; j < kActs; ++j) {
                chain[i][j].add(y[j][b].d * d_w, y[j][b].d * dmin_w, isum[i][j],
                                weighted_bsums(y[j][b], mins[i]));
            }
        }
    }
    for (int i = 0; i < kRows; ++i)
        for (int j = 0; j < kActs; ++j) out[i * kActs + j] = chain[i][j].result();
}

// Q6_K, one weight row against kActs activation rows (as dot_q45_k, `next` the row after). Each
// super-block's exact integer sum enters one scalar chain, as in the regrouped kernel
// (gemm_rowgroups8_k_tiles.h), which follows it bit for bit.
template <int kActs>
LLMOPT_AVX2 inline void dot_q6_k_rows(int64_t n, const BlockQ6_K* x, const BlockQ8_K* const* y,
                                      float* out, const uint8_t* next = nullptr) {
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    const __m256i three = _mm256_set1_epi8(3);
    float acc[kActs] = {};
    for (int64_t b = 0; b < n / kQK_K; ++b) {
        if (next) prefetch_span(next + b * sizeof(BlockQ6_K), sizeof(BlockQ6_K));
        const __m128i scales = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].scales));
        const __m256i scales16 = _mm256_cvtepi8_epi16(scales);
        // Levels are stored +32: dot the unsigned 0 ... 63 and take 32 * sum(scale * bsum) off.
        __m256i isum[kActs];
#pragma GCC unroll 4
        for (int j = 0; j < kActs; ++j)
            isum[j] = _mm256_sub_epi32(_mm256_setzero_si256(),
                                       _mm256_slli_epi32(weighted_bsums(y[j][b], scales16), 5));
        for (int h = 0; h < 2; ++h) {
            const __m256i ql0 = load256(x[b].ql + 64 * h);
            const __m256i ql1 = load256(x[b].ql + 64 * h + 32);
            const __m256i qh = load256(x[b].qh + 32 * h);
            // Rows 0-3 of the half: nibbles of ql[l], ql[l+32], ql[l]>>4, ql[l+32]>>4 with
            // the 2-bit fields of qh[l] from the bottom up.
            const __m256i q[4] = {
                _mm256_or_si256(_mm256_and_si256(ql0, low4),
                                _mm256_slli_epi16(_mm256_and_si256(qh, three), 4)),
                _mm256_or_si256(
                    _mm256_and_si256(ql1, low4),
                    _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), three), 4)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4),
                                _mm256_and_si256(qh, _mm256_set1_epi8(0x30))),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4),
                                _mm256_and_si256(_mm256_srli_epi16(qh, 2), _mm256_set1_epi8(0x30))),
            };
            const __m256i half_scales = h == 0
                                            ? broadcast_scales(scales)
                                            : broadcast_scales(_mm_unpackhi_epi64(scales, scales));
#pragma GCC unroll 4
            for (int r = 0; r < 4; ++r) {
                const __m256i s = row_scale(half_scales, r);
#pragma GCC unroll 4
                for (int j = 0; j < kActs; ++j) {
                    const __m256i p =
                        _mm256_maddubs_epi16(q[r], load256(y[j][b].qs + 128 * h + 32 * r));
                    isum[j] = _mm256_add_epi32(isum[j], _mm256_madd_epi16(p, s));
                }
            }
        }
        const float d_w = half_to_float(x[b].d);
#pragma GCC unroll 4
        for (int j = 0; j < kActs; ++j)
            acc[j] = std::fma(y[j][b].d * d_w, float(hsum_i32(isum[j])), acc[j]);
    }
    for (int j = 0; j < kActs; ++j) out[j] = acc[j];
}

}  // namespace

LLMOPT_AVX2 float dot_q2_k(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ2_K*>(w);
    const auto* y = static_cast<const BlockQ8_K*>(a);
    const __m128i low4 = _mm_set1_epi8(0x0F);
    __m256 acc = _mm256_setzero_ps();
    __m256 acc_min = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / kQK_K; ++b) {
        // Scale byte: low nibble the sub-block scale, high nibble its min, per 16 elements.
        const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].scales));
        const __m128i scales = _mm_and_si128(packed, low4);
        const __m256i imin = weighted_bsums(y[b], _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), low4)));
        __m256i isum = dot_2bit_half<false>(load256(x[b].qs), nullptr, y[b].qs, broadcast_scales(scales));
        isum = _mm256_add_epi32(isum, dot_2bit_half<false>(load256(x[b].qs + 32), nullptr, y[b].qs + 128,
                                                    broadcast_scales(_mm_unpackhi_epi64(scales, scales))));
        const float d = y[b].d * half_to_float(x[b].d);
        const float dmin = y[b].d * half_to_float(x[b].dmin);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(isum), acc);
        acc_min = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(imin), acc_min);
    }
    return hsum(acc) - hsum(acc_min);
}

LLMOPT_AVX2 float dot_q3_k(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ3_K*>(w);
    const auto* y = static_cast<const BlockQ8_K*>(a);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / kQK_K; ++b) {
        // 16 six-bit scales (see q3k_scale), four at a time in 32-bit words.
        uint32_t s[3];
        std::memcpy(s, x[b].scales, sizeof s);
        const uint32_t low4 = 0x0F0F0F0F, low2 = 0x03030303;
        const __m128i biased = _mm_set_epi32(
            static_cast<int>(((s[1] >> 4) & low4) | (((s[2] >> 6) & low2) << 4)),
            static_cast<int>(((s[0] >> 4) & low4) | (((s[2] >> 4) & low2) << 4)),
            static_cast<int>((s[1] & low4) | (((s[2] >> 2) & low2) << 4)),
            static_cast<int>((s[0] & low4) | ((s[2] & low2) << 4)));
        const __m128i scales = _mm_sub_epi8(biased, _mm_set1_epi8(32));

        // A level is low2 + 4 * high - 4: dot the unsigned low2 + 4 * high (0 ... 7) and take
        // 4 * sum(scale * bsum) off. Row r of half h has its high bit at bit 4h + r of hmask.
        __m256i high = load256(x[b].hmask);
        __m256i isum = _mm256_slli_epi32(weighted_bsums(y[b], _mm256_cvtepi8_epi16(scales)), 2);
        isum = _mm256_sub_epi32(dot_2bit_half<true>(load256(x[b].qs), &high, y[b].qs, broadcast_scales(scales)), isum);
        isum = _mm256_add_epi32(isum, dot_2bit_half<true>(load256(x[b].qs + 32), &high, y[b].qs + 128,
                                                          broadcast_scales(_mm_unpackhi_epi64(scales, scales))));
        const float d = y[b].d * half_to_float(x[b].d);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(isum), acc);
    }
    return hsum(acc);
}

LLMOPT_AVX2 float dot_q4_k(int64_t n, const void* w, const void* a) {
    const auto* y = static_cast<const BlockQ8_K*>(a);
    const auto* x = static_cast<const uint8_t*>(w);
    float out;
    dot_q45_k<false, 1, 1>(n, &x, sizeof(BlockQ4_K), &y, &out);
    return out;
}

LLMOPT_AVX2 float dot_q5_k(int64_t n, const void* w, const void* a) {
    const auto* y = static_cast<const BlockQ8_K*>(a);
    const auto* x = static_cast<const uint8_t*>(w);
    float out;
    dot_q45_k<true, 1, 1>(n, &x, sizeof(BlockQ5_K), &y, &out);
    return out;
}

LLMOPT_AVX2 float dot_q6_k(int64_t n, const void* w, const void* a) {
    const auto* y = static_cast<const BlockQ8_K*>(a);
    float out;
    dot_q6_k_rows<1>(n, static_cast<const BlockQ6_K*>(w), &y, &out);
    return out;
}

// The matmul's K-quant kernels: each weight row meets the activation rows 4 at a time.
namespace {

// dot(row, activation) for `rows` weight rows (1, or 2 with one activation) and `acts`
// activation rows (1 ... 4): out[i * acts + j]; prefetching `next` (the rows after) if set.
using MultiDotFn = void (*)(int64_t n, const uint8_t* const* w, int rows, const BlockQ8_K* const* y,
                            int acts, float* out, const uint8_t* next);

// Batches are blocked for the caches: a block of 32 weight rows (at most 32 x 6.6 KB, which
// stays in L2) meets the activations 8 rows at a time (at most 8 x 7.3 KB, near L1), instead
// of every row streaming all activations from L2 again.
constexpr int64_t kRowBlock = 32;
constexpr int64_t kActChunk = 8;

template <MultiDotFn kDot>
LLMOPT_AVX2 void rows_k(const WeightMatrix& w, const gemm::Activations& a, int64_t r_begin,
                        int64_t r_end, float* y) {
    const BlockQ8_K* acts[4];
    float out[4];
    const size_t stride = w.row_stride();
    if (a.n == 1) {
        // Decode: two rows at a time (two independent chains), prefetching the next two.
        acts[0] = reinterpret_cast<const BlockQ8_K*>(a.row(0));
        for (int64_t r = r_begin; r < r_end; r += 2) {
            const uint8_t* rows[2] = {w.data + r * stride, w.data + (r + 1) * stride};
            kDot(w.cols, rows, r + 1 < r_end ? 2 : 1, acts, 1, out, rows[0] + 2 * stride);
            y[r] = out[0];
            if (r + 1 < r_end) y[r + 1] = out[1];
        }
        return;
    }
    for (int64_t r0 = r_begin; r0 < r_end; r0 += kRowBlock) {
        const int64_t r1 = std::min(r_end, r0 + kRowBlock);
        for (int64_t t0 = 0; t0 < a.n; t0 += kActChunk) {
            const int64_t t1 = std::min(a.n, t0 + kActChunk);
            for (int64_t r = r0; r < r1; ++r) {
                const uint8_t* row = w.data + r * stride;
                for (int64_t t = t0; t < t1; t += 4) {
                    const int count = static_cast<int>(std::min<int64_t>(4, t1 - t));
                    for (int j = 0; j < count; ++j)
                        acts[j] = reinterpret_cast<const BlockQ8_K*>(a.row(t + j));
                    // The first pass over a row brings it in: prefetch the row after it.
                    kDot(w.cols, &row, 1, acts, count, out, t == 0 ? row + stride : nullptr);
                    for (int j = 0; j < count; ++j) y[(t + j) * w.rows + r] = out[j];
                }
            }
        }
    }
}

template <bool kFifthBit>
LLMOPT_AVX2 void dot_q45_k_multi(int64_t n, const uint8_t* const* w, int rows,
                                 const BlockQ8_K* const* y, int acts, float* out,
                                 const uint8_t* next) {
    constexpr size_t kBytes = kFifthBit ? sizeof(BlockQ5_K) : sizeof(BlockQ4_K);
    if (rows == 2) return dot_q45_k<kFifthBit, 2, 1>(n, w, kBytes, y, out, next);
    switch (acts) {
        case 4:
            return dot_q45_k<kFifthBit, 1, 4>(n, w, kBytes, y, out, next);
        case 3:
            return dot_q45_k<kFifthBit, 1, 3>(n, w, kBytes, y, out, next);
        case 2:
            return dot_q45_k<kFifthBit, 1, 2>(n, w, kBytes, y, out, next);
        default:
            return dot_q45_k<kFifthBit, 1, 1>(n, w, kBytes, y, out, next);
    }
}

LLMOPT_AVX2 void dot_q6_k_multi(int64_t n, const uint8_t* const* w, int rows,
                                const BlockQ8_K* const* y, int acts, float* out,
                                const uint8_t* next) {
    // The rows are adjacent, and so are the `rows` rows at `next`: row i prefetches row i there.
    for (int i = 0; i < rows; ++i) {
        const auto* x = reinterpret_cast<const BlockQ6_K*>(w[i]);
        const uint8_t* after = next ? next + i * (n / kQK_K) * sizeof(BlockQ6_K) : nullptr;
        switch (acts) {
            case 4:
                dot_q6_k_rows<4>(n, x, y, out + i * acts, after);
                break;
            case 3:
                dot_q6_k_rows<3>(n, x, y, out + i * acts, after);
                break;
            case 2:
                dot_q6_k_rows<2>(n, x, y, out + i * acts, after);
                break;
            default:
                dot_q6_k_rows<1>(n, x, y, out + i * acts, after);
                break;
        }
    }
}

}  // namespace

}  // namespace llmopt::kernels::avx2

namespace llmopt::kernels::gemm::avx2 {

LLMOPT_AVX2 void rows_q4_k(const WeightMatrix& w, const Activations& a, int64_t r_begin,
                           int64_t r_end, float* y, void*) {
    kernels::avx2::rows_k<kernels::avx2::dot_q45_k_multi<false>>(w, a, r_begin, r_end, y);
}

LLMOPT_AVX2 void rows_q5_k(const WeightMatrix& w, const Activations& a, int64_t r_begin,
                           int64_t r_end, float* y, void*) {
    kernels::avx2::rows_k<kernels::avx2::dot_q45_k_multi<true>>(w, a, r_begin, r_end, y);
}

LLMOPT_AVX2 void rows_q6_k(const WeightMatrix& w, const Activations& a, int64_t r_begin,
                           int64_t r_end, float* y, void*) {
    kernels::avx2::rows_k<kernels::avx2::dot_q6_k_multi>(w, a, r_begin, r_end, y);
}

}  // namespace llmopt::kernels::gemm::avx2
