// Turns a logits row into the next token: penalties, then top-k / top-p / min-p, temperature.
#pragma once

#include <cstddef>
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
    int32_t repeat_last_n = 64;      // -1: whole history, 0: off
    float frequency_penalty = 0.0f;  // OpenAI semantics over the same window
    float presence_penalty = 0.0f;
    uint64_t seed = 0;
};

class Sampler {
public:
    // Throws InputError (via validate) for out-of-range parameters.
    Sampler(const SamplingParams& params, int32_t vocab_size);

    // Throws InputError naming the first parameter outside its allowed range.
    static void validate(const SamplingParams& params);

    // Picks a token from logits (modified in place by penalties). `history` is every token seen
    // so far (prompt + generated). Deterministic for a given seed and call sequence.
    int32_t sample(std::span<float> logits, std::span<const int32_t> history);

    // Probabilities (not logs) of the distribution the last token was drawn from, one per
    // vocabulary entry, zero for filtered tokens; for logprobs reporting. In greedy mode it is
    // the softmax of the penalized logits, so the reported probabilities stay informative; that
    // softmax is computed on first request, as greedy decoding rarely needs it.
    const std::vector<float>& last_probabilities() const;

private:
    struct Candidate {
        float logit;
        int32_t id;
    };

    void apply_penalties(std::span<float> logits, std::span<const int32_t> history);
    int32_t sample_greedy(std::span<const float> logits);
    size_t select_top_k(std::span<const float> logits);
    size_t gather_nucleus(std::span<const float> logits, float max_logit, float floor,
                          double& total);
    size_t gather(std::span<const float> logits, float max_logit, size_t last_bucket, float floor);
    void select_best(size_t want, size_t count);
    size_t keep_top_p(size_t count, float max_logit, double total) const;
    int32_t draw(size_t count, float max_logit);

    SamplingParams params_;
    int32_t vocab_size_;
    std::mt19937_64 rng_;
    // (vocab_size) the published distribution; after a greedy step it holds the sanitized
    // logits until last_probabilities() turns them into probabilities.
    mutable std::vector<float> probs_;
    mutable bool probs_pending_ = false;
    float greedy_max_ = 0;
    std::vector<int32_t> counts_;        // (vocab_size) window occurrences; all zero between calls
    std::vector<Candidate> candidates_;  // (vocab_size) survivors of the filters in [0, count)
    std::vector<double> bucket_mass_;    // (kBuckets) unnormalized probability per logit bucket
};

}  // namespace llmopt
