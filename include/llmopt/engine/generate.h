// The single-sequence generation loop: prefill the prompt, then sample until a stop.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "llmopt/engine/sampler.h"
#include "llmopt/engine/session.h"
#include "llmopt/tokenizer/tokenizer.h"

namespace llmopt {

struct GenerateOptions {
    int32_t max_tokens = -1;  // < 0: until end of generation or a full context
    SamplingParams sampling;
};

struct GenerateResult {
    std::vector<int32_t> tokens;        // generated ids (the stop token excluded)
    std::string finish_reason;          // "stop" (end-of-generation token) or "length"
    int32_t prompt_tokens = 0;
    double prefill_seconds = 0;
    double decode_seconds = 0;
};

// Feeds `prompt` to the session and samples. on_token gets each generated id and may return
// false to stop early (finish_reason "stop").
GenerateResult generate(Session& session, const Tokenizer& tokenizer, std::span<const int32_t> prompt,
                        const GenerateOptions& options, const std::function<bool(int32_t)>& on_token);

// Holds back the bytes of an incomplete UTF-8 sequence so streamed text is always valid.
class Utf8Stream {
public:
    // Appends bytes and returns the longest complete prefix of what is pending.
    std::string push(const std::string& bytes);
    std::string flush();

private:
    std::string pending_;
};

}  // namespace llmopt
