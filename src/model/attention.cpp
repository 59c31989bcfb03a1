// Causal attention of each batch token over its own sequence's cached keys and values.
#include <algorithm>
#include <cmath>
#include <vector>

#include "llmopt/model/model.h"

namespace llmopt {

// For every (token, head): one pass over positions 0..pos with an online softmax (running max
// and sum, as flash attention does), so no score buffer as long as the context is needed.
void Model::attend(int32_t l, const Batch& batch, const KvCache& kv) {
    const ModelConfig& c = config();
    const int32_t n = batch.size();
    const int32_t hd = c.head_dim, kv_dim = c.kv_dim(), bs = kv.block_size();
    const int32_t group = c.n_heads / c.n_kv_heads;
    const float scale = 1.0f / std::sqrt(float(hd));
#pragma omp parallel
    {
        std::vector<float> acc(hd);
#pragma omp for schedule(static)
        for (int64_t job = 0; job < int64_t(n) * c.n_heads; ++job) {
            const int32_t t = int32_t(job / c.n_heads), h = int32_t(job % c.n_heads);
            const float* q = &q_[size_t(t) * c.q_dim() + size_t(h) * hd];
            const size_t head_offset = size_t(h / group) * hd;
            const auto table = batch.block_tables[batch.seq[t]];
            std::fill(acc.begin(), acc.end(), 0.0f);
            float max_score = -INFINITY, sum = 0.0f;
            for (int32_t p = 0; p <= batch.positions[t]; ++p) {
                const size_t at = size_t(p % bs) * kv_dim + head_offset;
                const float* k = kv.keys(l, table[p / bs]) + at;
                const float* v = kv.values(l, table[p / bs]) + at;
                float s = 0.0f;
                for (int32_t i = 0; i < hd; ++i) s += q[i] * k[i];
                s *= scale;
                if (s > max_score) {
                    const float correction = std::exp(max_score - s);
                    for (int32_t i = 0; i < hd; ++i) acc[i] *= correction;
                    sum *= correction;
                    max_score = s;
                }
                const float w = std::exp(s - max_score);
                sum += w;
                for (int32_t i = 0; i < hd; ++i) acc[i] += w * v[i];
            }
            float* out = &att_[size_t(t) * c.q_dim() + size_t(h) * hd];
            for (int32_t i = 0; i < hd; ++i) out[i] = acc[i] / sum;
        }
    }
}

}  // namespace llmopt
