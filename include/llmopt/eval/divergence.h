// How far a model's next-token distributions are from a base model's, over the same windows:
// KL divergence, Hellinger distance, top-1 agreement and both perplexities.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "llmopt/eval/perplexity.h"

namespace llmopt {

// The base model's distributions are saved once, then compared with any number of models.
// File layout (little-endian):
//   char[8]  magic "LLMOPTKL"
//   uint32   version (1)
//   int32    n_ctx, n_vocab, n_chunks, bos (-1: windows keep their first token)
//   int32    tokens[n_chunks * n_ctx]       the stream, windows back to back, BOS not applied
//   float32  log_probs[n_chunks][n_ctx - 1 - n_ctx/2][n_vocab]
// log_probs holds the base's full log-softmax at every scored position (perplexity.h's
// WindowPlan): uncompressed, because rounding them would bias the small KL values of
// near-lossless quantizations (Q8_0 of stories260K: a mean of 9e-4 nats).
struct KlBase {
    int32_t n_ctx = 0;
    int32_t n_vocab = 0;
    int32_t n_chunks = 0;
    int32_t bos = -1;
    std::vector<int32_t> tokens;  // (n_chunks * n_ctx)
};

// Runs `model` over the windows of `text` and writes the file; returns the base's perplexity.
PerplexityResult save_kl_base(Model& model, const EvalTokens& text, const PerplexityOptions& options,
                              const std::string& path, const EvalProgress& progress = {});
// Reads and checks a file's header and tokens; throws FormatError naming the problem.
KlBase read_kl_base_header(const std::string& path);

// One scored position: base log-probabilities against the model's logits.
struct PositionDivergence {
    double kl = 0;         // KL(base || model) = sum p_base (log p_base - log p_model), nats
    double hellinger = 0;  // sqrt(1 - sum sqrt(p_base p_model)), in [0, 1]
    bool same_top = false;  // argmax agrees
    double nll_model = 0;   // -log p_model(target)
};
// base_log_probs and logits: (n_vocab); scratch is resized as needed.
PositionDivergence compare_position(const float* base_log_probs, const float* logits, int32_t n_vocab,
                                    int32_t target, std::vector<double>& scratch);

// Linear interpolation between order statistics: q in [0, 1], `sorted` ascending, not empty.
double quantile(const std::vector<double>& sorted, double q);

struct DivergenceOptions {
    int32_t max_chunks = 0;  // <= 0: every window of the base file
    int32_t n_batch = 512;
};

struct DivergenceResult {
    int32_t n_ctx = 0;
    int32_t n_chunks = 0;
    int64_t n_positions = 0;  // scored positions compared
    double kl_mean = 0;
    double kl_mean_stderr = 0;
    double kl_median = 0;
    double kl_p99 = 0;
    double kl_p999 = 0;
    double kl_max = 0;
    double top1_agreement = 0;  // fraction of positions whose argmax agrees, 0..1
    double hellinger_mean = 0;
    double ppl_base = 0;
    double ppl_base_stderr = 0;
    double ppl_model = 0;
    double ppl_model_stderr = 0;
    double delta_ppl = 0;  // ppl_model - ppl_base
    std::vector<double> chunk_kl;  // running mean KL after each window
    double seconds = 0;
};

// Called after each window with its index (0-based), the window count and the running mean KL.
using DivergenceProgress = std::function<void(int32_t chunk, int32_t n_chunks, double running_kl)>;

// Compares `model` with the base saved at base_path over the same windows. Throws InputError
// when the vocabulary sizes differ, FormatError for a malformed file.
DivergenceResult kl_divergence(Model& model, const std::string& base_path, const DivergenceOptions& options = {},
                               const DivergenceProgress& progress = {});

}  // namespace llmopt
