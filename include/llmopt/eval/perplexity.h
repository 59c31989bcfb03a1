// Perplexity of a model over a token stream, scored window by window as llama-perplexity does.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include "llmopt/kv/kv_cache.h"
#include "llmopt/model/batch.h"

namespace llmopt {

class Model;
class Tokenizer;

// A text's tokens and the BOS that starts every window (-1 when the vocabulary adds none).
struct EvalTokens {
    std::vector<int32_t> tokens;
    int32_t bos = -1;
};
// Tokenizes as llama-perplexity does: BOS prepended when the vocabulary adds one by default.
EvalTokens tokenize_for_eval(const Tokenizer& tokenizer, std::string_view text);

// How a stream is cut: non-overlapping windows of n_ctx tokens, the last partial one dropped.
// Inside a window, the logits at positions first .. n_ctx-2 (first = n_ctx/2) are scored
// against the next token, so every scored prediction sees at least n_ctx/2 tokens of context.
struct WindowPlan {
    int32_t n_ctx = 0;
    int32_t n_chunks = 0;
    int32_t first = 0;
    int32_t bos = -1;  // replaces each window's first token when >= 0

    int32_t n_scored() const { return n_ctx - 1 - first; }  // per window
    // Window `chunk` of `tokens`, with its first token replaced by BOS.
    std::vector<int32_t> window(std::span<const int32_t> tokens, int32_t chunk) const;
    // The tokens the scored logits of window `chunk` predict: (n_scored).
    std::span<const int32_t> targets(std::span<const int32_t> tokens, int32_t chunk) const;
};
// max_chunks <= 0: every whole window. Throws InputError when n_ctx < 4 or the stream holds
// less than one window.
WindowPlan plan_windows(size_t n_tokens, int32_t n_ctx, int32_t max_chunks, int32_t bos);

// Runs windows through a model from position 0 on one reused KV cache and returns the logits
// of the scored positions only (the output projection is skipped for the rest).
class WindowRunner {
public:
    WindowRunner(Model& model, const WindowPlan& plan, int32_t n_batch = 512);
    // (n_scored, n_vocab) logits of positions first .. n_ctx-2 of `window` (n_ctx tokens).
    std::span<const float> run(std::span<const int32_t> window);
    int32_t n_vocab() const { return n_vocab_; }

private:
    Model& model_;
    WindowPlan plan_;
    int32_t n_batch_;
    int32_t n_vocab_;
    KvCache kv_;
    std::vector<int32_t> block_table_;
    Batch batch_;
    std::vector<float> logits_;  // (n_scored, n_vocab)
};

// Writes log softmax(logits) (n values) to out and returns the index of the largest logit.
// Sums in double so that a vocabulary of 150k entries loses no precision.
int32_t log_softmax(const float* logits, int32_t n, double* out);
// -log softmax(logits)[target].
double token_nll(const float* logits, int32_t n_vocab, int32_t target);

// Sums of negative log-likelihoods, from which perplexity and its error follow.
struct NllStats {
    double sum = 0;
    double sum_sq = 0;
    int64_t count = 0;

    void add(double nll) {
        sum += nll;
        sum_sq += nll * nll;
        ++count;
    }
    double mean() const { return count ? sum / double(count) : 0.0; }
    double ppl() const;
    // Standard error of PPL, by propagating that of the mean NLL through exp (as llama-perplexity
    // reports it): ppl * sqrt(var(nll) / (count - 1)).
    double ppl_stderr() const;
};

struct PerplexityOptions {
    int32_t n_ctx = 512;
    int32_t max_chunks = 0;  // <= 0: all whole windows
    int32_t n_batch = 512;   // tokens per forward call
};

struct PerplexityResult {
    int32_t n_ctx = 0;
    int32_t n_chunks = 0;
    int64_t n_tokens = 0;  // tokens in the stream
    int64_t n_scored = 0;  // predictions scored
    double nll_mean = 0;   // nats per token
    double ppl = 0;
    double ppl_stderr = 0;
    std::vector<double> chunk_ppl;  // running PPL after each window
    double seconds = 0;

    // Fills every figure but chunk_ppl from the plan and the accumulated statistics.
    void summarize(const WindowPlan& plan, size_t n_stream_tokens, const NllStats& stats, double elapsed_seconds);
};

// Called after each window with its index (0-based), the window count and the running PPL.
using EvalProgress = std::function<void(int32_t chunk, int32_t n_chunks, double running_ppl)>;

// Scores window predictions of `logits` ((plan.n_scored(), n_vocab) from WindowRunner) against
// `targets` into `stats`.
void score_window(std::span<const float> logits, int32_t n_vocab, std::span<const int32_t> targets,
                  NllStats& stats);

PerplexityResult perplexity(Model& model, const EvalTokens& text, const PerplexityOptions& options,
                            const EvalProgress& progress = {});

}  // namespace llmopt
