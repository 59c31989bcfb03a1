// Q4_0 / Q8_0 / Q4_K / Q6_K weights regrouped 8 rows at a time (kRowGroups8): the AVX2 kernels,
// and which set of kernels this CPU runs.
#include <cstdlib>
#include <cstring>

#include "quant_avx2.h"

#define LLMOPT_ROWGROUPS8_TARGET LLMOPT_AVX2
#include "gemm_rowgroups8_k_tiles.h"

namespace llmopt::kernels::gemm::avx2 {

const RowGroups8Kernels kRowGroups8Avx2 = {"avx2", rows_tiles<BlockTile<Q4_0Dots>>,
                                           rows_tiles<BlockTile<Q8_0Dots>>, rows_tiles<Q4_KTile>,
                                           rows_tiles<Q6_KTile>};

bool cpu_has_avx_vnni() {
    static const bool has = __builtin_cpu_supports("avxvnni");
    return has;
}

bool cpu_has_avx512_vnni() {
    static const bool has =
        __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl");
    return has;
}

namespace {

// LLMOPT_NO_VNNI=1 keeps a VNNI CPU on the AVX2 kernels (those of an AVX2-only CPU), to compare
// the two side by side in one binary.
const RowGroups8Kernels& pick_rowgroups8_kernels() {
    const char* no_vnni = std::getenv("LLMOPT_NO_VNNI");
    if (no_vnni != nullptr && std::strcmp(no_vnni, "1") == 0) return kRowGroups8Avx2;
    if (cpu_has_avx_vnni()) return kRowGroups8AvxVnni;
    if (cpu_has_avx512_vnni()) return kRowGroups8Avx512Vnni;
    return kRowGroups8Avx2;
}

}  // namespace

const RowGroups8Kernels& rowgroups8_kernels() {
    static const RowGroups8Kernels& kernels = pick_rowgroups8_kernels();
    return kernels;
}

}  // namespace llmopt::kernels::gemm::avx2
