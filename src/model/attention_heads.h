// Private: attention of one token's query heads that share a KV head, over that token's
// sequence in the paged cache. Model::attend deals these jobs to the threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "llmopt/kv/kv_cache.h"

namespace llmopt {

// Query heads per KV head that one call handles; larger groups are split by the caller.
constexpr int32_t kMaxHeadGroup = 16;

struct HeadJob {
    const float* q;         // (head_dim)
    float* out;             // (head_dim)
    std::span<const int32_t> table;
    int32_t n_past;         // attends to positions [0, n_past)
    int32_t n_masked;       // positions [0, n_masked) are scored, then weigh nothing
    size_t head_offset;     // bytes into each cached row
};

// jobs[0, heads) share table, n_past, n_masked and head_offset. `simd` picks the AVX2 kernels
// (only when kernels::cpu_has_avx2()); false runs the scalar reference. Each head's result
// depends only on its query, the cache and n_past: never on the other heads or threads.
void attend_heads(const KvCache& kv, int32_t layer, const HeadJob* jobs, int32_t heads, float scale,
                  bool simd);

}  // namespace llmopt
