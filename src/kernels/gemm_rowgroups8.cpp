// Q4_0 / Q8_0 / Q4_K / Q6_K weights regrouped 8 rows at a time (kRowGroups8): the AVX2 kernels.
#include "quant_avx2.h"

#define LLMOPT_ROWGROUPS8_TARGET LLMOPT_AVX2
namespace {
constexpr bool kWithVnni = false;
}
#include "gemm_rowgroups8_k_tiles.h"

namespace llmopt::kernels::gemm::avx2 {

const RowGroups8Kernels kRowGroups8Avx2 = {rows_tiles<BlockTile<Q4_0Dots>>,
                                           rows_tiles<BlockTile<Q8_0Dots>>, rows_tiles<Q4_KTile>,
                                           rows_tiles<Q6_KTile>};

const RowGroups8Kernels& rowgroups8_kernels() {
    if (cpu_has_avx_vnni()) return kRowGroups8AvxVnni;
    if (cpu_has_avx512_vnni()) return kRowGroups8Avx512Vnni;
    return kRowGroups8Avx2;
}

}  // namespace llmopt::kernels::gemm::avx2
