// Private: ggml's block structs and the per-type kernels shared by the quantization sources.
#pragma once

#include <cstdint>
#include <cstring>

#include "llmopt/tensor/fp16.h"

namespace llmopt::kernels {

constexpr int kQK = 32;    // elements per legacy block (Q4_0 ... Q8_1)
constexpr int kQK_K = 256;  // elements per K-quant super-block

// Field order and sizes are ggml's; every field is naturally aligned, so the structs have no
// padding and can be overlaid on the bytes of a GGUF tensor (f16 fields stay raw uint16_t).
struct BlockQ4_0 {
    uint16_t d;
    uint8_t qs[kQK / 2];
};
struct BlockQ4_1 {
    uint16_t d;
    uint16_t m;
    uint8_t qs[kQK / 2];
};
struct BlockQ5_0 {
    uint16_t d;
    uint8_t qh[4];
    uint8_t qs[kQK / 2];
};
struct BlockQ5_1 {
    uint16_t d;
    uint16_t m;
    uint8_t qh[4];
    uint8_t qs[kQK / 2];
};
struct BlockQ8_0 {
    uint16_t d;
    int8_t qs[kQK];
};
struct BlockQ8_1 {
    uint16_t d;
    uint16_t s;  // f16(d * sum(qs)) with d taken before its rounding to f16
    int8_t qs[kQK];
};
struct BlockQ2_K {
    uint8_t scales[kQK_K / 16];  // low nibble scale, high nibble min, per 16 elements
    uint8_t qs[kQK_K / 4];
    uint16_t d;
    uint16_t dmin;
};
struct BlockQ3_K {
    uint8_t hmask[kQK_K / 8];
    uint8_t qs[kQK_K / 4];
    uint8_t scales[12];  // 16 six-bit scales, biased by 32
    uint16_t d;
};
struct BlockQ4_K {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[12];  // 8 six-bit scales and 8 six-bit mins
    uint8_t qs[kQK_K / 2];
};
struct BlockQ5_K {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[12];
    uint8_t qh[kQK_K / 8];
    uint8_t qs[kQK_K / 2];
};
struct BlockQ6_K {
    uint8_t ql[kQK_K / 2];
    uint8_t qh[kQK_K / 4];
    int8_t scales[kQK_K / 16];
    uint16_t d;
};
struct BlockQ8_K {
    float d;
    int8_t qs[kQK_K];
    int16_t bsums[kQK_K / 16];  // sums of qs over each 16 elements
};

static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24 && sizeof(BlockQ8_0) == 34 && sizeof(BlockQ8_1) == 36);
static_assert(sizeof(BlockQ2_K) == 84 && sizeof(BlockQ3_K) == 110 && sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210 && sizeof(BlockQ8_K) == 292);

// Round to nearest, ties to even, for |x| < 2^22: adding 1.5 * 2^23 pushes the fraction out of
// the mantissa, leaving the rounded integer in its low bits. The K-quant searches compare
// candidates made with exactly this rounding, so it must not be replaced by another.
inline int nearest_int(float x) {
    const float shifted = x + 12582912.f;
    int32_t bits;
    std::memcpy(&bits, &shifted, sizeof bits);
    return (bits & 0x007fffff) - 0x00400000;
}

// Q4_K / Q5_K pack 8 six-bit scales and 8 six-bit mins into 12 bytes: sub-blocks 0-3 keep both
// in the low 6 bits of bytes 0-7; sub-blocks 4-7 keep their low 4 bits in the nibbles of bytes
// 8-11 and their top 2 bits in the spare top bits of bytes 0-7.
inline void unpack_scale_min_k4(int j, const uint8_t* s, uint8_t* scale, uint8_t* min) {
    if (j < 4) {
        *scale = s[j] & 63;
        *min = s[j + 4] & 63;
    } else {
        *scale = static_cast<uint8_t>((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
        *min = static_cast<uint8_t>((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }
}

// Q3_K's 16 six-bit scales (unbiased, -32 ... 31): low 4 bits in the nibbles of bytes 0-7
// (scales 0-7 low nibble, 8-15 high nibble), top 2 bits in bytes 8-11 (scale j at byte 8 + j%4,
// bit 2*(j/4)).
inline int q3k_scale(const uint8_t* s, int j) {
    const int low = j < 8 ? s[j] & 0xF : s[j - 8] >> 4;
    const int high = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
    return (low | (high << 4)) - 32;
}

// Row-level kernels of each type; n is a multiple of the type's block size (checked by callers).
namespace detail {
void quantize_q4_0(const float* x, BlockQ4_0* y, int64_t n);
void quantize_q4_1(const float* x, BlockQ4_1* y, int64_t n);
void quantize_q5_0(const float* x, BlockQ5_0* y, int64_t n);
void quantize_q5_1(const float* x, BlockQ5_1* y, int64_t n);
void quantize_q8_0(const float* x, BlockQ8_0* y, int64_t n);
void quantize_q8_1(const float* x, BlockQ8_1* y, int64_t n);
void quantize_q2_k(const float* x, BlockQ2_K* y, int64_t n);
void quantize_q3_k(const float* x, BlockQ3_K* y, int64_t n);
void quantize_q4_k(const float* x, BlockQ4_K* y, int64_t n);
void quantize_q5_k(const float* x, BlockQ5_K* y, int64_t n);
void quantize_q6_k(const float* x, BlockQ6_K* y, int64_t n);
void quantize_q8_k(const float* x, BlockQ8_K* y, int64_t n);

// Activation flavours of Q8_0 / Q8_1: scale 127/amax and ties to even, as the matmul does.
void quantize_q8_0_activation(const float* x, BlockQ8_0* y, int64_t n);
void quantize_q8_1_activation(const float* x, BlockQ8_1* y, int64_t n);

void dequantize_q4_0(const BlockQ4_0* x, float* y, int64_t n);
void dequantize_q4_1(const BlockQ4_1* x, float* y, int64_t n);
void dequantize_q5_0(const BlockQ5_0* x, float* y, int64_t n);
void dequantize_q5_1(const BlockQ5_1* x, float* y, int64_t n);
void dequantize_q8_0(const BlockQ8_0* x, float* y, int64_t n);
void dequantize_q8_1(const BlockQ8_1* x, float* y, int64_t n);
void dequantize_q2_k(const BlockQ2_K* x, float* y, int64_t n);
void dequantize_q3_k(const BlockQ3_K* x, float* y, int64_t n);
void dequantize_q4_k(const BlockQ4_K* x, float* y, int64_t n);
void dequantize_q5_k(const BlockQ5_K* x, float* y, int64_t n);
void dequantize_q6_k(const BlockQ6_K* x, float* y, int64_t n);
void dequantize_q8_k(const BlockQ8_K* x, float* y, int64_t n);
}  // namespace detail

// dot(weight row, activation row): the activation is f32 for the float types, else the
// weight type's activation type. `w` and `a` are untyped so the kernels fit one table.
using DotFn = float (*)(int64_t n, const void* w, const void* a);
// The same for eight weight rows and one activation row: out[j] = dot(w[j], a).
using Dot8Fn = void (*)(int64_t n, const void* const* w, const void* a, float* out);

namespace scalar {
float dot_f32(int64_t n, const void* w, const void* a);
float dot_f16(int64_t n, const void* w, const void* a);
float dot_bf16(int64_t n, const void* w, const void* a);
float dot_q4_0(int64_t n, const void* w, const void* a);
float dot_q4_1(int64_t n, const void* w, const void* a);
float dot_q5_0(int64_t n, const void* w, const void* a);
float dot_q5_1(int64_t n, const void* w, const void* a);
float dot_q8_0(int64_t n, const void* w, const void* a);
float dot_q2_k(int64_t n, const void* w, const void* a);
float dot_q3_k(int64_t n, const void* w, const void* a);
float dot_q4_k(int64_t n, const void* w, const void* a);
float dot_q5_k(int64_t n, const void* w, const void* a);
float dot_q6_k(int64_t n, const void* w, const void* a);
}  // namespace scalar

// Compiled for AVX2 + FMA + F16C; only called when cpu_has_avx2().
namespace avx2 {
float dot_f32(int64_t n, const void* w, const void* a);
float dot_f16(int64_t n, const void* w, const void* a);
float dot_bf16(int64_t n, const void* w, const void* a);
float dot_q4_0(int64_t n, const void* w, const void* a);
float dot_q4_1(int64_t n, const void* w, const void* a);
float dot_q5_0(int64_t n, const void* w, const void* a);
float dot_q5_1(int64_t n, const void* w, const void* a);
float dot_q8_0(int64_t n, const void* w, const void* a);
float dot_q2_k(int64_t n, const void* w, const void* a);
float dot_q3_k(int64_t n, const void* w, const void* a);
float dot_q4_k(int64_t n, const void* w, const void* a);
float dot_q5_k(int64_t n, const void* w, const void* a);
float dot_q6_k(int64_t n, const void* w, const void* a);
// Eight rows at once, each bit for bit as the one-row kernel above.
void dot8_f32(int64_t n, const void* const* w, const void* a, float* out);
void dot8_f16(int64_t n, const void* const* w, const void* a, float* out);
void dot8_bf16(int64_t n, const void* const* w, const void* a, float* out);
void dot8_q4_0(int64_t n, const void* const* w, const void* a, float* out);
void dot8_q4_1(int64_t n, const void* const* w, const void* a, float* out);
void dot8_q5_0(int64_t n, const void* const* w, const void* a, float* out);
void dot8_q5_1(int64_t n, const void* const* w, const void* a, float* out);
void dot8_q8_0(int64_t n, const void* const* w, const void* a, float* out);
}  // namespace avx2

}  // namespace llmopt::kernels
