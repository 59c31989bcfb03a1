// Q4_0 weights regrouped 8 rows at a time (kRowGroups8): the AVX2 kernel.
#include "quant_avx2.h"

#define LLMOPT_Q4X8_TARGET LLMOPT_AVX2
namespace {
constexpr bool kWithVnni = false;
}
#include "gemm_q4_0x8_tiles.h"

namespace llmopt::kernels::gemm::avx2 {

LLMOPT_AVX2 void rows_q4_0x8(const WeightMatrix& w, const Activations& a, int64_t r_begin,
                             int64_t r_end, float* y, void*) {
    rows_tiles(w, a, r_begin, r_end, y);
}

}  // namespace llmopt::kernels::gemm::avx2
