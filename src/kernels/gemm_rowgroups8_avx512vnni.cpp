// Q4_0 / Q8_0 / Q4_K / Q6_K weights regrouped 8 rows at a time (kRowGroups8): the kernels for
// CPUs with AVX512-VNNI but not AVX-VNNI (AMD Zen 4, Intel Cascade Lake to Ice Lake). The same
// 256-bit code as gemm_rowgroups8_vnni.cpp; only vpdpbusd's encoding differs (EVEX).
#define LLMOPT_ROWGROUPS8_TARGET __attribute__((target("avx2,fma,f16c,avx512vl,avx512vnni")))
#define LLMOPT_ROWGROUPS8_DPBUSD _mm256_dpbusd_epi32
#define LLMOPT_ROWGROUPS8_DPWSSD _mm256_dpwssd_epi32
#include "gemm_rowgroups8_k_tiles.h"

namespace llmopt::kernels::gemm::avx2 {

const RowGroups8Kernels kRowGroups8Avx512Vnni = {"avx512-vnni", rows_tiles<BlockTile<Q4_0Dots>>,
                                                 rows_tiles<BlockTile<Q8_0Dots>>,
                                                 rows_tiles<Q4_KTile>, rows_tiles<Q6_KTile>};

}  // namespace llmopt::kernels::gemm::avx2
