// Private: the tiles of the kRowGroups8 Q4_K and Q6_K kernels, compiled once per instruction
// set, with gemm_rowgroups8_tiles.h, whose LLMOPT_ROWGROUPS8_TARGET, kWithVnni and helpers it
// uses.
//
// As for Q4_0, a 32-byte load of quants holds 4 bytes of each of the 8 rows, row i in 32-bit
// lane i, and each row's sums stay in its lane. Piece 8 c + k holds in its low nibbles elements
// 64 c + 4 k ... + 3 (sub-block 2 c) and in its high nibbles the same 32 further on (sub-block
// 2 c + 1). A sub-block's 8 pieces are summed, then multiplied by the 8 rows' scales for it:
//  AVX2: maddubs pair sums added in int16 (8 x 2 x 15 x 128 = 30720 fits), then madd with the
//   scale in both int16 halves of each lane gives scale x the lane's sum in int32;
//  VNNI: vpdpbusd sums in int32, then vpmulld by the scale.
// The mins: imin = sum_j min_j (bsum_2j + bsum_2j+1), by madd (vpdpwssd) of the min in both
// halves of a lane with the activation's two 16-element sums of sub-block j, broadcast.
// Both give the exact integers of rows_q4_k's chain, so the same outputs bit for bit.
#pragma once

#include "gemm_rowgroups8_tiles.h"

namespace llmopt::kernels::gemm::avx2 {
namespace {

// vpshufb indices taking byte j of every 32-bit lane into the low byte of both int16 halves
// (kBoth) or of the lane alone: the lane's value zero-extended.
constexpr ShuffleIndex make_lane_byte(int j, bool both) {
    ShuffleIndex t{};
    for (int lane = 0; lane < 8; ++lane) {
        const auto source = static_cast<uint8_t>(4 * (lane % 4) + j);
        t.bytes[4 * lane] = source;
        t.bytes[4 * lane + 1] = 0x80;
        t.bytes[4 * lane + 2] = both ? source : 0x80;
        t.bytes[4 * lane + 3] = 0x80;
    }
    return t;
}
inline constexpr ShuffleIndex kLaneByte[4] = {make_lane_byte(0, false), make_lane_byte(1, false),
                                              make_lane_byte(2, false), make_lane_byte(3, false)};
inline constexpr ShuffleIndex kLaneByteBoth[4] = {make_lane_byte(0, true), make_lane_byte(1, true),
                                                  make_lane_byte(2, true), make_lane_byte(3, true)};

// A super-block's scales, mins and float scales of the 8 rows: byte j of lane i of `scales[h]`
// is row i's scale of sub-block 4 h + j (the word-wise unpacking of unpack_scale_min_k4).
struct Q4_KHead {
    __m256i scales[2], mins[2];
    __m256 d, dmin;
};

// The top 2 bits of every byte, moved to bits 4 and 5.
LLMOPT_ROWGROUPS8_TARGET inline __m256i top2(__m256i s) {
    return _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(s, 6), _mm256_set1_epi8(0x03)), 4);
}

LLMOPT_ROWGROUPS8_TARGET inline Q4_KHead unpack_q4_k_head(const uint8_t* group) {
    const __m256i s0 = load256(group + kQ4_KScales);
    const __m256i s1 = load256(group + kQ4_KScales + 32);
    const __m256i s2 = load256(group + kQ4_KScales + 64);
    const __m256i low6 = _mm256_set1_epi8(0x3F), low4 = _mm256_set1_epi8(0x0F);
    Q4_KHead h;
    h.scales[0] = _mm256_and_si256(s0, low6);
    h.mins[0] = _mm256_and_si256(s1, low6);
    h.scales[1] = _mm256_or_si256(_mm256_and_si256(s2, low4), top2(s0));
    h.mins[1] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(s2, 4), low4), top2(s1));
    h.d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(group + kQ4_KD)));
    h.dmin = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(group + kQ4_KDmin)));
    return h;
}

// Activation rows t0 ... t0 + kActs - 1 against the 8 rows of group r / 8.
template <int kActs, bool kNextGroup>
LLMOPT_ROWGROUPS8_TARGET void q4_k_tile(const WeightMatrix& w, const Activations& a, int64_t t0,
                                        int64_t r, float* y) {
    const __m256i mask = _mm256_set1_epi8(0x0F);
    const int64_t blocks = w.cols / kQK_K;
    const uint8_t* group = w.data + r * w.row_stride();  // r is the group's first row
    const BlockQ8_K* x[kActs];
    for (int t = 0; t < kActs; ++t) x[t] = reinterpret_cast<const BlockQ8_K*>(a.row(t0 + t));
    __m256 acc[kActs], acc_min[kActs];
    for (int t = 0; t < kActs; ++t) acc[t] = acc_min[t] = _mm256_setzero_ps();
    // One super-block ahead: measured faster than two (the Q4_0 distance) or none, except on
    // the machines where prefetch_bytes goes further (Zen 1 and Zen 5).
    const WeightRequests<kNextGroup> requests(
        w, prefetch_bytes({kQ4_KGroupBytes, kQ4_KGroupBytes, 4 * kQ4_KGroupBytes, 8192}));
    for (int64_t b = 0; b < blocks; ++b, group += kQ4_KGroupBytes) {
        const Q4_KHead h = unpack_q4_k_head(group);
        __m256i isum[kActs], imin[kActs];
        for (int t = 0; t < kActs; ++t) isum[t] = imin[t] = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int j = 0; j < 8; ++j) {
            requests.template issue<kQ4_KGroupBytes, 8>(group, j);
            __m256i s[kActs];
            for (auto& v : s) v = _mm256_setzero_si256();
            // As in Q4_0Dots: the first row's chunks spread from its two 16-byte halves.
            const __m256i first_lo = spread_source(x[0][b].qs + 32 * j),
                          first_hi = spread_source(x[0][b].qs + 32 * j + 16);
#pragma GCC unroll 8
            for (int k = 0; k < 8; ++k) {
                const __m256i raw = load256(group + 32 * (8 * (j / 2) + k));
                const __m256i q = _mm256_and_si256(j % 2 ? _mm256_srli_epi16(raw, 4) : raw, mask);
#pragma GCC unroll 4
                for (int t = 0; t < kActs; ++t) {
                    const __m256i act = activation_chunk(t, k < 4 ? first_lo : first_hi, k % 4,
                                                         x[t][b].qs + 32 * j + 4 * k);
                    if constexpr (kWithVnni)
                        s[t] = LLMOPT_ROWGROUPS8_DPBUSD(s[t], q, act);
                    else
                        s[t] = _mm256_add_epi16(s[t], _mm256_maddubs_epi16(q, act));
                    keep(s[t]);
                }
            }
            const __m256i table = h.scales[j / 4];
#pragma GCC unroll 4
            for (int t = 0; t < kActs; ++t) {
                if constexpr (kWithVnni)
                    isum[t] = _mm256_add_epi32(
                        isum[t], _mm256_mullo_epi32(s[t], pick_i16(table, kLaneByte[j % 4])));
                else
                    isum[t] = _mm256_add_epi32(
                        isum[t], _mm256_madd_epi16(s[t], pick_i16(table, kLaneByteBoth[j % 4])));
            }
        }
#pragma GCC unroll 8
        for (int j = 0; j < 8; ++j) {
            const __m256i m = pick_i16(h.mins[j / 4], kLaneByteBoth[j % 4]);
#pragma GCC unroll 4
            for (int t = 0; t < kActs; ++t) {
                const __m256i bsums =
                    broadcast4(reinterpret_cast<const int8_t*>(x[t][b].bsums + 2 * j));
                if constexpr (kWithVnni)
                    imin[t] = LLMOPT_ROWGROUPS8_DPWSSD(imin[t], m, bsums);
                else
                    imin[t] = _mm256_add_epi32(imin[t], _mm256_madd_epi16(m, bsums));
            }
        }
#pragma GCC unroll 4
        for (int t = 0; t < kActs; ++t) {
            const __m256 d_a = _mm256_set1_ps(x[t][b].d);
            acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(h.d, d_a), _mm256_cvtepi32_ps(isum[t]), acc[t]);
            acc_min[t] = _mm256_fmadd_ps(_mm256_mul_ps(h.dmin, d_a), _mm256_cvtepi32_ps(imin[t]),
                                         acc_min[t]);
        }
    }
    for (int t = 0; t < kActs; ++t)
        _mm256_storeu_ps(y + (t0 + t) * w.rows + r, _mm256_sub_ps(acc[t], acc_min[t]));
}

struct Q4_KTile {
    template <int kActs, bool kNextGroup>
    LLMOPT_ROWGROUPS8_TARGET static void run(const WeightMatrix& w, const Activations& a,
                                             int64_t t0, int64_t r, float* y) {
        q4_k_tile<kActs, kNextGroup>(w, a, t0, r, y);
    }
};

// vpshufb indices filling the 4 bytes of every 32-bit lane with the lane's bytes b0 ... b3
// (-1: zero).
constexpr ShuffleIndex make_lane_bytes(int b0, int b1, int b2, int b3) {
    ShuffleIndex t{};
    const int source[4] = {b0, b1, b2, b3};
    for (int lane = 0; lane < 8; ++lane)
        for (int k = 0; k < 4; ++k)
            t.bytes[4 * lane + k] =
                source[k] < 0 ? 0x80 : static_cast<uint8_t>(4 * (lane % 4) + source[k]);
    return t;
}
// Into the high bytes of int16 halves or of the lane, for an arithmetic shift to sign-extend:
// byte j of the lane in both int16 halves, alone as int32, or bytes 2m and 2m + 1 as two int16.
inline constexpr ShuffleIndex kSignedBoth[4] = {
    make_lane_bytes(-1, 0, -1, 0), make_lane_bytes(-1, 1, -1, 1), make_lane_bytes(-1, 2, -1, 2),
    make_lane_bytes(-1, 3, -1, 3)};
inline constexpr ShuffleIndex kSigned32[4] = {
    make_lane_bytes(-1, -1, -1, 0), make_lane_bytes(-1, -1, -1, 1), make_lane_bytes(-1, -1, -1, 2),
    make_lane_bytes(-1, -1, -1, 3)};
inline constexpr ShuffleIndex kSignedPair[2] = {make_lane_bytes(-1, 0, -1, 1),
                                                make_lane_bytes(-1, 2, -1, 3)};

// Q6_K: sub-block s (16 elements) of the 8 rows has its int8 scales in byte s % 4 of word s / 4.
// Element 128 h + 32 q + e (quarter q of half h) is the low (q < 2) or high nibble of ql piece
// 16 h + 8 (q % 2) + e / 4 and bits 2q, 2q + 1 of qh piece 8 h + e / 4: a level 0 ... 63 that
// stands for level - 32, taken off at once as 32 sum(scale * bsum). Level pieces meet the
// activations as for Q4_K; with AVX2 the int16 sums of 2 pieces fit (2 x 2 x 63 x 128 = 32256),
// not of 4, so a sub-block's scale is applied per pair of pieces.

// Sub-block sub's scale as one int32 per row, from the 32 bytes of scales that hold it.
LLMOPT_ROWGROUPS8_TARGET inline __m256i q6_k_scale32(__m256i words, int sub) {
    return _mm256_srai_epi32(pick_i16(words, kSigned32[sub % 4]), 24);
}

// The levels (0 ... 63) of quarter q from its ql piece (low nibbles for q < 2, high ones
// after) and its qh piece (bits 2q, 2q + 1).
LLMOPT_ROWGROUPS8_TARGET inline __m256i q6_k_level(__m256i ql, __m256i qh, int q) {
    const __m256i low4 = _mm256_set1_epi8(0x0F), bits45 = _mm256_set1_epi8(0x30);
    const __m256i lo = _mm256_and_si256(q < 2 ? ql : _mm256_srli_epi16(ql, 4), low4);
    const __m256i hi_shifted = q == 0   ? _mm256_slli_epi16(qh, 4)
                               : q == 1 ? _mm256_slli_epi16(qh, 2)
                               : q == 2 ? qh
                                        : _mm256_srli_epi16(qh, 2);
    return _mm256_or_si256(lo, _mm256_and_si256(hi_shifted, bits45));
}

// One activation row with VNNI: the level sums of one super-block, added to isum. Each 32-byte
// load serves every quarter it holds: the ql piece of e with the one 8 further (quarters 0-3
// of half h as low and high nibbles) and the qh piece of e, instead of one load of each per
// quarter, and a quarter's activation bytes come broadcast from memory. Four sub-blocks (one
// per quarter) are summed at once, each in its own register, and scaled as the tile's are:
// integer sums, so the result is the same to the bit.
template <typename Requests>
LLMOPT_ROWGROUPS8_TARGET inline void q6_k_levels_one_row(const Requests& requests,
                                                         const uint8_t* group, const int8_t* qs,
                                                         __m256i& isum) {
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h)
#pragma GCC unroll 2
        for (int half = 0; half < 2; ++half) {  // sub-block 8 h + 2 q + half of quarter q
            requests.template issue<kQ6_KGroupBytes, 4>(group, 2 * h + half);
            __m256i s[4];
            for (auto& v : s) v = _mm256_setzero_si256();
#pragma GCC unroll 4
            for (int e = 4 * half; e < 4 * half + 4; ++e) {
                const __m256i ql_even = load256(group + 32 * (16 * h + e));
                const __m256i ql_odd = load256(group + 32 * (16 * h + 8 + e));
                const __m256i qh = load256(group + kQ6_KHigh + 32 * (8 * h + e));
                const __m256i level[4] = {
                    q6_k_level(ql_even, qh, 0), q6_k_level(ql_odd, qh, 1),
                    q6_k_level(ql_even, qh, 2), q6_k_level(ql_odd, qh, 3)};
#pragma GCC unroll 4
                for (int q = 0; q < 4; ++q) {
                    const int sub = 8 * h + 2 * q + half;
                    s[q] = LLMOPT_ROWGROUPS8_DPBUSD(s[q], level[q],
                                                    broadcast4(qs + 16 * sub + 4 * (e % 4)));
                }
            }
#pragma GCC unroll 4
            for (int q = 0; q < 4; ++q) {
                const int sub = 8 * h + 2 * q + half;
                const __m256i words = load256(group + kQ6_KScales + 32 * (sub / 4));
                isum = _mm256_add_epi32(isum, _mm256_mullo_epi32(s[q], q6_k_scale32(words, sub)));
            }
        }
}

template <int kActs, bool kNextGroup>
LLMOPT_ROWGROUPS8_TARGET void q6_k_tile(const WeightMatrix& w, const Activations& a, int64_t t0,
                                        int64_t r, float* y) {
    const int64_t blocks = w.cols / kQK_K;
    const uint8_t* group = w.data + r * w.row_stride();  // r is the group's first row
    const BlockQ8_K* x[kActs];
    for (int t = 0; t < kActs; ++t) x[t] = reinterpret_cast<const BlockQ8_K*>(a.row(t0 + t));
    __m256 acc[kActs];
    for (auto& v : acc) v = _mm256_setzero_ps();
    // Two groups (3360 bytes) ahead: one group ahead decoded 35.5 t/s, two 36.9, none 24
    // (tinyllama Q6_K, Zen 5, measured together); Intel takes one (prefetch_bytes).
    const WeightRequests<kNextGroup> requests(
        w, prefetch_bytes(
               {2 * kQ6_KGroupBytes, kQ6_KGroupBytes, 2 * kQ6_KGroupBytes, 2 * kQ6_KGroupBytes}));
    for (int64_t b = 0; b < blocks; ++b, group += kQ6_KGroupBytes) {
        __m256i isum[kActs];
        for (auto& v : isum) v = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int m = 0; m < 8; ++m) {
            const __m256i words = load256(group + kQ6_KScales + 32 * (m / 2));
            const __m256i pair = _mm256_srai_epi16(pick_i16(words, kSignedPair[m % 2]), 8);
#pragma GCC unroll 4
            for (int t = 0; t < kActs; ++t) {
                const auto* bsum_pair = reinterpret_cast<const int8_t*>(x[t][b].bsums + 2 * m);
                const __m256i bsums = broadcast4(bsum_pair);
                if constexpr (kWithVnni)
                    isum[t] = LLMOPT_ROWGROUPS8_DPWSSD(isum[t], pair, bsums);
                else
                    isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(pair, bsums));
            }
        }
        for (auto& v : isum) v = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(v, 5));
        if constexpr (kWithVnni && kActs == 1) {
            q6_k_levels_one_row(requests, group, x[0][b].qs, isum[0]);
        } else {
#pragma GCC unroll 16
            for (int sub = 0; sub < 16; ++sub) {
                requests.template issue<kQ6_KGroupBytes, 16>(group, sub);
                const int h = sub / 8, q = sub % 8 / 2;
                const __m256i words = load256(group + kQ6_KScales + 32 * (sub / 4));
                __m256i s[kActs];
                for (auto& v : s) v = _mm256_setzero_si256();
                const __m256i first = spread_source(x[0][b].qs + 16 * sub);
#pragma GCC unroll 4
                for (int e = 4 * (sub % 2); e < 4 * (sub % 2) + 4; ++e) {
                    const __m256i ql = load256(group + 32 * (16 * h + 8 * (q % 2) + e));
                    const __m256i qh = load256(group + kQ6_KHigh + 32 * (8 * h + e));
                    const __m256i level = q6_k_level(ql, qh, q);
#pragma GCC unroll 4
                    for (int t = 0; t < kActs; ++t) {
                        const __m256i act =
                            activation_chunk(t, first, e % 4, x[t][b].qs + 16 * sub + 4 * (e % 4));
                        if constexpr (kWithVnni) {
                            s[t] = LLMOPT_ROWGROUPS8_DPBUSD(s[t], level, act);
                        } else {
                            s[t] = _mm256_add_epi16(s[t], _mm256_maddubs_epi16(level, act));
                            if (e % 2 == 1) {
                                const __m256i scale =
                                    _mm256_srai_epi16(pick_i16(words, kSignedBoth[sub % 4]), 8);
                                isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(s[t], scale));
                                s[t] = _mm256_setzero_si256();
                            }
                        }
                        keep(s[t]);
                    }
                }
                if constexpr (kWithVnni) {
                    const __m256i scale = q6_k_scale32(words, sub);
#pragma GCC unroll 4
                    for (int t = 0; t < kActs; ++t)
                        isum[t] = _mm256_add_epi32(isum[t], _mm256_mullo_epi32(s[t], scale));
                }
            }
        }
        const __m256 d =
            _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(group + kQ6_KD)));
#pragma GCC unroll 4
        for (int t = 0; t < kActs; ++t)
            acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_set1_ps(x[t][b].d)),
                                     _mm256_cvtepi32_ps(isum[t]), acc[t]);
    }
    for (int t = 0; t < kActs; ++t) _mm256_storeu_ps(y + (t0 + t) * w.rows + r, acc[t]);
}

struct Q6_KTile {
    template <int kActs, bool kNextGroup>
    LLMOPT_ROWGROUPS8_TARGET static void run(const WeightMatrix& w, const Activations& a,
                                             int64_t t0, int64_t r, float* y) {
        q6_k_tile<kActs, kNextGroup>(w, a, t0, r, y);
    }
};

}  // namespace
}  // namespace llmopt::kernels::gemm::avx2
