// Matrix products of activations with weight matrices of any supported type.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "llmopt/tensor/weight_matrix.h"

namespace llmopt::kernels {

// y (n, w.rows) = x (n, w.cols) · wᵀ, on all threads. Each activation row is quantized once to
// the weight type's activation type (into `scratch`, grown as needed). Rows are split among
// threads by output feature, and every y value is computed by a fixed sequence of operations
// that depends only on w.cols (vec_dot's for most types; for Q4_0 / Q8_0 one float chain over
// whole-block integer dots, for F32 / F16 / BF16 one 8-lane FMA chain): results do not change
// with n, the row's position in the batch, or the thread count.
void matmul(const WeightMatrix& w, const float* x, int64_t n, float* y, std::vector<uint8_t>& scratch);

// One product of matmul's second form: y (n, w->rows) = x · w->ᵀ.
struct MatmulOutput {
    const WeightMatrix* w;
    float* y;
};

// The products of one activation batch with several matrices of the same width (a layer's q, k
// and v, or its gate and up) in one parallel pass: the activations are prepared once and the
// threads share out the rows of all the matrices, so small matrices (k and v under GQA) cost
// no dispatch of their own. Each y is matmul's bit for bit; matrices whose kernels differ are
// multiplied one after the other.
void matmul(std::span<const MatmulOutput> outputs, const float* x, int64_t n,
            std::vector<uint8_t>& scratch);

// The same with the scalar reference dot product and one thread (for tests).
void matmul_reference(const WeightMatrix& w, const float* x, int64_t n, float* y);

// The instructions the int8 dot products of regrouped matrices (Q4_0, Q8_0, Q4_K, Q6_K) run on
// this CPU: "avx-vnni", "avx512-vnni" (vpdpbusd on 256-bit registers), "avx2", or "scalar".
const char* int8_dot_instructions();

// The registers the float kernels (F32, F16, BF16 weights) use for two or more activation rows
// on this CPU: "512-bit" (Intel with AVX-512), "256-bit" (AVX2), or "scalar". Same results.
const char* float_tile_width();

// Copies row `r` of w, dequantized, into out (w.cols floats).
void dequantize_matrix_row(const WeightMatrix& w, int64_t r, float* out);

}  // namespace llmopt::kernels
