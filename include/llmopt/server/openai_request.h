// OpenAI request bodies (/v1/completions, /v1/chat/completions, /tokenize, /detokenize) turned into
// validated requests for the engine. Pure functions: they throw ApiError naming the field at fault.
//
// Absent fields take OpenAI's defaults: temperature 1, top_p 1, n 1, no penalties, max_tokens 16
// for completions and the rest of the context for chat; top_k (0 = off) and min_p (0 = off) are
// extensions that default to off, so a plain OpenAI request samples from the full distribution.
// An absent seed means a random one. Unknown fields are ignored; known fields that would change
// the output in ways this server does not implement (echo, suffix, best_of, logit_bias, tools,
// response_format other than text) are rejected rather than silently dropped.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "llmopt/engine/chat_template.h"
#include "llmopt/engine/engine.h"
#include "llmopt/engine/sampler.h"
#include "llmopt/tokenizer/tokenizer.h"

namespace llmopt {

enum class ApiKind { kCompletion, kChat };

// What validation needs to know about the model being served.
struct ServedModel {
    std::string id;     // the only accepted value of "model"
    int32_t n_ctx = 0;  // most tokens of prompt + completion
    int32_t n_vocab = 0;
    int32_t max_choices = 256;  // most engine requests one HTTP request may start
};

// One prompt of /v1/completions: text to tokenize, or token ids used as given.
struct Prompt {
    std::string text;
    std::vector<int32_t> tokens;
    bool is_tokens = false;
};

struct CompletionRequest {
    ApiKind kind = ApiKind::kCompletion;
    std::vector<Prompt> prompts;  // completions: one or more (choices are numbered per prompt)
    std::vector<ChatMessage> messages;  // chat
    std::optional<int32_t> max_tokens;  // absent: see the file comment
    SamplingParams sampling;
    std::optional<uint64_t> seed;
    std::vector<std::string> stop;
    int32_t n = 1;
    bool stream = false;
    bool include_usage = false;  // stream_options.include_usage
    int32_t top_logprobs = -1;   // -1: no logprobs; else the chosen token's plus this many others
    bool ignore_eos = false;     // extension (as in vLLM): generate max_tokens whatever comes
};

// The sampling parameters of a request that sets none (OpenAI's defaults, top-k and min-p off).
SamplingParams default_sampling();

// Parses a request body; throws ApiError 400 when it is not a JSON object.
nlohmann::json parse_json_object(std::string_view body);

// Validates a completions or chat body. Throws ApiError (400) naming the first bad field.
CompletionRequest parse_completion_request(const nlohmann::json& body, ApiKind kind,
                                           const ServedModel& model);

// How a conversation becomes prompt text for this model.
struct PromptFormat {
    ChatFormat chat = ChatFormat::kChatML;
    std::string bos;  // the vocabulary's BOS / EOS texts ("" when absent)
    std::string eos;
};
// From the tokenizer and the model's Jinja chat template (empty: ChatML).
PromptFormat make_prompt_format(const Tokenizer& tokenizer, std::string_view jinja_template);

// Token ids of every prompt (completions: BOS as the tokenizer wants it, special tokens parsed;
// ids given as ids are used as they are) or of the rendered conversation (chat: no BOS added when
// the rendering already starts with the BOS text). Throws ApiError for empty prompts and ids
// outside the vocabulary.
std::vector<std::vector<int32_t>> encode_prompts(const CompletionRequest& request,
                                                 const Tokenizer& tokenizer,
                                                 const PromptFormat& format, int32_t n_vocab);

// The engine requests: for each prompt, n choices seeded base_seed, base_seed + 1, ... so that
// choice i of a request with seed s equals a lone request with seed s + i. Throws ApiError (400,
// context_length_exceeded) when a prompt plus max_tokens does not fit the context.
std::vector<RequestParams> make_engine_requests(const CompletionRequest& request,
                                                const std::vector<std::vector<int32_t>>& prompts,
                                                int32_t n_ctx, uint64_t base_seed);

struct TokenizeRequest {
    std::string text;
    bool add_special = false;   // prepend BOS when the tokenizer uses one
    bool parse_special = true;  // "<|im_start|>" and the like become their special tokens
};
// {"content" | "prompt": text, "add_special": bool, "parse_special": bool}
TokenizeRequest parse_tokenize_request(const nlohmann::json& body);
// {"tokens": [ids]}; ids must be inside the vocabulary.
std::vector<int32_t> parse_detokenize_request(const nlohmann::json& body, int32_t n_vocab);

}  // namespace llmopt
