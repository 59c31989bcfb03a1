// Next-token sampling in llama.cpp's default order: penalties, top-k, top-p, min-p, temperature.
#include "llmopt/engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>

#include "llmopt/util/error.h"

namespace llmopt {
namespace {

// NaN breaks the strict weak ordering the sorts need and infinities make `logit - max`
// undefined, so a broken logit (NaN) ranks last and infinities become the largest finite floats.
float sanitize(float logit) {
    constexpr float kLowest = std::numeric_limits<float>::lowest();
    constexpr float kMax = std::numeric_limits<float>::max();
    if (std::isnan(logit)) return kLowest;
    return std::clamp(logit, kLowest, kMax);
}

// The top 53 bits of one draw scaled to [0, 1): unlike std::uniform_real_distribution, the
// result is specified here, so a seed gives the same tokens with every standard library.
double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

// Top-p histograms the logits by their distance below the maximum, so that only the buckets
// holding the nucleus reach a sort: the buckets span kBucketSpan nats at 1/32 nat resolution and
// everything further down (probability ratio below e^-32) shares the last one.
constexpr size_t kBuckets = 1024;
constexpr float kBucketSpan = 32.0f;
constexpr float kBucketScale = static_cast<float>(kBuckets) / kBucketSpan;

// Best bucket first. Float subtraction and scaling are monotone, so a bucket never holds a
// logit that ranks above one in an earlier bucket.
size_t bucket_of(float logit, float max_logit) {
    const float position = (max_logit - logit) * kBucketScale;
    // Through int32: a float to size_t conversion compiles to a slow branchy sequence.
    return position < static_cast<float>(kBuckets - 1)
               ? static_cast<size_t>(static_cast<int32_t>(position))
               : kBuckets - 1;
}

// Largest sanitized logit. Eight independent lanes break the dependency chain of a single
// running maximum (3x faster on a 150k row); the comparisons skip NaN, which sanitizes to the
// lowest value anyway.
float find_max(std::span<const float> logits) {
    constexpr size_t kLanes = 8;
    float lanes[kLanes];
    std::fill(lanes, lanes + kLanes, std::numeric_limits<float>::lowest());
    size_t i = 0;
    for (; i + kLanes <= logits.size(); i += kLanes) {
        for (size_t j = 0; j < kLanes; ++j) {
            lanes[j] = logits[i + j] > lanes[j] ? logits[i + j] : lanes[j];
        }
    }
    for (; i < logits.size(); ++i) lanes[0] = logits[i] > lanes[0] ? logits[i] : lanes[0];
    return sanitize(*std::max_element(lanes, lanes + kLanes));
}

void require(bool ok, const char* name, const char* range, double value) {
    if (ok) return;
    std::ostringstream msg;
    msg << "sampling parameter " << name << " must be " << range << " (got " << value << ")";
    throw InputError(msg.str());
}

}  // namespace

void Sampler::validate(const SamplingParams& p) {
    // Written as !(in range) comparisons so that NaN fails every check.
    require(p.temperature >= 0 && std::isfinite(p.temperature), "temperature",
            "a finite number >= 0", p.temperature);
    require(p.top_p > 0 && p.top_p <= 1, "top_p", "in (0, 1]", p.top_p);
    require(p.min_p >= 0 && p.min_p <= 1, "min_p", "in [0, 1]", p.min_p);
    require(p.repeat_penalty > 0 && std::isfinite(p.repeat_penalty), "repeat_penalty",
            "a finite number > 0", p.repeat_penalty);
    require(p.repeat_last_n >= -1, "repeat_last_n", ">= -1 (-1: whole history, 0: off)",
            p.repeat_last_n);
    require(p.frequency_penalty >= -2 && p.frequency_penalty <= 2, "frequency_penalty",
            "in [-2, 2]", p.frequency_penalty);
    require(p.presence_penalty >= -2 && p.presence_penalty <= 2, "presence_penalty", "in [-2, 2]",
            p.presence_penalty);
}

Sampler::Sampler(const SamplingParams& params, int32_t vocab_size)
    : params_(params), vocab_size_(vocab_size), rng_(params.seed) {
    validate(params);
    if (vocab_size <= 0) throw std::invalid_argument("Sampler: vocab_size must be positive");
    probs_.assign(vocab_size, 0.0f);
    counts_.assign(vocab_size, 0);
    candidates_.resize(vocab_size);
    bucket_mass_.resize(kBuckets);
}

int32_t Sampler::sample(std::span<float> logits, std::span<const int32_t> history) {
    // A row of the wrong width is a bug in the caller, not bad input.
    if (logits.size() != static_cast<size_t>(vocab_size_)) {
        throw std::invalid_argument("Sampler::sample: logits row does not match the vocabulary");
    }
    apply_penalties(logits, history);
    probs_pending_ = false;
    if (params_.temperature <= 0) return sample_greedy(logits);

    const size_t n = logits.size();
    const float max_logit = find_max(logits);
    // Min-p keeps logits >= max + log(min_p), i.e. probabilities >= min_p * the top one.
    const float min_p_floor = params_.min_p > 0 ? max_logit + std::log(params_.min_p)
                                                : std::numeric_limits<float>::lowest();
    const bool use_top_p = params_.top_p < 1;
    double total = 0;  // normalizer of the distribution top-p sees
    size_t count = 0;

    if (params_.top_k > 0 && static_cast<size_t>(params_.top_k) < n) {
        count = select_top_k(logits);
        if (use_top_p) {
            for (size_t i = 0; i < count; ++i) total += std::exp(candidates_[i].logit - max_logit);
        }
        // The survivors are sorted, so min-p cuts a suffix.
        while (candidates_[count - 1].logit < min_p_floor) --count;
    } else if (use_top_p) {
        // Min-p is applied while gathering, before top-p rather than after as in the nominal
        // order: both keep a best-first prefix and min-p's threshold is a ratio to the top
        // probability, which top-p's renormalization leaves unchanged, so the cuts commute.
        // Cutting first usually leaves a few dozen candidates to sort instead of the nucleus.
        count = gather_nucleus(logits, max_logit, min_p_floor, total);
    } else {
        count = gather(logits, max_logit, kBuckets - 1, min_p_floor);
    }

    if (use_top_p) count = keep_top_p(count, max_logit, total);
    return draw(count, max_logit);
}

// Leaves the top_k best logits in candidates_[0, top_k), in rank order; returns top_k.
// One pass keeps only logits at or above a threshold; whenever the buffer fills, the best k stay
// and the threshold rises to the k-th. After the first few thousand logits almost nothing passes,
// so the pass costs little more than reading the row.
size_t Sampler::select_top_k(std::span<const float> logits) {
    const size_t k = static_cast<size_t>(params_.top_k);
    const size_t limit = std::max<size_t>(4 * k, 4096);
    float threshold = std::numeric_limits<float>::lowest();
    size_t count = 0;
    for (size_t i = 0; i < logits.size(); ++i) {
        const float logit = sanitize(logits[i]);
        if (logit < threshold) continue;
        candidates_[count++] = {logit, static_cast<int32_t>(i)};
        if (count == limit) {
            select_best(k, count);
            threshold = candidates_[k - 1].logit;
            count = k;
        }
    }
    // At least k logits (n > k) are >= every threshold used, so count >= k here.
    select_best(k, count);
    return k;
}

// Gathers, in rank order, the candidates >= floor from the buckets that hold the top_p nucleus
// of the full distribution, whose normalizer it stores in `total`; returns how many.
size_t Sampler::gather_nucleus(std::span<const float> logits, float max_logit, float floor,
                               double& total) {
    std::fill(bucket_mass_.begin(), bucket_mass_.end(), 0.0);
    total = 0;
    for (const float raw : logits) {
        const float logit = sanitize(raw);
        const float weight = std::exp(logit - max_logit);
        bucket_mass_[bucket_of(logit, max_logit)] += weight;
        total += weight;
    }
    const double target = static_cast<double>(params_.top_p) * total;
    size_t last_bucket = 0;
    for (double mass = 0; last_bucket < kBuckets - 1; ++last_bucket) {
        if ((mass += bucket_mass_[last_bucket]) >= target) break;
    }
    // One bucket of margin: keep_top_p sums in a different order, and rounding must not let it
    // run past the gathered candidates.
    last_bucket = std::min(last_bucket + 1, kBuckets - 1);
    const size_t count = gather(logits, max_logit, last_bucket, floor);
    select_best(count, count);
    return count;
}

void Sampler::apply_penalties(std::span<float> logits, std::span<const int32_t> history) {
    const bool active = params_.repeat_penalty != 1 || params_.frequency_penalty != 0 ||
                        params_.presence_penalty != 0;
    if (!active || params_.repeat_last_n == 0) return;
    size_t window = history.size();
    if (params_.repeat_last_n > 0) {
        window = std::min(static_cast<size_t>(params_.repeat_last_n), window);
    }
    const std::span<const int32_t> recent = history.last(window);
    const auto in_vocab = [this](int32_t t) { return t >= 0 && t < vocab_size_; };

    for (const int32_t t : recent) {
        if (in_vocab(t)) ++counts_[t];
    }
    // Each distinct token is penalized once, on its first occurrence; zeroing its count marks it
    // done and leaves counts_ clean for the next call without touching the whole vocabulary.
    for (const int32_t t : recent) {
        if (!in_vocab(t) || counts_[t] == 0) continue;
        float& logit = logits[t];
        // Dividing a negative logit would raise it, so llama.cpp multiplies those instead.
        logit = logit <= 0 ? logit * params_.repeat_penalty : logit / params_.repeat_penalty;
        logit -= static_cast<float>(counts_[t]) * params_.frequency_penalty +
                 params_.presence_penalty;
        counts_[t] = 0;
    }
}

int32_t Sampler::sample_greedy(std::span<const float> logits) {
    int32_t best = 0;
    float best_logit = std::numeric_limits<float>::lowest();
    for (size_t i = 0; i < logits.size(); ++i) {
        const float logit = sanitize(logits[i]);
        probs_[i] = logit;
        if (logit > best_logit) {  // strict: the first of equal maxima wins
            best_logit = logit;
            best = static_cast<int32_t>(i);
        }
    }
    greedy_max_ = best_logit;
    probs_pending_ = true;
    return best;
}

const std::vector<float>& Sampler::last_probabilities() const {
    if (probs_pending_) {
        double total = 0;
        for (float& p : probs_) {
            p = std::exp(p - greedy_max_);
            total += p;
        }
        const float scale = static_cast<float>(1.0 / total);
        for (float& p : probs_) p *= scale;
        probs_pending_ = false;
    }
    return probs_;
}

// Copies to candidates_ (in id order) every logit in buckets [0, last_bucket] and >= floor;
// returns how many.
size_t Sampler::gather(std::span<const float> logits, float max_logit, size_t last_bucket,
                       float floor) {
    size_t count = 0;
    for (size_t i = 0; i < logits.size(); ++i) {
        const float logit = sanitize(logits[i]);
        if (logit >= floor && bucket_of(logit, max_logit) <= last_bucket) {
            candidates_[count++] = {logit, static_cast<int32_t>(i)};
        }
    }
    return count;
}

// Makes candidates_[0, want) the best `want` of candidates_[0, count), in rank order. Ties
// rank by id, so the order is total and the result is the same whatever selection algorithm the
// standard library uses.
void Sampler::select_best(size_t want, size_t count) {
    const auto ranks_before = [](const Candidate& a, const Candidate& b) {
        return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
    };
    const auto first = candidates_.begin();
    const auto middle = first + static_cast<ptrdiff_t>(want);
    if (want < count) {
        std::nth_element(first, middle, first + static_cast<ptrdiff_t>(count), ranks_before);
    }
    std::sort(first, middle, ranks_before);
}

// Keeps the shortest prefix of the sorted candidates whose probability mass reaches top_p (at
// least one token). `total` is the normalizer of the distribution top-p applies to.
size_t Sampler::keep_top_p(size_t count, float max_logit, double total) const {
    const double target = static_cast<double>(params_.top_p) * total;
    double mass = 0;
    for (size_t i = 0; i < count; ++i) {
        mass += std::exp(candidates_[i].logit - max_logit);
        if (mass >= target) return i + 1;
    }
    return count;
}

// Applies the temperature to the survivors candidates_[0, count), publishes their softmax in
// probs_ and draws one of them.
int32_t Sampler::draw(size_t count, float max_logit) {
    // Subtracting the maximum before dividing keeps the exponent <= 0 (the best token's exactly
    // 0) however small the temperature; a precomputed 1/T could overflow to infinity and 0 * inf
    // is NaN.
    const float temperature = params_.temperature;
    std::fill(probs_.begin(), probs_.end(), 0.0f);
    double total = 0;
    for (size_t i = 0; i < count; ++i) {
        const float weight = std::exp((candidates_[i].logit - max_logit) / temperature);
        probs_[candidates_[i].id] = weight;
        total += weight;
    }
    const double target = uniform01(rng_) * total;
    int32_t chosen = candidates_[count - 1].id;  // if rounding leaves target above the sum
    double mass = 0;
    for (size_t i = 0; i < count; ++i) {
        mass += probs_[candidates_[i].id];
        if (mass > target) {
            chosen = candidates_[i].id;
            break;
        }
    }
    const float scale = static_cast<float>(1.0 / total);
    for (size_t i = 0; i < count; ++i) probs_[candidates_[i].id] *= scale;
    return chosen;
}

}  // namespace llmopt
