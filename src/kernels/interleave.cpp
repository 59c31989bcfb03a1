// Regrouping Q4_0 matrices into the kRowGroups8 layout, and reading rows back out of it.
#include "llmopt/kernels/interleave.h"

#include <cstring>

#include "gemm_kernels.h"
#include "llmopt/kernels/quant.h"
#include "llmopt/util/thread_pool.h"
#include "quant_blocks.h"

namespace llmopt::kernels {

using gemm::kGroupRows;
using gemm::kQuadBlocks;
using gemm::quant_offset;
using gemm::scale_offset;

bool interleaving_pays(const WeightMatrix& w) {
    return w.layout == WeightLayout::kRows && w.type == DType::kQ4_0 && cpu_has_avx2() &&
           w.rows % kGroupRows == 0 && w.cols % (kQK * kQuadBlocks) == 0;
}

WeightMatrix interleave_rows8(const WeightMatrix& w, uint8_t* out) {
    const int64_t blocks = w.cols / kQK, groups = w.rows / kGroupRows;
    const size_t group_bytes = kGroupRows * w.row_stride();
    ThreadPool& pool = ThreadPool::global();
    pool.run(pool.size(), [&](int32_t id, int32_t nt) {
        for (int64_t g = groups * id / nt; g < groups * (id + 1) / nt; ++g) {
            uint8_t* group = out + g * group_bytes;
            for (int i = 0; i < kGroupRows; ++i) {
                const auto* row = reinterpret_cast<const BlockQ4_0*>(w.row(g * kGroupRows + i));
                for (int64_t b = 0; b < blocks; ++b) {
                    std::memcpy(group + scale_offset(b, i), &row[b].d, sizeof(row[b].d));
                    for (int k = 0; k < 4; ++k)
                        std::memcpy(group + quant_offset(b, i) + 32 * k, row[b].qs + 4 * k, 4);
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
    auto* row = reinterpret_cast<BlockQ4_0*>(out);
    for (int64_t b = 0; b < w.cols / kQK; ++b) {
        std::memcpy(&row[b].d, group + scale_offset(b, i), sizeof(row[b].d));
        for (int k = 0; k < 4; ++k)
            std::memcpy(row[b].qs + 4 * k, group + quant_offset(b, i) + 32 * k, 4);
    }
}

}  // namespace llmopt::kernels
