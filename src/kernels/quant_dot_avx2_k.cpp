// AVX2 dot products of the K-quant super-blocks (Q2_K ... Q6_K) with Q8_K activations.
#include <cstddef>
#include <cstring>

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

// Q4_K and Q5_K: 4 chunks of 64 elements, each a 32-byte load of nibbles (low: sub-block 2k,
// high: 2k+1); `fifth` (Q5_K) is the qh bytes, bit 2k / 2k+1 giving the 5th bit.
template <bool kFifthBit>
LLMOPT_AVX2 inline float dot_q45_k(int64_t n, const uint8_t* w, size_t block_bytes,
                                   const BlockQ8_K* y) {
    __m256 acc = _mm256_setzero_ps();
    __m256 acc_min = _mm256_setzero_ps();
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    const __m256i one = _mm256_set1_epi8(1);
    for (int64_t b = 0; b < n / kQK_K; ++b, w += block_bytes) {
        // Q4_K and Q5_K agree on d, dmin and scales (bytes 0-15); qs follow qh in Q5_K.
        const auto& head = *reinterpret_cast<const BlockQ4_K*>(w);
        const uint8_t* qs = kFifthBit ? w + offsetof(BlockQ5_K, qs) : w + offsetof(BlockQ4_K, qs);
        const __m128i sm = unpack_scales_mins_k4(head.scales);
        // Each min covers two 16-element bsums: duplicate the min bytes, then widen.
        const __m256i imin = weighted_bsums(y[b], _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(sm, sm)));
        const __m256i scales = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));

        __m256i high = kFifthBit ? load256(w + offsetof(BlockQ5_K, qh)) : _mm256_setzero_si256();
        __m256i isum = _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int k = 0; k < 4; ++k) {
            const __m256i q = load256(qs + 32 * k);
            __m256i lo = _mm256_and_si256(q, low4);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
            if constexpr (kFifthBit) {
                lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(high, one), 4));
                hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(high, 1), one), 4));
                high = _mm256_srli_epi16(high, 2);
            }
            const __m256i p_lo = _mm256_maddubs_epi16(lo, load256(y[b].qs + 64 * k));
            const __m256i p_hi = _mm256_maddubs_epi16(hi, load256(y[b].qs + 64 * k + 32));
            isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p_lo, pick_i16(scales, kPickBoth[2 * k])));
            isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p_hi, pick_i16(scales, kPickBoth[2 * k + 1])));
        }
        const float d = y[b].d * half_to_float(head.d);
        const float dmin = y[b].d * half_to_float(head.dmin);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(isum), acc);
        acc_min = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(imin), acc_min);
    }
    return hsum(acc) - hsum(acc_min);
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
    return dot_q45_k<false>(n, static_cast<const uint8_t*>(w), sizeof(BlockQ4_K), static_cast<const BlockQ8_K*>(a));
}

LLMOPT_AVX2 float dot_q5_k(int64_t n, const void* w, const void* a) {
    return dot_q45_k<true>(n, static_cast<const uint8_t*>(w), sizeof(BlockQ5_K), static_cast<const BlockQ8_K*>(a));
}

LLMOPT_AVX2 float dot_q6_k(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const BlockQ6_K*>(w);
    const auto* y = static_cast<const BlockQ8_K*>(a);
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    const __m256i three = _mm256_set1_epi8(3);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / kQK_K; ++b) {
        const __m128i scales = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].scales));
        // Levels are stored +32: dot the unsigned 0 ... 63 and take 32 * sum(scale * bsum) off.
        __m256i isum = _mm256_sub_epi32(_mm256_setzero_si256(),
                                        _mm256_slli_epi32(weighted_bsums(y[b], _mm256_cvtepi8_epi16(scales)), 5));
        for (int h = 0; h < 2; ++h) {
            const __m256i ql0 = load256(x[b].ql + 64 * h);
            const __m256i ql1 = load256(x[b].ql + 64 * h + 32);
            const __m256i qh = load256(x[b].qh + 32 * h);
            // Rows 0-3 of the half: nibbles of ql[l], ql[l+32], ql[l]>>4, ql[l+32]>>4 with
            // the 2-bit fields of qh[l] from the bottom up.
            const __m256i q[4] = {
                _mm256_or_si256(_mm256_and_si256(ql0, low4), _mm256_slli_epi16(_mm256_and_si256(qh, three), 4)),
                _mm256_or_si256(_mm256_and_si256(ql1, low4),
                                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), three), 4)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4),
                                _mm256_and_si256(qh, _mm256_set1_epi8(0x30))),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4),
                                _mm256_and_si256(_mm256_srli_epi16(qh, 2), _mm256_set1_epi8(0x30))),
            };
            const __m256i half_scales = h == 0 ? broadcast_scales(scales)
                                               : broadcast_scales(_mm_unpackhi_epi64(scales, scales));
            const int8_t* act = y[b].qs + 128 * h;
#pragma GCC unroll 4
            for (int r = 0; r < 4; ++r) {
                const __m256i p = _mm256_maddubs_epi16(q[r], load256(act + 32 * r));
                isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, row_scale(half_scales, r)));
            }
        }
        const float d = y[b].d * half_to_float(x[b].d);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(isum), acc);
    }
    return hsum(acc);
}

}  // namespace llmopt::kernels::avx2
