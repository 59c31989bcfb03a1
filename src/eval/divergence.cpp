// KL divergence of a model against a base model's saved distributions, over the same windows.
#include "llmopt/eval/divergence.h"

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>

#include "llmopt/model/model.h"
#include "llmopt/util/error.h"
#include "llmopt/util/mapped_file.h"

namespace llmopt {
namespace {

// The file is written in host order and documented as little-endian.
static_assert(std::endian::native == std::endian::little, "KL base files are little-endian");

constexpr char kMagic[8] = {'L', 'L', 'M', 'O', 'P', 'T', 'K', 'L'};
constexpr uint32_t kVersion = 1;
constexpr size_t kHeaderBytes = sizeof kMagic + sizeof(uint32_t) + 4 * sizeof(int32_t);

// A parsed file: header, tokens, and where the log-probabilities start inside the map.
struct KlBaseView {
    KlBase base;
    const float* log_probs = nullptr;  // (n_chunks, n_scored, n_vocab)
};

template <typename T>
T read_at(const uint8_t* p) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

KlBaseView parse(const MappedFile& f) {
    const std::string& path = f.path();
    if (f.size() < kHeaderBytes || std::memcmp(f.data(), kMagic, sizeof kMagic) != 0)
        throw FormatError(path + ": not a KL base file (no LLMOPTKL header)");
    const uint8_t* p = f.data() + sizeof kMagic;
    const auto version = read_at<uint32_t>(p);
    if (version != kVersion)
        throw FormatError(path + ": KL base file version " + std::to_string(version) + ", expected " +
                          std::to_string(kVersion));
    KlBaseView v;
    KlBase& b = v.base;
    b.n_ctx = read_at<int32_t>(p + 4);
    b.n_vocab = read_at<int32_t>(p + 8);
    b.n_chunks = read_at<int32_t>(p + 12);
    b.bos = read_at<int32_t>(p + 16);
    if (b.n_ctx < 4 || b.n_vocab <= 0 || b.n_chunks <= 0 || b.bos < -1 || b.bos >= b.n_vocab)
        throw FormatError(path + ": bad KL base header (n_ctx " + std::to_string(b.n_ctx) + ", n_vocab " +
                          std::to_string(b.n_vocab) + ", n_chunks " + std::to_string(b.n_chunks) + ", bos " +
                          std::to_string(b.bos) + ")");
    // Sizes implied by the header are checked for overflow before they are compared with the file's.
    const uint64_t n_tokens = uint64_t(b.n_chunks) * uint64_t(b.n_ctx);  // < 2^62
    const uint64_t n_positions = uint64_t(b.n_chunks) * uint64_t(b.n_ctx - 1 - b.n_ctx / 2);
    uint64_t n_values = 0, data_bytes = 0;
    const bool overflow = __builtin_mul_overflow(n_positions, uint64_t(b.n_vocab), &n_values) ||
                          __builtin_add_overflow(n_values, n_tokens, &data_bytes) ||
                          __builtin_mul_overflow(data_bytes, uint64_t(sizeof(float)), &data_bytes);
    if (overflow || data_bytes != f.size() - kHeaderBytes)
        throw FormatError(path + ": KL base file is " + std::to_string(f.size()) +
                          " bytes, which does not match its header (truncated or not a KL base file)");
    const uint8_t* tokens = f.data() + kHeaderBytes;
    b.tokens.resize(n_tokens);
    std::memcpy(b.tokens.data(), tokens, n_tokens * sizeof(int32_t));
    for (int32_t t : b.tokens)
        if (t < 0 || t >= b.n_vocab)
            throw FormatError(path + ": token id " + std::to_string(t) + " outside the vocabulary of " +
                              std::to_string(b.n_vocab));
    // The map is page-aligned and the header and tokens are multiples of 4 bytes.
    v.log_probs = reinterpret_cast<const float*>(tokens + n_tokens * sizeof(int32_t));
    return v;
}

template <typename T>
void put(std::ofstream& out, const T& v) {
    out.write(reinterpret_cast<const char*>(&v), sizeof v);
}

}  // namespace

PerplexityResult save_kl_base(Model& model, const EvalTokens& text, const PerplexityOptions& options,
                              const std::string& path, const EvalProgress& progress) {
    const auto t0 = std::chrono::steady_clock::now();
    const WindowPlan plan = plan_windows(text.tokens.size(), options.n_ctx, options.max_chunks, text.bos);
    WindowRunner runner(model, plan, options.n_batch);
    const int32_t n_vocab = runner.n_vocab();

    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) throw InputError("cannot write " + path);
    out.write(kMagic, sizeof kMagic);
    put(out, kVersion);
    put(out, plan.n_ctx);
    put(out, n_vocab);
    put(out, plan.n_chunks);
    put(out, plan.bos);
    out.write(reinterpret_cast<const char*>(text.tokens.data()),
              std::streamsize(size_t(plan.n_chunks) * size_t(plan.n_ctx) * sizeof(int32_t)));

    NllStats stats;
    PerplexityResult r;
    std::vector<double> log_probs(n_vocab);   // (n_vocab) one position, double
    std::vector<float> rows(size_t(plan.n_scored()) * size_t(n_vocab));  // (n_scored, n_vocab) as written
    for (int32_t c = 0; c < plan.n_chunks; ++c) {
        const auto logits = runner.run(plan.window(text.tokens, c));
        const auto targets = plan.targets(text.tokens, c);
        for (int32_t j = 0; j < plan.n_scored(); ++j) {
            log_softmax(&logits[size_t(j) * n_vocab], n_vocab, log_probs.data());
            std::copy(log_probs.begin(), log_probs.end(), &rows[size_t(j) * n_vocab]);
            if (targets[j] < 0 || targets[j] >= n_vocab)
                throw InputError("token id " + std::to_string(targets[j]) + " is outside the vocabulary");
            stats.add(-log_probs[targets[j]]);
        }
        out.write(reinterpret_cast<const char*>(rows.data()), std::streamsize(rows.size() * sizeof(float)));
        r.chunk_ppl.push_back(stats.ppl());
        if (progress) progress(c, plan.n_chunks, stats.ppl());
    }
    if (!out.flush()) throw Error("cannot write " + path + " (disk full?)");
    r.summarize(plan, text.tokens.size(), stats, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    return r;
}

KlBase read_kl_base_header(const std::string& path) {
    const MappedFile f(path);
    return parse(f).base;
}

PositionDivergence compare_position(const float* base_log_probs, const float* logits, int32_t n_vocab,
                                    int32_t target, std::vector<double>& scratch) {
    scratch.resize(size_t(n_vocab));
    const int32_t top_model = log_softmax(logits, n_vocab, scratch.data());
    int32_t top_base = 0;
    double kl = 0, bhattacharyya = 0;
    for (int32_t i = 0; i < n_vocab; ++i) {
        const double lp = base_log_probs[i];
        const double lq = scratch[i];
        if (base_log_probs[i] > base_log_probs[top_base]) top_base = i;
        kl += std::exp(lp) * (lp - lq);
        bhattacharyya += std::exp(0.5 * (lp + lq));
    }
    PositionDivergence d;
    // Rounding can leave KL a hair below 0 and the coefficient a hair above 1 for equal inputs.
    d.kl = std::max(0.0, kl);
    d.hellinger = std::sqrt(std::max(0.0, 1.0 - bhattacharyya));
    d.same_top = top_base == top_model;
    d.nll_model = -scratch[size_t(target)];
    return d;
}

double quantile(const std::vector<double>& sorted, double q) {
    const double at = std::clamp(q, 0.0, 1.0) * double(sorted.size() - 1);
    const size_t lo = size_t(at);
    const size_t hi = std::min(lo + 1, sorted.size() - 1);
    return sorted[lo] + (at - double(lo)) * (sorted[hi] - sorted[lo]);
}

DivergenceResult kl_divergence(Model& model, const std::string& base_path, const DivergenceOptions& options,
                               const DivergenceProgress& progress) {
    const auto t0 = std::chrono::steady_clock::now();
    const MappedFile file(base_path);
    const KlBaseView view = parse(file);
    const KlBase& base = view.base;
    if (base.n_vocab != model.config().n_vocab)
        throw InputError(base_path + " was saved from a model with " + std::to_string(base.n_vocab) +
                         " tokens, this model has " + std::to_string(model.config().n_vocab));

    const WindowPlan plan = plan_windows(base.tokens.size(), base.n_ctx, options.max_chunks, base.bos);
    WindowRunner runner(model, plan, options.n_batch);
    const int32_t n_vocab = base.n_vocab;
    const int32_t n_scored = plan.n_scored();

    DivergenceResult r;
    NllStats nll_base, nll_model;
    std::vector<double> kls;
    double kl_sum = 0, kl_sum_sq = 0, hellinger_sum = 0;
    int64_t same_top = 0;
    std::vector<PositionDivergence> positions(static_cast<size_t>(n_scored));  // (n_scored) this window
    for (int32_t c = 0; c < plan.n_chunks; ++c) {
        const auto logits = runner.run(plan.window(base.tokens, c));
        const auto targets = plan.targets(base.tokens, c);
        const float* base_rows = view.log_probs + size_t(c) * size_t(n_scored) * size_t(n_vocab);
#pragma omp parallel
        {
            std::vector<double> scratch;
#pragma omp for schedule(static)
            for (int32_t j = 0; j < n_scored; ++j)
                positions[j] = compare_position(base_rows + size_t(j) * n_vocab, &logits[size_t(j) * n_vocab], n_vocab,
                                            targets[j], scratch);
        }
        for (int32_t j = 0; j < n_scored; ++j) {
            const PositionDivergence& d = positions[j];
            kls.push_back(d.kl);
            kl_sum += d.kl;
            kl_sum_sq += d.kl * d.kl;
            hellinger_sum += d.hellinger;
            same_top += d.same_top;
            nll_base.add(-double(base_rows[size_t(j) * n_vocab + targets[j]]));
            nll_model.add(d.nll_model);
        }
        r.chunk_kl.push_back(kl_sum / double(kls.size()));
        if (progress) progress(c, plan.n_chunks, r.chunk_kl.back());
    }

    const double n = double(kls.size());
    r.n_ctx = plan.n_ctx;
    r.n_chunks = plan.n_chunks;
    r.n_positions = int64_t(kls.size());
    r.kl_mean = kl_sum / n;
    const double kl_var = kl_sum_sq / n - r.kl_mean * r.kl_mean;
    r.kl_mean_stderr = kls.size() > 1 && kl_var > 0 ? std::sqrt(kl_var / (n - 1)) : 0.0;
    std::sort(kls.begin(), kls.end());
    r.kl_median = quantile(kls, 0.5);
    r.kl_p99 = quantile(kls, 0.99);
    r.kl_p999 = quantile(kls, 0.999);
    r.kl_max = kls.back();
    r.top1_agreement = double(same_top) / n;
    r.hellinger_mean = hellinger_sum / n;
    r.ppl_base = nll_base.ppl();
    r.ppl_base_stderr = nll_base.ppl_stderr();
    r.ppl_model = nll_model.ppl();
    r.ppl_model_stderr = nll_model.ppl_stderr();
    r.delta_ppl = r.ppl_model - r.ppl_base;
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return r;
}

}  // namespace llmopt
