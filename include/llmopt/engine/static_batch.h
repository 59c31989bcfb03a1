// The classic static-batching baseline: a fixed group of sequences padded to the longest prompt,
// prefilled together, then decoded in lockstep until the last one finishes. Pad tokens cost
// what they cost in a padded tensor: each row is left-padded to the longest prompt, the pads go
// through every matrix and are scored by attention, then masked (zero weight), so a real token
// still attends only to its own sequence and its output equals a lone run's.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "llmopt/engine/engine.h"

namespace llmopt {

struct StaticBatchStats {
    int64_t real_tokens = 0;    // prompt and generated tokens that belong to requests
    int64_t padded_tokens = 0;  // tokens computed only to keep the batch rectangular
};

// Runs `requests` as one padded batch. `on_finish(i, event)` gets each request's final event
// (all its text, tokens and finish reason). Throws InputError when a request cannot fit n_ctx.
StaticBatchStats run_static_batch(Model& model, const Tokenizer& tokenizer, const std::vector<RequestParams>& requests,
                                  int32_t n_ctx, const std::function<void(size_t, const RequestEvent&)>& on_finish);

}  // namespace llmopt
