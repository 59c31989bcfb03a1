// Q4_0 / Q8_0 / Q4_K / Q6_K weights regrouped 8 rows at a time (kRowGroups8): the AVX-VNNI
// kernels (vpdpbusd, VEX-encoded).
#define LLMOPT_ROWGROUPS8_TARGET __attribute__((target("avx2,fma,f16c,avxvnni")))
#define LLMOPT_ROWGROUPS8_DPBUSD _mm256_dpbusd_avx_epi32
#define LLMOPT_ROWGROUPS8_DPWSSD _mm256_dpwssd_avx_epi32
#include "gemm_rowgroups8_k_tiles.h"

namespace llmopt::kernels::gemm::avx2 {

const RowGroups8Kernels kRowGroups8AvxVnni = {"avx-vnni", rows_tiles<BlockTile<Q4_0Dots>>,
                                              rows_tiles<BlockTile<Q8_0Dots>>, rows_tiles<Q4_KTile>,
                                              rows_tiles<Q6_KTile>};

}  // namespace llmopt::kernels::gemm::avx2
