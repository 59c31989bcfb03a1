// Perplexity over non-overlapping windows, scoring the second half of each (llama-perplexity's method).
#include "llmopt/eval/perplexity.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>

#include "llmopt/model/model.h"
#include "llmopt/tokenizer/tokenizer.h"
#include "llmopt/util/error.h"

namespace llmopt {
namespace {

constexpr int32_t kKvBlockSize = 16;

}  // namespace

EvalTokens tokenize_for_eval(const Tokenizer& tokenizer, std::string_view text) {
    EvalTokens t;
    const bool add_bos = tokenizer.add_bos_by_default() && tokenizer.bos_id() >= 0;
    t.tokens = tokenizer.encode(text, add_bos, false);
    t.bos = add_bos ? tokenizer.bos_id() : -1;
    return t;
}

std::vector<int32_t> WindowPlan::window(std::span<const int32_t> tokens, int32_t chunk) const {
    const auto begin = tokens.begin() + int64_t(chunk) * n_ctx;
    std::vector<int32_t> w(begin, begin + n_ctx);
    if (bos >= 0) w[0] = bos;
    return w;
}

std::span<const int32_t> WindowPlan::targets(std::span<const int32_t> tokens, int32_t chunk) const {
    // Logits at position j predict token j + 1; position 0 (maybe replaced by BOS) is never a target.
    return tokens.subspan(size_t(chunk) * n_ctx + first + 1, size_t(n_scored()));
}

WindowPlan plan_windows(size_t n_tokens, int32_t n_ctx, int32_t max_chunks, int32_t bos) {
    if (n_ctx < 4) throw InputError("context size must be at least 4 tokens, got " + std::to_string(n_ctx));
    const size_t whole = n_tokens / size_t(n_ctx);
    if (whole == 0)
        throw InputError("the text has " + std::to_string(n_tokens) + " tokens, fewer than one window of " +
                         std::to_string(n_ctx) + " (use a smaller context size)");
    WindowPlan p;
    p.n_ctx = n_ctx;
    p.n_chunks = int32_t(std::min<size_t>(whole, max_chunks > 0 ? size_t(max_chunks) : whole));
    p.first = n_ctx / 2;
    p.bos = bos;
    return p;
}

WindowRunner::WindowRunner(Model& model, const WindowPlan& plan, int32_t n_batch)
    : model_(model),
      plan_(plan),
      n_batch_(std::max(1, n_batch)),
      n_vocab_(model.config().n_vocab),
      kv_(model.kv_shape(), (plan.n_ctx + kKvBlockSize - 1) / kKvBlockSize, kKvBlockSize),
      logits_(size_t(plan.n_scored()) * size_t(n_vocab_)) {
    if (!kv_.reserve(block_table_, plan.n_ctx)) throw InputError("KV cache exhausted");
}

std::span<const float> WindowRunner::run(std::span<const int32_t> window) {
    if (int64_t(window.size()) != plan_.n_ctx)
        throw InputError("window of " + std::to_string(window.size()) + " tokens, expected " +
                         std::to_string(plan_.n_ctx));
    const int32_t last_scored = plan_.n_ctx - 2;
    float* out = logits_.data();
    // Each window starts from an empty context: positions 0.. overwrite the previous window's KV.
    for (int32_t at = 0; at < plan_.n_ctx; at += n_batch_) {
        const int32_t end = std::min(plan_.n_ctx, at + n_batch_);
        batch_.clear();
        batch_.block_tables.push_back(block_table_);
        for (int32_t p = at; p < end; ++p) batch_.add(window[p], p, 0, p >= plan_.first && p <= last_scored);
        model_.forward(batch_, kv_, out);
        out += size_t(batch_.n_outputs()) * size_t(n_vocab_);
    }
    return logits_;
}

int32_t log_softmax(const float* logits, int32_t n, double* out) {
    int32_t arg_max = 0;
    for (int32_t i = 1; i < n; ++i)
        if (logits[i] > logits[arg_max]) arg_max = i;
    const double max = logits[arg_max];
    double sum = 0;
    for (int32_t i = 0; i < n; ++i) sum += std::exp(double(logits[i]) - max);
    const double log_sum = max + std::log(sum);
    for (int32_t i = 0; i < n; ++i) out[i] = double(logits[i]) - log_sum;
    return arg_max;
}

double token_nll(const float* logits, int32_t n_vocab, int32_t target) {
    const double max = *std::max_element(logits, logits + n_vocab);
    double sum = 0;
    for (int32_t i = 0; i < n_vocab; ++i) sum += std::exp(double(logits[i]) - max);
    return max + std::log(sum) - double(logits[target]);
}

double NllStats::ppl() const { return std::exp(mean()); }

double NllStats::ppl_stderr() const {
    if (count < 2) return 0.0;
    const double m = mean();
    const double var = sum_sq / double(count) - m * m;
    return var > 0 ? ppl() * std::sqrt(var / double(count - 1)) : 0.0;
}

void score_window(std::span<const float> logits, int32_t n_vocab, std::span<const int32_t> targets,
                  NllStats& stats) {
    for (size_t j = 0; j < targets.size(); ++j) {
        if (targets[j] < 0 || targets[j] >= n_vocab)
            throw InputError("token id " + std::to_string(targets[j]) + " is outside the vocabulary (" +
                             std::to_string(n_vocab) + ")");
        stats.add(token_nll(&logits[j * size_t(n_vocab)], n_vocab, targets[j]));
    }
}

void PerplexityResult::summarize(const WindowPlan& plan, size_t n_stream_tokens, const NllStats& stats,
                                 double elapsed_seconds) {
    n_ctx = plan.n_ctx;
    n_chunks = plan.n_chunks;
    n_tokens = int64_t(n_stream_tokens);
    n_scored = stats.count;
    nll_mean = stats.mean();
    ppl = stats.ppl();
    ppl_stderr = stats.ppl_stderr();
    seconds = elapsed_seconds;
}

PerplexityResult perplexity(Model& model, const EvalTokens& text, const PerplexityOptions& options,
                            const EvalProgress& progress) {
    const auto t0 = std::chrono::steady_clock::now();
    const WindowPlan plan = plan_windows(text.tokens.size(), options.n_ctx, options.max_chunks, text.bos);
    WindowRunner runner(model, plan, options.n_batch);
    NllStats stats;
    PerplexityResult r;
    for (int32_t c = 0; c < plan.n_chunks; ++c) {
        const auto logits = runner.run(plan.window(text.tokens, c));
        score_window(logits, runner.n_vocab(), plan.targets(text.tokens, c), stats);
        r.chunk_ppl.push_back(stats.ppl());
        if (progress) progress(c, plan.n_chunks, stats.ppl());
    }
    r.summarize(plan, text.tokens.size(), stats, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    return r;
}

}  // namespace llmopt
