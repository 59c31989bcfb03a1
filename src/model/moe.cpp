// Mixture-of-experts FFN: each token goes to its top-k experts, outputs mixed by router weight.
#include <algorithm>
#include <numeric>
#include <vector>

#include "llmopt/kernels/matmul.h"
#include "llmopt/kernels/ops.h"
#include "llmopt/model/model.h"

namespace llmopt {

// Mixtral routing: softmax over the top-k router logits (equal to softmax over all experts,
// then renormalizing the chosen k). Tokens are grouped per expert so each expert's weights are
// streamed once per batch; each token's result depends only on its own row.
void Model::moe_ffn(const LayerWeights& L, int32_t n) {
    const ModelConfig& c = config();
    const int32_t E = c.n_experts, K = c.n_experts_used, dim = c.dim, ffn = c.ffn_dim;
    kernels::matmul(L.router, xn_.data(), n, router_.data(), act_scratch_);

    std::vector<std::vector<std::pair<int32_t, float>>> routed(E);  // expert -> (token, weight)
    std::vector<int32_t> order(E);
    for (int32_t t = 0; t < n; ++t) {
        const float* logits = &router_[size_t(t) * E];
        std::iota(order.begin(), order.end(), 0);
        std::partial_sort(order.begin(), order.begin() + K, order.end(), [&](int32_t a, int32_t b) {
            return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
        });
        std::vector<float> top(K);
        for (int32_t k = 0; k < K; ++k) top[k] = logits[order[k]];
        kernels::softmax(top.data(), K);
        for (int32_t k = 0; k < K; ++k) routed[order[k]].push_back({t, top[k]});
    }

    std::fill(out_.begin(), out_.begin() + size_t(n) * dim, 0.0f);
    std::vector<float> expert_out;
    for (int32_t e = 0; e < E; ++e) {
        const auto& rows = routed[e];
        if (rows.empty()) continue;
        const int32_t m = static_cast<int32_t>(rows.size());
        for (int32_t i = 0; i < m; ++i)
            std::copy_n(&xn_[size_t(rows[i].first) * dim], dim, &gathered_[size_t(i) * dim]);
        const kernels::MatmulOutput gate_up[] = {{&L.expert_gate[e], gate_.data()},
                                                 {&L.expert_up[e], up_.data()}};
        kernels::matmul(gate_up, gathered_.data(), m, act_scratch_);
        kernels::silu_mul(gate_.data(), up_.data(), int64_t(m) * ffn);
        expert_out.resize(size_t(m) * dim);
        kernels::matmul(L.expert_down[e], gate_.data(), m, expert_out.data(), act_scratch_);
        for (int32_t i = 0; i < m; ++i) {
            float* dst = &out_[size_t(rows[i].first) * dim];
            const float w = rows[i].second;
            for (int32_t j = 0; j < dim; ++j) dst[j] += w * expert_out[size_t(i) * dim + j];
        }
    }
}

}  // namespace llmopt
