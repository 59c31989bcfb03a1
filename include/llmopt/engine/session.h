// One sequence decoding on its own: a model, a KV cache sized for a context, and the tokens so far.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "llmopt/kv/kv_cache.h"
#include "llmopt/model/model.h"

namespace llmopt {

class Session {
public:
    // n_ctx: the most tokens this sequence may hold; n_batch: prefill chunk size; kv_type: how
    // keys and values are stored (f32, f16 or q8_0).
    Session(Model& model, int32_t n_ctx, int32_t n_batch = 512, DType kv_type = DType::kF32);

    // Appends tokens (in chunks of n_batch) and returns the logits after the last one.
    // Throws InputError when the context would overflow.
    std::span<float> feed(std::span<const int32_t> tokens);
    // Logits for every fed token (n_tokens, n_vocab): used by perplexity and KL evaluation.
    std::vector<float> feed_all_logits(std::span<const int32_t> tokens);

    // Forgets everything after the first n tokens (kept KV stays valid: a chat turn reuses it).
    void truncate(int32_t n);
    const std::vector<int32_t>& tokens() const { return tokens_; }
    int32_t n_ctx() const { return n_ctx_; }
    Model& model() { return model_; }

private:
    void run_chunk(std::span<const int32_t> chunk, bool all_logits, float* logits);

    Model& model_;
    int32_t n_ctx_;
    int32_t n_batch_;
    KvCache kv_;
    std::vector<int32_t> block_table_;
    std::vector<int32_t> tokens_;
    std::vector<float> logits_;  // (n_vocab) after the last fed token
    Batch batch_;
};

}  // namespace llmopt
