// One sequence decoding on its own KV cache.
#include "llmopt/engine/session.h"

#include <algorithm>
#include <string>

#include "llmopt/util/error.h"

namespace llmopt {

namespace {
constexpr int32_t kBlockSize = 16;
}

Session::Session(Model& model, int32_t n_ctx, int32_t n_batch, DType kv_type)
    : model_(model),
      n_ctx_(n_ctx),
      n_batch_(std::max(1, n_batch)),
      kv_(model.kv_shape(), (n_ctx + kBlockSize - 1) / kBlockSize, kBlockSize, kv_type),
      logits_(model.config().n_vocab) {
    if (n_ctx <= 0) throw InputError("context size must be positive");
}

void Session::run_chunk(std::span<const int32_t> chunk, bool all_logits, float* logits) {
    const int32_t start = static_cast<int32_t>(tokens_.size());
    if (start + int64_t(chunk.size()) > n_ctx_)
        throw InputError("context full: " + std::to_string(start + chunk.size()) + " tokens exceed the context of " +
                         std::to_string(n_ctx_));
    if (!kv_.reserve(block_table_, start + static_cast<int32_t>(chunk.size())))
        throw InputError("KV cache exhausted");
    batch_.clear();
    batch_.block_tables.push_back(block_table_);
    for (size_t i = 0; i < chunk.size(); ++i)
        batch_.add(chunk[i], start + static_cast<int32_t>(i), 0, all_logits || i + 1 == chunk.size());
    model_.forward(batch_, kv_, logits);
    tokens_.insert(tokens_.end(), chunk.begin(), chunk.end());
}

std::span<float> Session::feed(std::span<const int32_t> tokens) {
    for (size_t at = 0; at < tokens.size(); at += n_batch_)
        run_chunk(tokens.subspan(at, std::min<size_t>(n_batch_, tokens.size() - at)), false, logits_.data());
    return logits_;
}

std::vector<float> Session::feed_all_logits(std::span<const int32_t> tokens) {
    const size_t V = model_.config().n_vocab;
    std::vector<float> all(tokens.size() * V);
    for (size_t at = 0; at < tokens.size(); at += n_batch_)
        run_chunk(tokens.subspan(at, std::min<size_t>(n_batch_, tokens.size() - at)), true, &all[at * V]);
    if (!tokens.empty()) std::copy_n(&all[(tokens.size() - 1) * V], V, logits_.data());
    return all;
}

void Session::truncate(int32_t n) {
    if (n < 0 || n > static_cast<int32_t>(tokens_.size())) throw InputError("truncate beyond the session");
    tokens_.resize(n);
    // Keep the blocks: positions past n are simply overwritten by the next feed.
}

}  // namespace llmopt
