// Causal attention of each batch token over its own sequence's cached keys and values.
#include <algorithm>
#include <atomic>
#include <cmath>

#include "attention_heads.h"
#include "llmopt/kernels/quant.h"
#include "llmopt/model/model.h"
#include "llmopt/util/thread_pool.h"

namespace llmopt {
namespace {

// Positions of token t's sequence that it must not attend to. A padding token itself (inside
// the masked prefix) attends over the padding before it, so its values stay finite.
int32_t masked_prefix(const Batch& batch, int32_t t) {
    if (batch.masked_prefix.empty()) return 0;
    const int32_t prefix = batch.masked_prefix[batch.seq[t]];
    return batch.positions[t] >= prefix ? prefix : 0;
}

}  // namespace

void Model::attend(int32_t l, const Batch& batch, const KvCache& kv) {
    const ModelConfig& c = config();
    const int32_t n = batch.size(), hd = c.head_dim;
    const int32_t group = c.n_heads / c.n_kv_heads;
    const float scale = 1.0f / std::sqrt(float(hd));
    int64_t work = 0;  // multiply-adds over all heads
    for (int32_t t = 0; t < n; ++t) work += int64_t(batch.positions[t] + 1) * c.n_heads * hd * 2;
    // Less work than this is done sooner on one thread than shared (see matmul's threshold;
    // this one is lower because each of attention's multiply-adds carries a score, a softmax
    // term and a scattered KV read).
    constexpr int64_t kMinParallelWork = 1 << 18;
    const bool simd = kernels::cpu_has_avx2();
    ThreadPool& pool = ThreadPool::global();
    std::atomic<int32_t> next_unit{0};
    pool.run(work >= kMinParallelWork ? pool.size() : 1, [&](int32_t id, int32_t nt) {
        // A job is one token's query heads that share a KV head (up to kMaxHeadGroup of them).
        const int32_t parts = (group + kMaxHeadGroup - 1) / kMaxHeadGroup,
                      per_job = (group + parts - 1) / parts;
        const int32_t jobs_per_token = c.n_kv_heads * parts;
        auto run_job = [&](int32_t t, int32_t part) {
            const int32_t h0 = part / parts * group + part % parts * per_job;
            const int32_t h1 = std::min(h0 + per_job, (part / parts + 1) * group);
            HeadJob jobs[kMaxHeadGroup];
            for (int32_t h = h0; h < h1; ++h)
                jobs[h - h0] = {&q_[size_t(t) * c.q_dim() + size_t(h) * hd],
                                &att_[size_t(t) * c.q_dim() + size_t(h) * hd],
                                batch.block_tables[batch.seq[t]], batch.positions[t] + 1,
                                masked_prefix(batch, t),
                                kv.head_offset(h / group)};
            attend_heads(kv, l, jobs, h1 - h0, scale, simd);
        };
        // Each thread takes the next token, with all its jobs, until none is left: a token's KV
        // heads share each cached row, which one core then reads whole, and taking them as they
        // come balances tokens of different depths. The last tokens go first (in a prefill chunk
        // they attend to the most positions). With fewer tokens than threads, the jobs are taken
        // one by one instead.
        const bool whole_tokens = n >= nt;
        const int32_t units = whole_tokens ? n : n * jobs_per_token;
        for (int32_t u = next_unit.fetch_add(1); u < units; u = next_unit.fetch_add(1)) {
            const int32_t last_first = units - 1 - u;
            if (whole_tokens)
                for (int32_t part = 0; part < jobs_per_token; ++part) run_job(last_first, part);
            else
                run_job(last_first / jobs_per_token, last_first % jobs_per_token);
        }
    });
}

}  // namespace llmopt
