// Q4_0 weights regrouped 8 rows at a time (kRowGroups8): the AVX-VNNI kernel.
#define LLMOPT_Q4X8_TARGET __attribute__((target("avx2,fma,f16c,avxvnni")))
namespace {
constexpr bool kWithVnni = true;
}
#include "gemm_q4_0x8_tiles.h"

namespace llmopt::kernels::gemm::avx2 {

bool cpu_has_avx_vnni() {
    static const bool has = __builtin_cpu_supports("avxvnni");
    return has;
}

LLMOPT_Q4X8_TARGET void rows_q4_0x8_vnni(const WeightMatrix& w, const Activations& a,
                                         int64_t r_begin, int64_t r_end, float* y, void*) {
    rows_tiles(w, a, r_begin, r_end, y);
}

}  // namespace llmopt::kernels::gemm::avx2
