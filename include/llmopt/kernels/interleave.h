// Regrouping a weight matrix's blocks so that a matmul kernel reads 8 rows as one stream.
//
// Decode reads every weight once per token, so its speed is the rate at which the weights
// stream from memory. The row-major layout makes a kernel that computes 8 outputs at once
// read 8 separate rows side by side; the kRowGroups8 layout puts what that kernel consumes
// next in the next bytes. Q4_0 and Q8_0 (AVX2): rows 8g ... 8g + 7 form group g, stored as one
// run of "quads", each 4 consecutive blocks of the 8 rows, a whole number of cache lines:
//   [quants: block j (0-3), chunk k, row i (0-7): qs[4k ... 4k + 3]]  (Q4_0: k < 4, 512 bytes;
//                                                                     Q8_0: k < 8, 1024 bytes)
//   [64 bytes of scales: block j, row i: d]
// Q8_0's quants are stored plus 128, as unsigned bytes (q ^ 0x80), the operand vpdpbusd wants.
// Q4_K: each super-block of the 8 rows is one 1152-byte run: the quants in 4-byte pieces, then
// the packed scales in 4-byte words, then d and dmin (gemm_kernels.h has the offsets); Q6_K
// likewise in 1680 bytes: ql, qh, scales, d. F16 and BF16: 8 elements of each row in turn.
// The matrix keeps its size; quads run along the row, groups follow each other.
#pragma once

#include <cstdint>

#include "llmopt/tensor/weight_matrix.h"

namespace llmopt::kernels {

// Whether matmul has a kernel for w regrouped (on this CPU) and w's shape allows it.
bool interleaving_pays(const WeightMatrix& w);

// Writes w's blocks (kRows layout) regrouped to `out` (w's size in bytes, 64-byte aligned for
// whole-cache-line quads) and returns the view of them. Requires interleaving_pays(w).
WeightMatrix interleave_rows8(const WeightMatrix& w, uint8_t* out);

// Row r of a matrix in either layout, as the row-major bytes of that row (row_stride() of them).
void copy_row(const WeightMatrix& w, int64_t r, uint8_t* out);

}  // namespace llmopt::kernels
