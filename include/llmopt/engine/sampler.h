// Turns a logits row into the next token: penalties, then top-k / top-p / min-p, temperature.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace llmopt {

struct SamplingParams {
    float temperature = 0.8f;  // 0 = greedy
    int32_t top_k = 40;        // <= 0: off
    float top_p = 0.95f;       // 1: off
    float min_p = 0.05f;       // 0: off
    float repeat_penalty = 1.0f;     // 1: off (llama.cpp semantics over the last repeat_last_n)
    int32_t repeat_last_n = 64;
    float frequency_penalty = 0.0f;  // OpenAI semantics over the same window
    float presence_penalty = 0.0f;
    uint64_t seed = 0;
};

class Sampler {
public:
    Sampler(const SamplingParams& params, int32_t vocab_size);

    // Picks a token from logits (modified in place by penalties). `history` is every token seen
    // so far (prompt + generated). Deterministic for a given seed and call sequence.
    int32_t sample(std::span<float> logits, std::span<const int32_t> history);

    // Log-probabilities of the final distribution over the vocabulary, for logprobs reporting.
    const std::vector<float>& last_probabilities() const { return probs_; }

private:
    SamplingParams params_;
    int32_t vocab_size_;
    std::mt19937_64 rng_;
    std::vector<float> probs_;
};

}  // namespace llmopt
