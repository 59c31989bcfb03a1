// Regrouping Q4_0 / Q8_0 / Q4_K / Q6_K / F16 / BF16 matrices into the kRowGroups8 layout, and
// reading rows back out of it.
#include "llmopt/kernels/interleave.h"

#include <cstddef>
#include <cstring>

#include "gemm_kernels.h"
#include "llmopt/kernels/quant.h"
#include "llmopt/util/thread_pool.h"
#include "quant_blocks.h"

namespace llmopt::kernels {

using gemm::kGroupRows;
using gemm::kQuadBlocks;

namespace {

// Q4_0 and Q8_0 blocks are an f16 scale followed by the quants (16 bytes of nibbles, 32 of int8).
constexpr size_t kScaleBytes = 2;
gemm::RowGroups8 layout_of(DType type) {
    return type == DType::kQ8_0 ? gemm::kQ8_0Groups : gemm::kQ4_0Groups;
}

bool is_half(DType type) {
    return type == DType::kF16 || type == DType::kBF16;
}

// Calls piece(row_offset, group_offset, bytes, biased) for every piece of row i of a group:
// where the piece's bytes sit in the row-major row and in the regrouped group, and whether the
// group holds them plus 128 (Q8_0's quants).
template <typename Fn>
void for_each_piece(const WeightMatrix& w, int i, Fn&& piece) {
    if (is_half(w.type)) {
        for (int64_t c = 0; c < w.cols / gemm::kHalfChunk; ++c)
            piece(c * gemm::kHalfChunkBytes, gemm::half_chunk_offset(c, i), gemm::kHalfChunkBytes,
                  false);
        return;
    }
    if (w.type == DType::kQ4_K) {
        for (int64_t b = 0; b < w.cols / kQK_K; ++b) {
            const size_t row = b * sizeof(BlockQ4_K), group = b * gemm::kQ4_KGroupBytes;
            piece(row + offsetof(BlockQ4_K, d), group + gemm::kQ4_KD + 2 * i, 2, false);
            piece(row + offsetof(BlockQ4_K, dmin), group + gemm::kQ4_KDmin + 2 * i, 2, false);
            for (int k = 0; k < 3; ++k)
                piece(row + offsetof(BlockQ4_K, scales) + 4 * k,
                      group + gemm::kQ4_KScales + 32 * k + 4 * i, 4, false);
            for (int p = 0; p < kQK_K / 8; ++p)
                piece(row + offsetof(BlockQ4_K, qs) + 4 * p, group + 32 * p + 4 * i, 4, false);
        }
        return;
    }
    if (w.type == DType::kQ6_K) {
        for (int64_t b = 0; b < w.cols / kQK_K; ++b) {
            const size_t row = b * sizeof(BlockQ6_K), group = b * gemm::kQ6_KGroupBytes;
            for (int p = 0; p < kQK_K / 8; ++p)
                piece(row + offsetof(BlockQ6_K, ql) + 4 * p, group + 32 * p + 4 * i, 4, false);
            for (int p = 0; p < kQK_K / 16; ++p)
                piece(row + offsetof(BlockQ6_K, qh) + 4 * p,
                      group + gemm::kQ6_KHigh + 32 * p + 4 * i, 4, false);
            for (int k = 0; k < 4; ++k)
                piece(row + offsetof(BlockQ6_K, scales) + 4 * k,
                      group + gemm::kQ6_KScales + 32 * k + 4 * i, 4, false);
            piece(row + offsetof(BlockQ6_K, d), group + gemm::kQ6_KD + 2 * i, 2, false);
        }
        return;
    }
    const int64_t blocks = w.cols / kQK;
    const size_t block_bytes = w.row_stride() / blocks;
    const gemm::RowGroups8 layout = layout_of(w.type);
    for (int64_t b = 0; b < blocks; ++b) {
        piece(b * block_bytes, layout.scale_offset(b, i), kScaleBytes, false);
        for (int k = 0; k < layout.chunks; ++k)
            piece(b * block_bytes + kScaleBytes + 4 * k, layout.quant_offset(b, i) + 32 * k, 4,
                  w.type == DType::kQ8_0);
    }
}

bool shape_fits(const WeightMatrix& w) {
    if (w.rows % kGroupRows != 0) return false;
    if (is_half(w.type)) return w.cols % gemm::kHalfChunk == 0;
    if (w.type == DType::kQ4_K || w.type == DType::kQ6_K) return w.cols % kQK_K == 0;
    return (w.type == DType::kQ4_0 || w.type == DType::kQ8_0) && w.cols % (kQK * kQuadBlocks) == 0;
}

// Copies `bytes` bytes, adding 128 to each (mod 256) where `biased`: int8 q becomes the
// unsigned q + 128 and back.
void copy_piece(uint8_t* dst, const uint8_t* src, size_t bytes, bool biased) {
    std::memcpy(dst, src, bytes);
    if (biased)
        for (size_t j = 0; j < bytes; ++j) dst[j] ^= 0x80;
}

}  // namespace

bool interleaving_pays(const WeightMatrix& w) {
    return w.layout == WeightLayout::kRows && cpu_has_avx2() && shape_fits(w);
}

WeightMatrix interleave_rows8(const WeightMatrix& w, uint8_t* out) {
    const int64_t groups = w.rows / kGroupRows;
    const size_t group_bytes = kGroupRows * w.row_stride();
    ThreadPool& pool = ThreadPool::global();
    pool.run(pool.size(), [&](int32_t id, int32_t nt) {
        for (int64_t g = groups * id / nt; g < groups * (id + 1) / nt; ++g) {
            uint8_t* group = out + g * group_bytes;
            for (int i = 0; i < kGroupRows; ++i) {
                const uint8_t* row = w.row(g * kGroupRows + i);
                for_each_piece(
                    w, i, [&](size_t row_offset, size_t group_offset, size_t bytes, bool biased) {
                        copy_piece(group + group_offset, row + row_offset, bytes, biased);
                    });
            }
        }
    });
    WeightMatrix regrouped = w;
    regrouped.data = out;
    regrouped.layout = WeightLayout::kRowGroups8;
    return regrouped;
}

void copy_row(const WeightMatrix& w, int64_t r, uint8_t* out) {
    if (w.layout == WeightLayout::kRows) {
        std::memcpy(out, w.row(r), w.row_stride());
        return;
    }
    const uint8_t* group = w.data + r / kGroupRows * kGroupRows * w.row_stride();
    for_each_piece(w, static_cast<int>(r % kGroupRows),
                   [&](size_t row_offset, size_t group_offset, size_t bytes, bool biased) {
                       copy_piece(out + row_offset, group + group_offset, bytes, biased);
                   });
}

}  // namespace llmopt::kernels
