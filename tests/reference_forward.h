// An independent, plain double-precision forward pass used as the model's reference in tests.
#pragma once

#include <cstdint>
#include <vector>

namespace llmopt {
class GgufFile;
}

namespace llmopt::test {

// Logits (n_tokens, n_vocab) for every position of `tokens` as one sequence, recomputing full
// causal attention without a cache. Handles llama / qwen2 (biases, NeoX RoPE) and MoE.
std::vector<double> reference_logits(const GgufFile& model, const std::vector<int32_t>& tokens);

}  // namespace llmopt::test
