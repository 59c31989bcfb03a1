// AVX2 dot products of F32 / F16 / BF16 rows with f32, and of the 32-element block types with Q8_0 / Q8_1.
#include <cmath>
#include <type_traits>

#include "quant_avx2.h"
#include "quant_blocks.h"

namespace llmopt::kernels::avx2 {
namespace {

LLMOPT_AVX2 inline __m256 load8_f32(const void* w, int64_t i) {
    return _mm256_loadu_ps(static_cast<const float*>(w) + i);
}
LLMOPT_AVX2 inline __m256 load8_f16(const void* w, int64_t i) {
    const auto* p = static_cast<const uint16_t*>(w) + i;
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
LLMOPT_AVX2 inline __m256 load8_bf16(const void* w, int64_t i) {
    const auto* p = static_cast<const uint16_t*>(w) + i;
    const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));  // bf16 is the top half of an f32
}

inline float load1_f32(const void* w, int64_t i) { return static_cast<const float*>(w)[i]; }
inline float load1_f16(const void* w, int64_t i) { return fp16_to_fp32(static_cast<const uint16_t*>(w)[i]); }
inline float load1_bf16(const void* w, int64_t i) { return bf16_to_fp32(static_cast<const uint16_t*>(w)[i]); }

// Float rows: 4 independent accumulators of 8 lanes hide the FMA latency (4 cycles at 2 per
// cycle); with weights streamed from memory the loads are the limit, not the FMAs. Returns the
// lanes of the first n - n % 8 elements, before the horizontal sum.
template <__m256 (*Load8)(const void*, int64_t)>
LLMOPT_AVX2 inline __m256 float_row_lanes(int64_t n, const void* w, const float* a) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm256_fmadd_ps(Load8(w, i), _mm256_loadu_ps(a + i), acc0);
        acc1 = _mm256_fmadd_ps(Load8(w, i + 8), _mm256_loadu_ps(a + i + 8), acc1);
        acc2 = _mm256_fmadd_ps(Load8(w, i + 16), _mm256_loadu_ps(a + i + 16), acc2);
        acc3 = _mm256_fmadd_ps(Load8(w, i + 24), _mm256_loadu_ps(a + i + 24), acc3);
    }
    for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(Load8(w, i), _mm256_loadu_ps(a + i), acc0);
    return _mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3));
}

// The last n % 8 elements, added one by one to `sum`.
template <float (*Load1)(const void*, int64_t)>
inline float float_row_tail(int64_t n, const void* w, const float* a, float sum) {
    for (int64_t i = n - n % 8; i < n; ++i) sum = std::fma(Load1(w, i), a[i], sum);
    return sum;
}

template <__m256 (*Load8)(const void*, int64_t), float (*Load1)(const void*, int64_t)>
LLMOPT_AVX2 inline float dot_float_row(int64_t n, const void* w, const float* a) {
    return float_row_tail<Load1>(n, w, a, hsum(float_row_lanes<Load8>(n, w, a)));
}

// float_row_lanes of eight rows of 64 elements (an attention head's size), the activation held
// in registers for all of them: the same FMAs into the same accumulators, with one load each
// instead of two.
template <__m256 (*Load8)(const void*, int64_t)>
LLMOPT_AVX2 inline void rows8_lanes_64(const void* const* w, const float* a, __m256 (&lanes)[8]) {
    __m256 x[8];
#pragma GCC unroll 8
    for (int c = 0; c < 8; ++c) x[c] = _mm256_loadu_ps(a + 8 * c);
    for (int j = 0; j < 8; ++j) {
        __m256 acc[4];
#pragma GCC unroll 4
        for (int c = 0; c < 4; ++c) acc[c] = _mm256_fmadd_ps(Load8(w[j], 8 * c), x[c], _mm256_setzero_ps());
#pragma GCC unroll 4
        for (int c = 4; c < 8; ++c) acc[c - 4] = _mm256_fmadd_ps(Load8(w[j], 8 * c), x[c], acc[c - 4]);
        lanes[j] = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    }
}

template <__m256 (*Load8)(const void*, int64_t), float (*Load1)(const void*, int64_t)>
LLMOPT_AVX2 inline void dot_float_rows8(int64_t n, const void* const* w, const void* a, float* out) {
    const auto* x = static_cast<const float*>(a);
    __m256 lanes[8];
    if (n == 64)
        rows8_lanes_64<Load8>(w, x, lanes);
    else
        for (int j = 0; j < 8; ++j) lanes[j] = float_row_lanes<Load8>(n, w[j], x);
    _mm256_storeu_ps(out, hsum_each(lanes));
    if (n % 8 != 0)
        for (int j = 0; j < 8; ++j) out[j] = float_row_tail<Load1>(n, w[j], x, out[j]);
}

// qh (32 bits) -> 32 bytes, 0xFF where bit j is set: byte j first receives qh's byte j/8, then
// is tested against bit j%8.
LLMOPT_AVX2 inline __m256i bits_to_bytes(const uint8_t* qh) {
    const __m256i spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32(static_cast<int>(load_u32(qh))),
        _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0));
    const __m256i bit = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ull));
    return _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
}

// Integer dot of one weight block with one Q8 block, as 8 int32 partial sums. maddubs takes
// unsigned weights times signed activations; offsets (-8, -16) are applied as a second maddubs
// of the constant so the unsigned form can be kept. No int16 pair sum can saturate: the
// largest is 2 * 31 * 127 = 7874 (and 2 * 127 * 128 for Q8_0).
LLMOPT_AVX2 inline __m256i block_dot(const BlockQ4_0& x, const BlockQ8_0& y) {
    const __m256i a = load256(y.qs);
    const __m256i qa = _mm256_maddubs_epi16(unpack_nibbles(x.qs), a);
    return sum_pairs_i16(_mm256_sub_epi16(qa, _mm256_maddubs_epi16(_mm256_set1_epi8(8), a)));
}

LLMOPT_AVX2 inline __m256i block_dot(const BlockQ4_1& x, const BlockQ8_1& y) {
    return sum_pairs_i16(_mm256_maddubs_epi16(unpack_nibbles(x.qs), load256(y.qs)));
}

LLMOPT_AVX2 inline __m256i block_dot(const BlockQ5_0& x, const BlockQ8_0& y) {
    const __m256i a = load256(y.qs);
    const __m256i q = _mm256_or_si256(unpack_nibbles(x.qs),
                                      _mm256_and_si256(bits_to_bytes(x.qh), _mm256_set1_epi8(0x10)));
    const __m256i qa = _mm256_maddubs_epi16(q, a);
    return sum_pairs_i16(_mm256_sub_epi16(qa, _mm256_maddubs_epi16(_mm256_set1_epi8(16), a)));
}

LLMOPT_AVX2 inline __m256i block_dot(const BlockQ5_1& x, const BlockQ8_1& y) {
    const __m256i q = _mm256_or_si256(unpack_nibbles(x.qs),
                                      _mm256_and_si256(bits_to_bytes(x.qh), _mm256_set1_epi8(0x10)));
    return sum_pairs_i16(_mm256_maddubs_epi16(q, load256(y.qs)));
}

// Signed x signed: move x's sign onto a, so maddubs sees |x| (unsigned) times a signed value.
LLMOPT_AVX2 inline __m256i block_dot(const BlockQ8_0& x, const BlockQ8_0& y) {
    const __m256i q = load256(x.qs);
    return sum_pairs_i16(_mm256_maddubs_epi16(_mm256_abs_epi8(q), _mm256_sign_epi8(load256(y.qs), q)));
}

// acc += d_w * d_a * (block integer dot); for Q4_1 / Q5_1 also min += m_w * s_a, with s_a the
// activation block's stored f16 sum (d_a * sum(q_a)), so the offset needs no integer sum.
template <typename WBlock, typename ABlock>
LLMOPT_AVX2 inline void accumulate(const WBlock& x, const ABlock& y, __m256* acc, float* min) {
    const __m256 d = _mm256_set1_ps(half_to_float(x.d) * half_to_float(y.d));
    *acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(block_dot(x, y)), *acc);
    if constexpr (std::is_same_v<ABlock, BlockQ8_1>) *min = std::fma(half_to_float(x.m), half_to_float(y.s), *min);
}

// Two blocks per iteration into two accumulator sets, so consecutive blocks' FMAs do not wait
// on each other; the order of every addition depends only on n. Returns the lanes before the
// horizontal sum, and the sum of the min terms in *min.
template <typename WBlock, typename ABlock>
LLMOPT_AVX2 inline __m256 block_row_lanes(int64_t n, const void* w, const void* a, float* min) {
    const auto* x = static_cast<const WBlock*>(w);
    const auto* y = static_cast<const ABlock*>(a);
    const int64_t nb = n / kQK;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    float min0 = 0, min1 = 0;
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        accumulate(x[b], y[b], &acc0, &min0);
        accumulate(x[b + 1], y[b + 1], &acc1, &min1);
    }
    if (b < nb) accumulate(x[b], y[b], &acc0, &min0);
    *min = min0 + min1;
    return _mm256_add_ps(acc0, acc1);
}

template <typename WBlock, typename ABlock>
LLMOPT_AVX2 inline float dot_blocks(int64_t n, const void* w, const void* a) {
    float min;
    const __m256 lanes = block_row_lanes<WBlock, ABlock>(n, w, a, &min);
    return hsum(lanes) + min;
}

template <typename WBlock, typename ABlock>
LLMOPT_AVX2 inline void dot_blocks_rows8(int64_t n, const void* const* w, const void* a, float* out) {
    __m256 lanes[8];
    alignas(32) float min[8];
    for (int j = 0; j < 8; ++j) lanes[j] = block_row_lanes<WBlock, ABlock>(n, w[j], a, &min[j]);
    _mm256_storeu_ps(out, _mm256_add_ps(hsum_each(lanes), _mm256_load_ps(min)));
}

}  // namespace

LLMOPT_AVX2 float dot_f32(int64_t n, const void* w, const void* a) {
    return dot_float_row<load8_f32, load1_f32>(n, w, static_cast<const float*>(a));
}
LLMOPT_AVX2 float dot_f16(int64_t n, const void* w, const void* a) {
    return dot_float_row<load8_f16, load1_f16>(n, w, static_cast<const float*>(a));
}
LLMOPT_AVX2 float dot_bf16(int64_t n, const void* w, const void* a) {
    return dot_float_row<load8_bf16, load1_bf16>(n, w, static_cast<const float*>(a));
}

LLMOPT_AVX2 float dot_q4_0(int64_t n, const void* w, const void* a) { return dot_blocks<BlockQ4_0, BlockQ8_0>(n, w, a); }
LLMOPT_AVX2 float dot_q4_1(int64_t n, const void* w, const void* a) { return dot_blocks<BlockQ4_1, BlockQ8_1>(n, w, a); }
LLMOPT_AVX2 float dot_q5_0(int64_t n, const void* w, const void* a) { return dot_blocks<BlockQ5_0, BlockQ8_0>(n, w, a); }
LLMOPT_AVX2 float dot_q5_1(int64_t n, const void* w, const void* a) { return dot_blocks<BlockQ5_1, BlockQ8_1>(n, w, a); }
LLMOPT_AVX2 float dot_q8_0(int64_t n, const void* w, const void* a) { return dot_blocks<BlockQ8_0, BlockQ8_0>(n, w, a); }

LLMOPT_AVX2 void dot8_f32(int64_t n, const void* const* w, const void* a, float* out) { dot_float_rows8<load8_f32, load1_f32>(n, w, a, out); }
LLMOPT_AVX2 void dot8_f16(int64_t n, const void* const* w, const void* a, float* out) { dot_float_rows8<load8_f16, load1_f16>(n, w, a, out); }
LLMOPT_AVX2 void dot8_bf16(int64_t n, const void* const* w, const void* a, float* out) { dot_float_rows8<load8_bf16, load1_bf16>(n, w, a, out); }
LLMOPT_AVX2 void dot8_q4_0(int64_t n, const void* const* w, const void* a, float* out) { dot_blocks_rows8<BlockQ4_0, BlockQ8_0>(n, w, a, out); }
LLMOPT_AVX2 void dot8_q4_1(int64_t n, const void* const* w, const void* a, float* out) { dot_blocks_rows8<BlockQ4_1, BlockQ8_1>(n, w, a, out); }
LLMOPT_AVX2 void dot8_q5_0(int64_t n, const void* const* w, const void* a, float* out) { dot_blocks_rows8<BlockQ5_0, BlockQ8_0>(n, w, a, out); }
LLMOPT_AVX2 void dot8_q5_1(int64_t n, const void* const* w, const void* a, float* out) { dot_blocks_rows8<BlockQ5_1, BlockQ8_1>(n, w, a, out); }
LLMOPT_AVX2 void dot8_q8_0(int64_t n, const void* const* w, const void* a, float* out) { dot_blocks_rows8<BlockQ8_0, BlockQ8_0>(n, w, a, out); }

}  // namespace llmopt::kernels::avx2
