// Matrix products: activations quantized once per row, output features split among threads.
#include "llmopt/kernels/matmul.h"

#include <algorithm>

#include "llmopt/kernels/quant.h"

namespace llmopt::kernels {

void matmul(const WeightMatrix& w, const float* x, int64_t n, float* y, std::vector<uint8_t>& scratch) {
    const DType act = activation_type(w.type);
    const size_t act_stride = row_bytes(act, w.cols);
    if (scratch.size() < act_stride * n) scratch.resize(act_stride * n);
    uint8_t* a = scratch.data();
    const int64_t cols = w.cols, rows = w.rows;
    // Chunks of output rows keep one weight row hot in cache while it meets every activation row.
    constexpr int64_t kRowsPerChunk = 16;
    const int64_t n_chunks = (rows + kRowsPerChunk - 1) / kRowsPerChunk;
    // Below this many multiply-adds, waking the other threads costs more than it saves.
    constexpr int64_t kMinParallelWork = 1 << 18;
#pragma omp parallel if (rows * cols * n >= kMinParallelWork)
    {
#pragma omp for schedule(static)
        for (int64_t t = 0; t < n; ++t) quantize_activation(act, x + t * cols, a + t * act_stride, cols);
#pragma omp for schedule(static)
        for (int64_t c = 0; c < n_chunks; ++c) {
            const int64_t r_end = std::min(rows, (c + 1) * kRowsPerChunk);
            for (int64_t r = c * kRowsPerChunk; r < r_end; ++r) {
                const uint8_t* wr = w.row(r);
                for (int64_t t = 0; t < n; ++t) y[t * rows + r] = vec_dot(w.type, cols, wr, a + t * act_stride);
            }
        }
    }
}

void matmul_reference(const WeightMatrix& w, const float* x, int64_t n, float* y) {
    const DType act = activation_type(w.type);
    const size_t act_stride = row_bytes(act, w.cols);
    std::vector<uint8_t> a(act_stride);
    for (int64_t t = 0; t < n; ++t) {
        quantize_activation(act, x + t * w.cols, a.data(), w.cols);
        for (int64_t r = 0; r < w.rows; ++r) y[t * w.rows + r] = vec_dot_reference(w.type, w.cols, w.row(r), a.data());
    }
}

void dequantize_matrix_row(const WeightMatrix& w, int64_t r, float* out) {
    dequantize_row(w.type, w.row(r), out, w.cols);
}

}  // namespace llmopt::kernels
