// Response bodies and streamed chunks in OpenAI's shapes ("text_completion", "chat.completion",
// "chat.completion.chunk"), built from engine events. Pure functions of their inputs.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "llmopt/engine/engine.h"
#include "llmopt/server/openai_request.h"
#include "llmopt/tokenizer/tokenizer.h"

namespace llmopt {

// Keys keep the order they are written in, so responses read like OpenAI's own.
using Json = nlohmann::ordered_json;

// What every chunk of one response repeats.
struct ResponseMeta {
    ApiKind kind = ApiKind::kCompletion;
    std::string id;       // "cmpl-..." or "chatcmpl-..."
    int64_t created = 0;  // Unix seconds
    std::string model;
};

struct Usage {
    int64_t prompt_tokens = 0;  // each prompt counted once, however many choices it has
    int64_t completion_tokens = 0;
    int64_t cached_tokens = 0;  // of prompt_tokens, those whose KV came from the prefix cache
    // Adds a finished choice's counts: its completion, and its prompt's cached tokens when it is
    // the first choice of its prompt (prompt-major order, n choices per prompt).
    void add_finished(int32_t choice, int32_t n, const RequestEvent& e);
};

// Everything one choice produced, gathered from its events (for whole responses).
struct ChoiceOutput {
    std::string text;
    std::vector<int32_t> tokens;
    std::vector<float> logprobs;
    std::vector<std::vector<TopLogprob>> top_logprobs;
    std::string finish_reason;  // empty until the last event

    void append(const RequestEvent& event);
};

// Renders a choice's logprobs in the shape of its API. A token's text depends on the token before
// it (SentencePiece drops the space after BOS), so one renderer follows one choice from its
// prompt's last token on, call after call.
class LogprobRenderer {
public:
    LogprobRenderer(const Tokenizer& tokenizer, ApiKind kind, int32_t last_prompt_token);
    // The logprobs object for the next tokens of the choice.
    Json render(std::span<const int32_t> tokens, std::span<const float> logprobs,
                std::span<const std::vector<TopLogprob>> top);

private:
    Json render_completion(std::span<const int32_t> tokens, std::span<const float> logprobs,
                           std::span<const std::vector<TopLogprob>> top);
    Json render_chat(std::span<const int32_t> tokens, std::span<const float> logprobs,
                     std::span<const std::vector<TopLogprob>> top);

    const Tokenizer& tokenizer_;
    ApiKind kind_;
    int32_t prev_;
    size_t text_offset_ = 0;  // completions: offset of the next token in the generated text
};

Json usage_json(const Usage& usage);

// A whole response; `logprobs[i]` is choice i's rendered logprobs, or null when not asked for.
Json response_body(const ResponseMeta& meta, const std::vector<ChoiceOutput>& choices,
                   const std::vector<Json>& logprobs, const Usage& usage);

// One streamed chunk in which choice `index` adds `text`. `with_role` opens a chat choice (the
// delta carries the assistant role); a non-empty finish_reason closes the choice; `usage_field`
// adds "usage": null, as streams with stream_options.include_usage carry on every chunk.
Json stream_chunk(const ResponseMeta& meta, int32_t index, const std::string& text, bool with_role,
                  const Json& logprobs, const std::string& finish_reason, bool usage_field);
// The extra last chunk of stream_options.include_usage: no choices, the request's usage.
Json usage_chunk(const ResponseMeta& meta, const Usage& usage);

// Serializes for the wire; bytes that are not UTF-8 (a token that is half a character) become
// U+FFFD instead of failing the response.
std::string dump_json(const Json& value);
// One server-sent event carrying `data`.
std::string sse_event(const Json& data);
// The event that ends an OpenAI stream.
inline constexpr std::string_view kSseDone = "data: [DONE]\n\n";

// GET /v1/models: the one model served.
Json models_body(const std::string& id, int64_t created);

}  // namespace llmopt
