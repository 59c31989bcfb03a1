// Matrix products of activations with weight matrices of any supported type.
#pragma once

#include <cstdint>
#include <vector>

#include "llmopt/tensor/weight_matrix.h"

namespace llmopt::kernels {

// y (n, w.rows) = x (n, w.cols) · wᵀ, on all threads. Each activation row is quantized once to
// the weight type's activation type (into `scratch`, grown as needed). Rows are split among
// threads by output feature, so every y value is one vec_dot whose order depends only on w.cols:
// results do not change with n or the thread count.
void matmul(const WeightMatrix& w, const float* x, int64_t n, float* y, std::vector<uint8_t>& scratch);

// The same with the scalar reference dot product and one thread (for tests).
void matmul_reference(const WeightMatrix& w, const float* x, int64_t n, float* y);

// Copies row `r` of w, dequantized, into out (w.cols floats).
void dequantize_matrix_row(const WeightMatrix& w, int64_t r, float* out);

}  // namespace llmopt::kernels
