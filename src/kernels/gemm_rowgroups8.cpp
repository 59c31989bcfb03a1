// Q4_0 / Q8_0 / Q4_K / Q6_K weights regrouped 8 rows at a time (kRowGroups8): the AVX2 kernels.
#include "quant_avx2.h"

#define LLMOPT_ROWGROUPS8_TARGET LLMOPT_AVX2
namespace {
constexpr bool kWithVnni = false;
}
#include "gemm_rowgroups8_tiles.h"
#include "gemm_rowgroups8_k_tiles.h"

namespace llmopt::kernels::gemm::avx2 {

LLMOPT_AVX2 void rows_q4_0x8(const WeightMatrix& w, const Activations& a, int64_t r_begin,
                             int64_t r_end, float* y, void*) {
    rows_tiles<BlockTile<Q4_0Dots>>(w, a, r_begin, r_end, y);
}

LLMOPT_AVX2 void rows_q8_0x8(const WeightMatrix& w, const Activations& a, int64_t r_begin,
                             int64_t r_end, float* y, void*) {
    rows_tiles<BlockTile<Q8_0Dots>>(w, a, r_begin, r_end, y);
}

LLMOPT_AVX2 void rows_q4_kx8(const WeightMatrix& w, const Activations& a, int64_t r_begin,
                             int64_t r_end, float* y, void*) {
    rows_tiles<Q4_KTile>(w, a, r_begin, r_end, y);
}

LLMOPT_AVX2 void rows_q6_kx8(const WeightMatrix& w, const Activations& a, int64_t r_begin,
                             int64_t r_end, float* y, void*) {
    rows_tiles<Q6_KTile>(w, a, r_begin, r_end, y);
}

}  // namespace llmopt::kernels::gemm::avx2
