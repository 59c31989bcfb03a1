// Private: small AVX2 helpers shared by the SIMD dot-product kernels.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

// Functions using AVX2 / FMA / F16C carry this attribute instead of the whole build needing
// -mavx2; they are only reached after the run-time check in the dispatcher.
#define LLMOPT_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace llmopt::kernels::avx2 {

// Horizontal sums in a fixed lane order, so results depend on nothing but the input.
LLMOPT_AVX2 inline float hsum(__m128 v) {
    v = _mm_add_ps(v, _mm_movehl_ps(v, v));
    v = _mm_add_ss(v, _mm_movehdup_ps(v));
    return _mm_cvtss_f32(v);
}

LLMOPT_AVX2 inline float hsum(__m256 v) {
    return hsum(_mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1)));
}

// [low + high half of a | low + high half of b]: hsum's first step for two vectors.
LLMOPT_AVX2 inline __m256 halves(__m256 a, __m256 b) {
    return _mm256_add_ps(_mm256_permute2f128_ps(a, b, 0x20), _mm256_permute2f128_ps(a, b, 0x31));
}

// Lane j = hsum(d[j]), the same additions in the same grouping, for eight vectors at once.
LLMOPT_AVX2 inline __m256 hsum_each(const __m256 (&d)[8]) {
    const __m256 h04 = halves(d[0], d[4]), h15 = halves(d[1], d[5]);
    const __m256 h26 = halves(d[2], d[6]), h37 = halves(d[3], d[7]);
    // Lanes 0+2 and 1+3 of each (hsum's movehl step), two rows per 128 bits.
    const __m256 p01 = _mm256_add_ps(_mm256_shuffle_ps(h04, h15, _MM_SHUFFLE(1, 0, 1, 0)),
                                     _mm256_shuffle_ps(h04, h15, _MM_SHUFFLE(3, 2, 3, 2)));
    const __m256 p23 = _mm256_add_ps(_mm256_shuffle_ps(h26, h37, _MM_SHUFFLE(1, 0, 1, 0)),
                                     _mm256_shuffle_ps(h26, h37, _MM_SHUFFLE(3, 2, 3, 2)));
    // The two partial sums of each row (hsum's movehdup step): rows 0-3 low, 4-7 high.
    return _mm256_add_ps(_mm256_shuffle_ps(p01, p23, _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm256_shuffle_ps(p01, p23, _MM_SHUFFLE(3, 1, 3, 1)));
}

// The exact int32 sum of the 8 lanes.
LLMOPT_AVX2 inline int32_t hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
    return _mm_cvtsi128_si32(s);
}

LLMOPT_AVX2 inline float half_to_float(uint16_t h) { return _cvtsh_ss(h); }

// Adjacent int16 pairs summed to int32 (the second half of a u8 x s8 dot).
LLMOPT_AVX2 inline __m256i sum_pairs_i16(__m256i v) {
    return _mm256_madd_epi16(v, _mm256_set1_epi16(1));
}

// 16 nibbles -> 32 bytes: byte j (< 16) is the low nibble of qs[j], byte j + 16 its high nibble.
LLMOPT_AVX2 inline __m256i unpack_nibbles(const uint8_t* qs) {
    const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
    const __m256i both = _mm256_set_m128i(_mm_srli_epi16(raw, 4), raw);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

// Touches [p, p + bytes) for the cache, one line at a time. Decode reads each weight row once,
// and the kernels read several rows side by side: each row is a short stream (1-6 KB) that
// the hardware prefetcher barely learns before it ends, so the kernels ask for the next rows
// themselves, a tile ahead. Prefetches never fault, so running past the matrix is harmless.
// kHint picks the cache level (_MM_HINT_T1: L2, for bytes needed later than those in L1).
template <_mm_hint kHint = _MM_HINT_T0>
inline void prefetch_span(const void* p, size_t bytes) {
    const char* c = static_cast<const char*>(p);
    for (size_t o = 0; o < bytes; o += 64) _mm_prefetch(c + o, kHint);
}

LLMOPT_AVX2 inline __m256i load256(const void* p) {
    return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}

// Index vectors for _mm256_shuffle_epi8 that broadcast int16 number `lo` of the low 128-bit
// lane and number `hi` of the high lane (the table must hold the same 8 int16 in both lanes).
// Kept in memory rather than built in registers: the kernels need up to 12 of them, more than
// the free ymm registers, and a load folded into vpshufb costs nothing extra.
struct ShuffleIndex {
    alignas(32) uint8_t bytes[32];
};

constexpr ShuffleIndex make_pick_i16(int lo, int hi) {
    ShuffleIndex t{};
    for (int i = 0; i < 16; i += 2) {
        t.bytes[i] = static_cast<uint8_t>(2 * lo);
        t.bytes[i + 1] = static_cast<uint8_t>(2 * lo + 1);
        t.bytes[16 + i] = static_cast<uint8_t>(2 * hi);
        t.bytes[16 + i + 1] = static_cast<uint8_t>(2 * hi + 1);
    }
    return t;
}

// kPickPair[r]: int16 2r in the low lane, 2r+1 in the high lane (scales per 16 elements).
inline constexpr ShuffleIndex kPickPair[4] = {make_pick_i16(0, 1), make_pick_i16(2, 3), make_pick_i16(4, 5),
                                              make_pick_i16(6, 7)};
// kPickBoth[j]: int16 j in both lanes (scales per 32 elements).
inline constexpr ShuffleIndex kPickBoth[8] = {make_pick_i16(0, 0), make_pick_i16(1, 1), make_pick_i16(2, 2),
                                              make_pick_i16(3, 3), make_pick_i16(4, 4), make_pick_i16(5, 5),
                                              make_pick_i16(6, 6), make_pick_i16(7, 7)};

LLMOPT_AVX2 inline __m256i pick_i16(__m256i table, const ShuffleIndex& index) {
    return _mm256_shuffle_epi8(table, _mm256_load_si256(reinterpret_cast<const __m256i*>(index.bytes)));
}

}  // namespace llmopt::kernels::avx2
