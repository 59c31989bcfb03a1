// Sampler: greedy, seeding, each filter on hand-made distributions, penalties, draw statistics.
#include "llmopt/engine/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "llmopt/util/error.h"

namespace llmopt {
namespace {

// Every filter and penalty off, temperature 1: draws follow softmax(logits) exactly.
SamplingParams plain_params(uint64_t seed = 1) {
    SamplingParams p;
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = seed;
    return p;
}

std::vector<float> logits_of(const std::vector<double>& probs) {
    std::vector<float> logits;
    for (const double p : probs) logits.push_back(static_cast<float>(std::log(p)));
    return logits;
}

std::vector<float> random_logits(size_t n, uint32_t seed, float lo, float hi) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(lo, hi);
    std::vector<float> logits(n);
    for (float& l : logits) l = dist(rng);
    return logits;
}

// Runs one step on a copy of `logits` and returns the published distribution.
std::vector<float> distribution_after(const SamplingParams& params, std::vector<float> logits) {
    Sampler sampler(params, static_cast<int32_t>(logits.size()));
    sampler.sample(logits, {});
    return sampler.last_probabilities();
}

// Probabilities are computed in float from float logits: a few ulps of relative error.
constexpr float kProbTolerance = 1e-6f;

void expect_distribution(const std::vector<float>& actual, const std::vector<double>& expected) {
    ASSERT_EQ(actual.size(), expected.size());
    for (size_t i = 0; i < expected.size(); ++i) {
        if (expected[i] == 0) {
            EXPECT_EQ(actual[i], 0.0f) << "token " << i << " should be filtered";
        } else {
            EXPECT_NEAR(actual[i], expected[i], kProbTolerance) << "token " << i;
        }
    }
}

TEST(Sampler, GreedyPicksArgmax) {
    SamplingParams params = plain_params();
    params.temperature = 0.0f;
    std::vector<float> logits = {0.1f, 3.0f, -1.0f, 2.9f};
    Sampler sampler(params, 4);
    EXPECT_EQ(sampler.sample(logits, {}), 1);

    // Greedy still publishes the model's distribution for logprobs.
    const double z = std::exp(0.1) + std::exp(3.0) + std::exp(-1.0) + std::exp(2.9);
    const std::vector<double> expected = {std::exp(0.1) / z, std::exp(3.0) / z,
                                          std::exp(-1.0) / z, std::exp(2.9) / z};
    expect_distribution(sampler.last_probabilities(), expected);
    // Computed on first request; asking again must not transform it twice.
    expect_distribution(sampler.last_probabilities(), expected);
}

TEST(Sampler, GreedyTakesFirstOfTiedMaxima) {
    SamplingParams params = plain_params();
    params.temperature = 0.0f;
    std::vector<float> logits = {1.0f, 5.0f, 5.0f, 2.0f};
    Sampler sampler(params, 4);
    EXPECT_EQ(sampler.sample(logits, {}), 1);
}

TEST(Sampler, SameSeedSameSequenceDifferentSeedDiffers) {
    const std::vector<float> logits = random_logits(1000, 7, -2.0f, 2.0f);
    const auto run = [&](uint64_t seed) {
        SamplingParams params;  // the defaults: every filter active
        params.seed = seed;
        params.top_k = 200;
        Sampler sampler(params, 1000);
        std::vector<int32_t> tokens;
        for (int i = 0; i < 200; ++i) {
            std::vector<float> row = logits;
            tokens.push_back(sampler.sample(row, tokens));
        }
        return tokens;
    };
    EXPECT_EQ(run(42), run(42));
    EXPECT_NE(run(42), run(43));
}

TEST(Sampler, TopKOneEqualsGreedy) {
    SamplingParams greedy_params = plain_params();
    greedy_params.temperature = 0.0f;
    SamplingParams top1_params = plain_params(99);
    top1_params.top_k = 1;
    top1_params.temperature = 1.5f;
    Sampler greedy(greedy_params, 500);
    Sampler top1(top1_params, 500);
    for (uint32_t row = 0; row < 20; ++row) {
        std::vector<float> a = random_logits(500, row, -5.0f, 5.0f);
        std::vector<float> b = a;
        const int32_t expected = greedy.sample(a, {});
        EXPECT_EQ(top1.sample(b, {}), expected);
        EXPECT_EQ(top1.last_probabilities()[expected], 1.0f);
    }
}

TEST(Sampler, TopKKeepsTheKBest) {
    SamplingParams params = plain_params();
    params.top_k = 2;
    expect_distribution(distribution_after(params, logits_of({0.1, 0.2, 0.3, 0.4})),
                        {0, 0, 0.3 / 0.7, 0.4 / 0.7});
}

// Equal logits rank by id, also across the buffer compactions of a long row.
TEST(Sampler, TopKBreaksTiesByLowestId) {
    SamplingParams params = plain_params();
    params.top_k = 3;
    std::vector<double> expected(20000, 0.0);
    expected[0] = expected[1] = expected[2] = 1.0 / 3;
    expect_distribution(distribution_after(params, std::vector<float>(20000, 0.5f)), expected);
}

// Hand-made distribution for the nucleus and min-p tests, deliberately not in sorted order.
const std::vector<double> kMixed = {0.1, 0.5, 0.15, 0.25};

TEST(Sampler, TopPKeepsSmallestPrefixReachingP) {
    SamplingParams params = plain_params();
    params.top_p = 0.7f;  // 0.5 < 0.7 <= 0.5 + 0.25
    expect_distribution(distribution_after(params, logits_of(kMixed)), {0, 0.5 / 0.75, 0, 0.25 / 0.75});
    params.top_p = 0.8f;  // 0.75 < 0.8 <= 0.9
    expect_distribution(distribution_after(params, logits_of(kMixed)),
                        {0, 0.5 / 0.9, 0.15 / 0.9, 0.25 / 0.9});
    params.top_p = 0.3f;  // the best token alone already reaches p
    expect_distribution(distribution_after(params, logits_of(kMixed)), {0, 1, 0, 0});
}

TEST(Sampler, MinPIsRelativeToTheTopProbability) {
    SamplingParams params = plain_params();
    params.min_p = 0.25f;  // threshold 0.125: drops only 0.1
    expect_distribution(distribution_after(params, logits_of(kMixed)),
                        {0, 0.5 / 0.9, 0.15 / 0.9, 0.25 / 0.9});
    params.min_p = 0.6f;  // threshold 0.3: only the top token
    expect_distribution(distribution_after(params, logits_of(kMixed)), {0, 1, 0, 0});
}

TEST(Sampler, TopPSeesTheDistributionRenormalizedAfterTopK) {
    SamplingParams params = plain_params();
    params.top_p = 0.5f;
    const std::vector<float> logits = logits_of({0.4, 0.3, 0.2, 0.1});
    // Alone, 0.4 < 0.5 needs a second token ...
    expect_distribution(distribution_after(params, logits), {0.4 / 0.7, 0.3 / 0.7, 0, 0});
    // ... after top-k=2 the top token has 4/7 > 0.5 on its own.
    params.top_k = 2;
    expect_distribution(distribution_after(params, logits), {1, 0, 0, 0});
}

TEST(Sampler, TemperatureScalesTheSurvivors) {
    SamplingParams params = plain_params();
    const std::vector<double> p = {0.1, 0.2, 0.3, 0.4};
    params.temperature = 0.5f;  // p^2, renormalized
    expect_distribution(distribution_after(params, logits_of(p)),
                        {0.01 / 0.3, 0.04 / 0.3, 0.09 / 0.3, 0.16 / 0.3});
    params.temperature = 2.0f;  // sqrt(p), renormalized
    const double z = std::sqrt(0.1) + std::sqrt(0.2) + std::sqrt(0.3) + std::sqrt(0.4);
    expect_distribution(distribution_after(params, logits_of(p)),
                        {std::sqrt(0.1) / z, std::sqrt(0.2) / z, std::sqrt(0.3) / z,
                         std::sqrt(0.4) / z});
}

// Draw counts are Binomial(n, p_i): mean n p_i, sigma sqrt(n p_i (1 - p_i)). A 5-sigma band
// is exceeded with probability ~6e-7 per token, so a failure means a biased draw.
TEST(Sampler, DrawFrequenciesMatchTheDistribution) {
    const std::vector<double> p = {0.1, 0.2, 0.3, 0.4};
    constexpr int kDraws = 20000;
    Sampler sampler(plain_params(12345), 4);
    std::vector<int> counts(4, 0);
    for (int i = 0; i < kDraws; ++i) {
        std::vector<float> logits = logits_of(p);
        ++counts.at(sampler.sample(logits, {}));
    }
    for (size_t i = 0; i < p.size(); ++i) {
        const double mean = kDraws * p[i];
        const double sigma = std::sqrt(kDraws * p[i] * (1 - p[i]));
        EXPECT_LE(std::abs(counts[i] - mean), 5 * sigma)
            << "token " << i << ": " << counts[i] << " draws, expected " << mean;
    }
}

TEST(Sampler, PenaltiesFollowTheExactFormulas) {
    SamplingParams params = plain_params();
    params.temperature = 0.0f;
    params.repeat_penalty = 1.5f;
    params.frequency_penalty = 0.25f;
    params.presence_penalty = 0.5f;
    params.repeat_last_n = 3;
    const std::vector<float> original = {2.0f, -2.0f, 1.0f, 0.5f, 3.0f};
    // Window = last 3 = {0, 1, 0}: token 0 twice, token 1 once; token 3 is outside it and the
    // out-of-vocabulary ids are ignored.
    const std::vector<int32_t> history = {3, -1, 99, 0, 1, 0};

    // Positive logits are divided by the repeat penalty, negative ones multiplied; then
    // count * frequency + presence is subtracted.
    std::vector<float> expected = original;
    expected[0] = 2.0f / 1.5f - (2 * 0.25f + 0.5f);
    expected[1] = -2.0f * 1.5f - (1 * 0.25f + 0.5f);

    Sampler sampler(params, 5);
    std::vector<float> logits = original;
    EXPECT_EQ(sampler.sample(logits, history), 4);
    for (size_t i = 0; i < logits.size(); ++i) EXPECT_FLOAT_EQ(logits[i], expected[i]) << i;

    // Counts are reset between calls: the same step gives the same result.
    logits = original;
    sampler.sample(logits, history);
    for (size_t i = 0; i < logits.size(); ++i) EXPECT_FLOAT_EQ(logits[i], expected[i]) << i;
}

TEST(Sampler, PenaltyWindowLengths) {
    SamplingParams params = plain_params();
    params.temperature = 0.0f;
    params.repeat_penalty = 2.0f;
    const std::vector<int32_t> history = {3, 0};
    const std::vector<float> original = {2.0f, 1.0f, 1.0f, 4.0f};

    params.repeat_last_n = -1;  // whole history
    std::vector<float> logits = original;
    Sampler(params, 4).sample(logits, history);
    EXPECT_EQ(logits, (std::vector<float>{1.0f, 1.0f, 1.0f, 2.0f}));

    params.repeat_last_n = 0;  // off
    logits = original;
    Sampler(params, 4).sample(logits, history);
    EXPECT_EQ(logits, original);
}

TEST(Sampler, PenaltiesChangeTheGreedyChoice) {
    SamplingParams params = plain_params();
    params.temperature = 0.0f;
    params.repeat_penalty = 1.2f;  // 1.0 / 1.2 = 0.83 < 0.9
    std::vector<float> logits = {1.0f, 0.9f};
    const std::vector<int32_t> history = {0};
    EXPECT_EQ(Sampler(params, 2).sample(logits, history), 1);
}

TEST(Sampler, NonFiniteLogitsDoNotBreakSampling) {
    constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
    constexpr float kInf = std::numeric_limits<float>::infinity();
    SamplingParams params;  // the defaults: every filter active
    for (const float temperature : {0.0f, 0.8f}) {
        params.temperature = temperature;
        std::vector<float> logits = {kNan, 1.0f, kInf, -kInf};
        Sampler sampler(params, 4);
        EXPECT_EQ(sampler.sample(logits, {}), 2);
        for (const float p : sampler.last_probabilities()) EXPECT_TRUE(std::isfinite(p));

        std::vector<float> all_nan(4, kNan);
        const int32_t token = sampler.sample(all_nan, {});
        EXPECT_TRUE(token >= 0 && token < 4);
    }
}

// The filters in llama.cpp's order, written directly on a fully sorted copy: the reference for
// the sampler's partial sorts and its min-p-before-top-p shortcut.
std::vector<double> reference_distribution(const std::vector<float>& logits,
                                           const SamplingParams& p) {
    std::vector<size_t> order(logits.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return logits[a] > logits[b]; });
    const double top = logits[order[0]];
    size_t keep = order.size();
    if (p.top_k > 0) keep = std::min(keep, static_cast<size_t>(p.top_k));
    if (p.top_p < 1) {
        double z = 0;
        for (size_t i = 0; i < keep; ++i) z += std::exp(logits[order[i]] - top);
        double mass = 0;
        for (size_t i = 0; i < keep; ++i) {
            mass += std::exp(logits[order[i]] - top) / z;
            if (mass >= p.top_p) {
                keep = i + 1;
                break;
            }
        }
    }
    size_t above_min_p = 0;
    while (above_min_p < keep && std::exp(logits[order[above_min_p]] - top) >= p.min_p) {
        ++above_min_p;
    }
    keep = above_min_p;
    std::vector<double> probs(logits.size(), 0.0);
    double z = 0;
    for (size_t i = 0; i < keep; ++i) z += std::exp((logits[order[i]] - top) / p.temperature);
    for (size_t i = 0; i < keep; ++i) {
        probs[order[i]] = std::exp((logits[order[i]] - top) / p.temperature) / z;
    }
    return probs;
}

void expect_matches_reference(const SamplingParams& params, const std::vector<float>& logits) {
    const std::vector<double> expected = reference_distribution(logits, params);
    const std::vector<float> actual = distribution_after(params, logits);
    size_t kept = 0;
    for (size_t i = 0; i < expected.size(); ++i) {
        kept += expected[i] > 0;
        ASSERT_EQ(actual[i] > 0, expected[i] > 0) << "token " << i;
        ASSERT_NEAR(actual[i], expected[i], 1e-5 * expected[i] + 1e-9) << "token " << i;
    }
    EXPECT_GT(kept, 0u);
}

// A vocabulary of Qwen's size, nearly flat so the nucleus spans tens of thousands of tokens and
// the sorted prefix has to grow many times.
TEST(Sampler, LargeVocabularyMatchesReference) {
    constexpr size_t kVocab = 151936;
    const std::vector<float> flat = random_logits(kVocab, 3, 0.0f, 2.0f);
    const std::vector<float> peaked = random_logits(kVocab, 4, -10.0f, 10.0f);

    SamplingParams params = plain_params();
    params.top_p = 0.5f;
    expect_matches_reference(params, flat);
    expect_matches_reference(params, peaked);

    params.min_p = 0.3f;
    params.temperature = 0.7f;
    expect_matches_reference(params, flat);
    expect_matches_reference(params, peaked);

    SamplingParams defaults;
    expect_matches_reference(defaults, flat);
    expect_matches_reference(defaults, peaked);

    // A wide top-k spans many histogram buckets of a flat row.
    SamplingParams wide_top_k = plain_params();
    wide_top_k.top_k = 5000;
    expect_matches_reference(wide_top_k, flat);
    wide_top_k.top_p = 0.9f;
    expect_matches_reference(wide_top_k, flat);

    // Masked tokens (-inf) stretch the logit range far beyond what the buckets resolve.
    std::vector<float> masked = peaked;
    for (size_t i = 0; i < kVocab; i += 2) masked[i] = -std::numeric_limits<float>::infinity();
    expect_matches_reference(defaults, masked);
    expect_matches_reference(wide_top_k, masked);
    params.min_p = 0.0f;
    expect_matches_reference(params, masked);
}

TEST(Sampler, InvalidParamsThrowInputErrorNamingTheParameter) {
    struct Case {
        const char* name;
        std::function<void(SamplingParams&)> spoil;
    };
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const std::vector<Case> cases = {
        {"temperature", [](SamplingParams& p) { p.temperature = -0.1f; }},
        {"temperature", [&](SamplingParams& p) { p.temperature = nan; }},
        {"top_p", [](SamplingParams& p) { p.top_p = 0.0f; }},
        {"top_p", [](SamplingParams& p) { p.top_p = 1.01f; }},
        {"min_p", [](SamplingParams& p) { p.min_p = -0.01f; }},
        {"min_p", [](SamplingParams& p) { p.min_p = 1.5f; }},
        {"repeat_penalty", [](SamplingParams& p) { p.repeat_penalty = 0.0f; }},
        {"repeat_penalty", [&](SamplingParams& p) { p.repeat_penalty = nan; }},
        {"repeat_last_n", [](SamplingParams& p) { p.repeat_last_n = -2; }},
        {"frequency_penalty", [](SamplingParams& p) { p.frequency_penalty = 2.5f; }},
        {"presence_penalty", [](SamplingParams& p) { p.presence_penalty = -2.5f; }},
    };
    for (const Case& c : cases) {
        SamplingParams params;
        c.spoil(params);
        try {
            Sampler::validate(params);
            ADD_FAILURE() << c.name << ": accepted";
        } catch (const InputError& e) {
            EXPECT_NE(std::string(e.what()).find(c.name), std::string::npos) << e.what();
        }
        EXPECT_THROW(Sampler(params, 10), InputError) << c.name;
    }
}

TEST(Sampler, BoundaryParamsAreValid) {
    SamplingParams params;
    params.temperature = 0.0f;
    params.top_p = 1.0f;
    params.min_p = 1.0f;
    params.repeat_last_n = -1;
    params.frequency_penalty = -2.0f;
    params.presence_penalty = 2.0f;
    params.top_k = -1;
    EXPECT_NO_THROW(Sampler::validate(params));
    params.min_p = 0.0f;
    params.frequency_penalty = 2.0f;
    params.presence_penalty = -2.0f;
    EXPECT_NO_THROW(Sampler::validate(params));
}

}  // namespace
}  // namespace llmopt
