// Block quantization in ggml's exact layouts: quantize, dequantize, and dot products of a
// weight row with an activation row quantized to the weight type's activation type.
#pragma once

#include <cstdint>

#include "llmopt/tensor/dtype.h"

namespace llmopt::kernels {

// Round-to-nearest quantization of n floats (n a multiple of the block size) into `type`,
// byte-identical to ggml's quantize_row_<type>_ref. Also F32/F16/BF16 (plain conversion).
void quantize_row(DType type, const float* x, void* y, int64_t n);
void dequantize_row(DType type, const void* x, float* y, int64_t n);

// The type activations are quantized to for a dot with a `weight` row:
// Q4_0/Q5_0/Q8_0 -> Q8_0, Q4_1/Q5_1 -> Q8_1, K-quants -> Q8_K, F32/F16/BF16 -> F32.
DType activation_type(DType weight);
// Quantizes an activation row as the matmul does (Q8_0, Q8_1, Q8_K, or a copy for F32).
void quantize_activation(DType act_type, const float* x, void* y, int64_t n);

// dot(weight row, activation row) of n elements; picks the fastest kernel the CPU supports.
// Rows need the alignment of their block fields (2 bytes, 4 for Q8_K), as GGUF data has.
float vec_dot(DType weight, int64_t n, const void* w, const void* a);
// The dots of eight weight rows with one activation row, out[j] = vec_dot(weight, n, w[j], a)
// bit for bit; one pass over the rows where the type has an eight-row kernel (float and
// 32-element block types on AVX2), eight vec_dot calls otherwise.
void vec_dot8(DType weight, int64_t n, const void* const* w, const void* a, float* out);
// The plain scalar reference of the same; SIMD kernels are tested against it.
float vec_dot_reference(DType weight, int64_t n, const void* w, const void* a);

// True when this CPU has AVX2, FMA and F16C (checked once at run time).
bool cpu_has_avx2();

}  // namespace llmopt::kernels
