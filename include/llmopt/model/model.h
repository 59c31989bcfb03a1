// A decoder-only transformer (Llama, Qwen2, Mixtral-style MoE) and its one forward pass.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "llmopt/kernels/ops.h"
#include "llmopt/kv/kv_cache.h"
#include "llmopt/model/batch.h"
#include "llmopt/model/weights.h"

namespace llmopt {

class Model {
public:
    // Regroups the matrices the matmul reads faster regrouped (regroup_for_matmul) unless told
    // not to; the results are the same either way.
    explicit Model(LoadedWeights weights, bool regroup_weights = true);
    // A GGUF file, or a llama2.c checkpoint (any file without the GGUF magic).
    static Model load(const std::string& path);

    const ModelConfig& config() const { return w_.config; }
    const ModelWeights& weights() const { return w_.weights; }
    const GgufFile* gguf() const { return w_.gguf.get(); }
    KvShape kv_shape() const { return {config().n_layers, config().n_kv_heads, config().head_dim}; }

    // Runs every token of the batch through the model, writing its keys and values into `kv`
    // at its position, and writes one row of n_vocab logits per token marked for output, in
    // batch order, to `logits`. Prefill, decode, chunked prefill and verification are all this.
    void forward(const Batch& batch, KvCache& kv, float* logits);

private:
    void attention_block(int32_t layer, const Batch& batch, KvCache& kv,
                         const kernels::RopeParams& rope);
    void attend(int32_t layer, const Batch& batch, const KvCache& kv);
    void ffn_block(int32_t layer, int32_t n);
    void dense_ffn(const LayerWeights& L, int32_t n);
    void moe_ffn(const LayerWeights& L, int32_t n);
    void resize_workspace(int32_t n);

    LoadedWeights w_;
    // Workspace, reused across calls (no allocation per token once warm).
    std::vector<float> x_;       // (n, dim) residual stream
    std::vector<float> xn_;      // (n, dim) normalized input of a block
    std::vector<float> q_;       // (n, q_dim)
    std::vector<float> k_;       // (n, kv_dim)
    std::vector<float> v_;       // (n, kv_dim)
    std::vector<float> att_;     // (n, q_dim) attention output
    std::vector<float> out_;     // (n, dim) block output before the residual add
    std::vector<float> gate_;    // (n, ffn)
    std::vector<float> up_;      // (n, ffn)
    std::vector<float> router_;  // (n, n_experts)
    std::vector<float> gathered_;  // (n, dim) MoE: rows routed to one expert
    std::vector<uint8_t> act_scratch_;
    std::vector<double> rope_inv_freq_;  // (rope_dim/2), fixed by the config
    std::vector<float> rope_cos_, rope_sin_;  // (n, rope_dim/2) angles of the batch's tokens
};

}  // namespace llmopt
