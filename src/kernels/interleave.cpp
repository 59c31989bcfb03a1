// Regrouping Q4_0 / Q8_0 matrices into the kRowGroups8 layout, and reading rows back out of it.
#include "llmopt/kernels/interleave.h"

#include <cstring>

#include "gemm_kernels.h"
#include "llmopt/kernels/quant.h"
#include "llmopt/util/thread_pool.h"
#include "quant_blocks.h"

namespace llmopt::kernels {

using gemm::kGroupRows;
using gemm::kQuadBlocks;

namespace {

// Both block types are an f16 scale followed by the quants (16 bytes of nibbles, 32 of int8).
constexpr size_t kScaleBytes = 2;
gemm::RowGroups8 layout_of(DType type) {
    return type == DType::kQ8_0 ? gemm::kQ8_0Groups : gemm::kQ4_0Groups;
}

}  // namespace

bool interleaving_pays(const WeightMatrix& w) {
    return w.layout == WeightLayout::kRows && (w.type == DType::kQ4_0 || w.type == DType::kQ8_0) &&
           cpu_has_avx2() && w.rows % kGroupRows == 0 && w.cols % (kQK * kQuadBlocks) == 0;
}

WeightMatrix interleave_rows8(const WeightMatrix& w, uint8_t* out) {
    const int64_t blocks = w.cols / kQK, groups = w.rows / kGroupRows;
    const size_t group_bytes = kGroupRows * w.row_stride(), block_bytes = w.row_stride() / blocks;
    const gemm::RowGroups8 layout = layout_of(w.type);
    ThreadPool& pool = ThreadPool::global();
    pool.run(pool.size(), [&](int32_t id, int32_t nt) {
        for (int64_t g = groups * id / nt; g < groups * (id + 1) / nt; ++g) {
            uint8_t* group = out + g * group_bytes;
            for (int i = 0; i < kGroupRows; ++i) {
                const uint8_t* row = w.row(g * kGroupRows + i);
                for (int64_t b = 0; b < blocks; ++b) {
                    const uint8_t* block = row + b * block_bytes;
                    std::memcpy(group + layout.scale_offset(b, i), block, kScaleBytes);
                    for (int k = 0; k < layout.chunks; ++k)
                        std::memcpy(group + layout.quant_offset(b, i) + 32 * k,
                                    block + kScaleBytes + 4 * k, 4);
                }
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
    const int i = static_cast<int>(r % kGroupRows);
    const int64_t blocks = w.cols / kQK;
    const size_t block_bytes = w.row_stride() / blocks;
    const gemm::RowGroups8 layout = layout_of(w.type);
    for (int64_t b = 0; b < blocks; ++b) {
        uint8_t* block = out + b * block_bytes;
        std::memcpy(block, group + layout.scale_offset(b, i), kScaleBytes);
        for (int k = 0; k < layout.chunks; ++k)
            std::memcpy(block + kScaleBytes + 4 * k, group + layout.quant_offset(b, i) + 32 * k, 4);
    }
}

}  // namespace llmopt::kernels
