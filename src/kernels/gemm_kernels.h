// Private: the matmul's per-type kernels, each computing a range of output rows.
#pragma once

#include <cstddef>
#include <cstdint>

#include "llmopt/tensor/weight_matrix.h"

namespace llmopt::kernels::gemm {

// Activation rows as the kernels read them, prepared once per matmul call.
//  Float weight types read `x`: the input itself, or for batches a copy whose rows start on
//  64-byte boundaries (a 32-byte load that straddles two cache lines costs two loads).
//  Other types read `rows`: each activation row quantized to activation_type(weight).
//  Kernels with group_tables also read, for every group of 4 consecutive rows g and block b,
//  the 4 rows' block scales (as f32) and 8 times the sums of their int8 quants (what Q4_0's
//  +8 level offset adds to a block dot) at [(g * blocks + b) * 4 + row % 4]: one 16-byte load
//  gives a tile the values of all its rows.
struct Activations {
    int64_t n = 0;
    const float* x = nullptr;  // (n, x_stride), the first cols of each row used
    int64_t x_stride = 0;
    const uint8_t* rows = nullptr;  // (n, row_stride)
    size_t row_stride = 0;
    const float* group_scales = nullptr;     // (ceil(n / 4), cols / 32, 4)
    const int32_t* group_offsets = nullptr;  // (ceil(n / 4), cols / 32, 4)

    const uint8_t* row(int64_t t) const { return rows + static_cast<size_t>(t) * row_stride; }
    const float* x_row(int64_t t) const { return x + t * x_stride; }
};

// y[t * w.rows + r] for every activation row t and r in [r_begin, r_end). `workspace` holds
// workspace_bytes(w.cols) bytes private to the calling thread.
//
// Contract that keeps results independent of batch size, batch position and thread count:
// every output is computed by a fixed sequence of float operations that depends only on
// w.cols — whichever tile (or the one-row path) it falls in, and wherever the range starts.
using RowRangeFn = void (*)(const WeightMatrix& w, const Activations& a, int64_t r_begin,
                            int64_t r_end, float* y, void* workspace);

struct Kernel {
    RowRangeFn fn = nullptr;
    bool group_tables = false;  // wants Activations::group_scales / group_offsets
    size_t (*workspace_bytes)(int64_t cols) = nullptr;  // null: none
};

// The kRowGroups8 layout (llmopt/kernels/interleave.h) of a block type whose blocks are an f16
// scale and `chunks` 4-byte pieces of quants: within a group of 8 rows, block b of row i has
// its piece k at quant_offset(b, i) + 32 k and its scale at scale_offset(b, i).
constexpr int kGroupRows = 8;
constexpr int64_t kQuadBlocks = 4;
struct RowGroups8 {
    int chunks = 0;  // 4 (Q4_0), 8 (Q8_0)
    constexpr size_t block_quant_bytes() const { return size_t(32) * chunks; }
    constexpr size_t quad_quant_bytes() const { return kQuadBlocks * block_quant_bytes(); }
    constexpr size_t quad_bytes() const { return quad_quant_bytes() + kQuadBlocks * 16; }
    size_t quant_offset(int64_t b, int i) const {
        return size_t(b / kQuadBlocks) * quad_bytes() +
               size_t(b % kQuadBlocks) * block_quant_bytes() + size_t(i) * 4;
    }
    size_t scale_offset(int64_t b, int i) const {
        return size_t(b / kQuadBlocks) * quad_bytes() + quad_quant_bytes() +
               size_t(b % kQuadBlocks) * 16 + size_t(i) * 2;
    }
};
constexpr RowGroups8 kQ4_0Groups{4}, kQ8_0Groups{8};
// Q4_K in kRowGroups8: super-block b of the 8 rows is kQ4_KGroupBytes (the rows' 144 each):
// 32 pieces of 4 quant bytes, piece p of row i at 32 p + 4 i; the 12 packed scale bytes as
// three words, word k of row i at kQ4_KScales + 32 k + 4 i; then d of row i at kQ4_KD + 2 i
// and dmin at kQ4_KDmin + 2 i.
constexpr size_t kQ4_KGroupBytes = 8 * 144;
constexpr size_t kQ4_KScales = 1024, kQ4_KD = 1120, kQ4_KDmin = 1136;
// Q6_K in kRowGroups8: super-block b of the 8 rows is kQ6_KGroupBytes (the rows' 210 each):
// the 32 pieces of 4 ql bytes, piece p of row i at 32 p + 4 i; the 16 pieces of qh at
// kQ6_KHigh + 32 p + 4 i; the 16 scales as four words at kQ6_KScales + 32 k + 4 i; d at
// kQ6_KD + 2 i.
constexpr size_t kQ6_KGroupBytes = 8 * 210;
constexpr size_t kQ6_KHigh = 1024, kQ6_KScales = 1536, kQ6_KD = 1664;
// F16 / BF16 in kRowGroups8: chunk c (elements 8c ... 8c + 7) of the 8 rows follow each other,
// so element k of row i is k / 8 * 64 + 8 i + k % 8 elements past the group's start.
constexpr int64_t kHalfChunk = 8;
constexpr size_t kHalfChunkBytes = 16;
inline size_t half_chunk_offset(int64_t c, int i) {
    return size_t(c) * kGroupRows * kHalfChunkBytes + size_t(i) * kHalfChunkBytes;
}

// Group-of-4 tables (see Activations) from Q8_0 activation rows.
void fill_group_tables(const uint8_t* rows, size_t row_stride, int64_t n, int64_t cols,
                       float* scales, int32_t* offsets);

namespace avx2 {
// quantize_activation for Q8_0 and Q8_K rows (n a multiple of the block), the same bytes.
void quantize_q8_0_activation(const float* x, void* y, int64_t n);
void quantize_q8_k_activation(const float* x, void* y, int64_t n);
// Q4_0 and Q8_0 weights with Q8_0 activations; per output, per block: integer block dot,
// then acc = fma(d_w * d_a, float(isum), acc).
void rows_q4_0(const WeightMatrix& w, const Activations& a, int64_t r_begin, int64_t r_end,
               float* y, void* workspace);
void rows_q8_0(const WeightMatrix& w, const Activations& a, int64_t r_begin, int64_t r_end,
               float* y, void* workspace);
// The kRowGroups8 kernels (Q4_0, Q8_0, Q4_K, Q6_K regrouped 8 rows at a time) of one
// instruction set. Each output is the float chain of rows_q4_0, rows_q8_0, rows_q4_k or
// rows_q6_k, so every set gives the same results bit for bit.
struct RowGroups8Kernels {
    const char* name;  // what int8_dot_instructions() reports
    RowRangeFn q4_0, q8_0, q4_k, q6_k;
};
extern const RowGroups8Kernels kRowGroups8Avx2;        // vpmaddubsw, vpmaddwd
extern const RowGroups8Kernels kRowGroups8AvxVnni;     // vpdpbusd, VEX (cpu_has_avx_vnni())
extern const RowGroups8Kernels kRowGroups8Avx512Vnni;  // vpdpbusd, EVEX (cpu_has_avx512_vnni())
bool cpu_has_avx_vnni();
// AVX512-VNNI with AVX512-VL, so vpdpbusd on 256-bit registers.
bool cpu_has_avx512_vnni();
// The fastest set this CPU runs.
const RowGroups8Kernels& rowgroups8_kernels();
// The vendor (and for AMD, the generation) where the kernels' best choices differ; found from
// cpuid once, at load.
// kAmdZen1: AMD family 17h below model 30h (Zen, Zen+), whose vector units are 128 bits wide:
// each 256-bit instruction takes two of them.
enum class MachineKind { kOther, kIntel, kAmdZen1, kAmdZen5 };
extern const MachineKind kMachineKind;
// How far ahead of the bytes it reads a regrouped tile requests its weights differs by machine:
// * AMD Zen 5 and later: 8 KB for Q4_0 and Q4_K. Each core streams more bytes per latency than
//   a tile's 1-2 KB ahead keeps in flight: tinyllama decode, seven alternating pairs, Q4_0 1.09x
//   and Q4_K 1.05x. The 8-bit and 6-bit tiles, already near the probe's rate, lost 5% with it.
// * Intel: about 1 KB for Q4_0 and Q6_K. On a Xeon (family 6 model 167), tinyllama decode with
//   2 threads read Q4_0 at 38 t/s with 2 KB ahead and 46 with 1-1.5 KB; Q6_K at 22 t/s with two
//   super-block groups ahead (3360 bytes) and 29-30 with one or half of one; 4 KB and more lost
//   further. Q8_0 read the same from 0.5 to 2 KB there; Q4_K the same at 0.6 and 1.2 KB (its
//   own distance, 1152 bytes, kept) and 22% slower at 2.3 KB.
// * AMD Zen 1: 1 KB for Q8_0, four super-block groups (4.5 KB) for Q4_K. On 2 cores reporting
//   family 17h model 1, tinyllama Q8_0 decode read 20.3-20.7 t/s with 0.75-1 KB ahead,
//   15.7-16.8 with 1.25-2 KB (the distance before) and 18.4-19.7 with 3-4 KB. Once the tiles
//   spread their requests over their work, Q4_K decode read 27.7, 28.6, 28.3 t/s one group
//   ahead, 30.2, 30.8, 30.9 two groups ahead (alternating pairs), then 32.0, 33.3 with two
//   against 34.1, 33.9 with four and, in two more rounds, 31.6, 32.1 with one against 35.3, 33.1
//   with four and 35.0, 34.7 with 8 KB. Q4_0 read the same from 0.5 to 8 KB; Q6_K the same
//   with one super-block group ahead, two or four.
// * Elsewhere (Zen 3, Zen 4) the distances tuned there; far prefetch lost (Zen 3: 4 KB, 10%
//   slower Q4_0 decode).
struct PrefetchDistances {
    size_t other, intel, amd_zen1, amd_zen5;  // bytes
};
// Inline because every tile asks (a call per tile measured 1% of a prefill).
inline size_t prefetch_bytes(const PrefetchDistances& d) {
    switch (kMachineKind) {
        case MachineKind::kIntel: return d.intel;
        case MachineKind::kAmdZen1: return d.amd_zen1;
        case MachineKind::kAmdZen5: return d.amd_zen5;
        case MachineKind::kOther: break;
    }
    return d.other;
}
// Float weights (F32, F16, BF16) with f32 activations: one 8-lane accumulator per output over
// the first cols - cols % 8 elements, the fixed horizontal sum, then the tail by scalar FMAs.
// Two sets compute exactly that: 256-bit tiles, and for two or more activation rows 512-bit
// tiles that hold two rows' 8-lane accumulators per register (AVX-512F and DQ).
struct FloatKernels {
    const char* name;  // what float_tile_width() reports
    RowRangeFn f32, f16, bf16;
};
extern const FloatKernels kFloatTiles256;
extern const FloatKernels kFloatTiles512;
bool cpu_has_avx512_float();  // AVX-512F and DQ: kFloatTiles512 runs
// The set this CPU runs: 512-bit on Intel CPUs with AVX-512, unless LLMOPT_NO_AVX512=1 (to
// compare the two in one binary). Intel's server cores have two 512-bit FMA units, twice the
// 256-bit peak (a Xeon here: 236 against 128 GFLOP/s per core); AMD's Zen 4 splits each
// 512-bit FMA in two.
const FloatKernels& float_kernels();
// A thread's workspace for them: the tiles' accumulators carried between column blocks, and
// the rows widened to f32.
size_t float_workspace_bytes(int64_t cols);
// K-quants with Q8_K activations, in exactly vec_dot's order (each output equals vec_dot).
void rows_q4_k(const WeightMatrix& w, const Activations& a, int64_t r_begin, int64_t r_end,
               float* y, void* workspace);
void rows_q5_k(const WeightMatrix& w, const Activations& a, int64_t r_begin, int64_t r_end,
               float* y, void* workspace);
void rows_q6_k(const WeightMatrix& w, const Activations& a, int64_t r_begin, int64_t r_end,
               float* y, void* workspace);
}  // namespace avx2

}  // namespace llmopt::kernels::gemm
