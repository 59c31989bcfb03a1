// Q4_0 / Q8_0 / Q4_K / Q6_K weights regrouped 8 rows at a time (kRowGroups8): the AVX-VNNI kernels.
#define LLMOPT_ROWGROUPS8_TARGET __attribute__((target("avx2,fma,f16c,avxvnni")))
namespace {
constexpr bool kWithVnni = true;
}
#include "gemm_rowgroups8_tiles.h"
#include "gemm_rowgroups8_k_tiles.h"

namespace llmopt::kernels::gemm::avx2 {

bool cpu_has_avx_vnni() {
    static const bool has = __builtin_cpu_supports("avxvnni");
    return has;
}

LLMOPT_ROWGROUPS8_TARGET void rows_q4_0x8_vnni(const WeightMatrix& w, const Activations& a,
                                               int64_t r_begin, int64_t r_end, float* y, void*) {
    rows_tiles<BlockTile<Q4_0Dots>>(w, a, r_begin, r_end, y);
}

LLMOPT_ROWGROUPS8_TARGET void rows_q8_0x8_vnni(const WeightMatrix& w, const Activations& a,
                                               int64_t r_begin, int64_t r_end, float* y, void*) {
    rows_tiles<BlockTile<Q8_0Dots>>(w, a, r_begin, r_end, y);
}

LLMOPT_ROWGROUPS8_TARGET void rows_q4_kx8_vnni(const WeightMatrix& w, const Activations& a,
                                               int64_t r_begin, int64_t r_end, float* y, void*) {
    rows_tiles<Q4_KTile>(w, a, r_begin, r_end, y);
}

LLMOPT_ROWGROUPS8_TARGET void rows_q6_kx8_vnni(const WeightMatrix& w, const Activations& a,
                                               int64_t r_begin, int64_t r_end, float* y, void*) {
    rows_tiles<Q6_KTile>(w, a, r_begin, r_end, y);
}

}  // namespace llmopt::kernels::gemm::avx2
