// OpenAI response shapes: whole responses, stream chunks, logprobs, usage.
#include "llmopt/server/openai_response.h"

namespace llmopt {

namespace {

const char* object_name(ApiKind kind, bool chunk) {
    if (kind == ApiKind::kCompletion) return "text_completion";  // the same for chunks
    return chunk ? "chat.completion.chunk" : "chat.completion";
}

Json header(const ResponseMeta& meta, bool chunk) {
    return {{"id", meta.id},
            {"object", object_name(meta.kind, chunk)},
            {"created", meta.created},
            {"model", meta.model}};
}

Json utf8_bytes(const std::string& s) {
    Json bytes = Json::array();
    for (unsigned char c : s) bytes.push_back(int(c));
    return bytes;
}

}  // namespace

void ChoiceOutput::append(const RequestEvent& e) {
    text += e.text;
    tokens.insert(tokens.end(), e.tokens.begin(), e.tokens.end());
    logprobs.insert(logprobs.end(), e.logprobs.begin(), e.logprobs.end());
    top_logprobs.insert(top_logprobs.end(), e.top_logprobs.begin(), e.top_logprobs.end());
    if (e.finished) finish_reason = e.finish_reason;
}

LogprobRenderer::LogprobRenderer(const Tokenizer& tokenizer, ApiKind kind,
                                 int32_t last_prompt_token)
    : tokenizer_(tokenizer), kind_(kind), prev_(last_prompt_token) {}

Json LogprobRenderer::render(std::span<const int32_t> tokens, std::span<const float> logprobs,
                             std::span<const std::vector<TopLogprob>> top) {
    return kind_ == ApiKind::kCompletion ? render_completion(tokens, logprobs, top)
                                         : render_chat(tokens, logprobs, top);
}

// {"tokens": [...], "token_logprobs": [...], "top_logprobs": [{text: logprob}], "text_offset":
// [...]}; as OpenAI documents, the sampled token is always among its own top_logprobs.
Json LogprobRenderer::render_completion(std::span<const int32_t> tokens,
                                        std::span<const float> logprobs,
                                        std::span<const std::vector<TopLogprob>> top) {
    Json texts = Json::array(), values = Json::array(), tops = Json::array(),
         offsets = Json::array();
    for (size_t i = 0; i < tokens.size(); ++i) {
        const std::string piece = tokenizer_.decode_piece(prev_, tokens[i]);
        texts.push_back(piece);
        values.push_back(i < logprobs.size() ? Json(logprobs[i]) : Json(nullptr));
        Json alternatives = Json::object();
        if (i < top.size())
            for (const TopLogprob& t : top[i])
                alternatives[tokenizer_.decode_piece(prev_, t.token)] = t.logprob;
        if (i < logprobs.size()) alternatives[piece] = logprobs[i];
        tops.push_back(std::move(alternatives));
        offsets.push_back(text_offset_);
        text_offset_ += piece.size();
        prev_ = tokens[i];
    }
    return {{"tokens", texts},
            {"token_logprobs", values},
            {"top_logprobs", tops},
            {"text_offset", offsets}};
}

// {"content": [{"token", "logprob", "bytes", "top_logprobs": [{"token", "logprob", "bytes"}]}]}
Json LogprobRenderer::render_chat(std::span<const int32_t> tokens, std::span<const float> logprobs,
                                  std::span<const std::vector<TopLogprob>> top) {
    Json content = Json::array();
    for (size_t i = 0; i < tokens.size(); ++i) {
        const std::string piece = tokenizer_.decode_piece(prev_, tokens[i]);
        Json alternatives = Json::array();
        if (i < top.size())
            for (const TopLogprob& t : top[i]) {
                const std::string alt = tokenizer_.decode_piece(prev_, t.token);
                alternatives.push_back(
                    {{"token", alt}, {"logprob", t.logprob}, {"bytes", utf8_bytes(alt)}});
            }
        content.push_back({{"token", piece},
                           {"logprob", i < logprobs.size() ? Json(logprobs[i]) : Json(nullptr)},
                           {"bytes", utf8_bytes(piece)},
                           {"top_logprobs", std::move(alternatives)}});
        prev_ = tokens[i];
    }
    return {{"content", std::move(content)}};
}

void Usage::add_finished(int32_t choice, int32_t n, const RequestEvent& e) {
    completion_tokens += e.completion_tokens;
    if (choice % n == 0) cached_tokens += e.cached_prompt_tokens;
}

Json usage_json(const Usage& u) {
    return {{"prompt_tokens", u.prompt_tokens},
            {"completion_tokens", u.completion_tokens},
            {"total_tokens", u.prompt_tokens + u.completion_tokens},
            {"prompt_tokens_details", {{"cached_tokens", u.cached_tokens}}}};
}

Json response_body(const ResponseMeta& meta, const std::vector<ChoiceOutput>& choices,
                   const std::vector<Json>& logprobs, const Usage& usage) {
    Json body = header(meta, false);
    Json list = Json::array();
    for (size_t i = 0; i < choices.size(); ++i) {
        const ChoiceOutput& c = choices[i];
        Json choice = {{"index", i}};
        if (meta.kind == ApiKind::kCompletion)
            choice["text"] = c.text;
        else
            choice["message"] = {{"role", "assistant"}, {"content", c.text}};
        choice["logprobs"] = i < logprobs.size() ? logprobs[i] : Json(nullptr);
        choice["finish_reason"] = c.finish_reason;
        list.push_back(std::move(choice));
    }
    body["choices"] = std::move(list);
    body["usage"] = usage_json(usage);
    return body;
}

Json stream_chunk(const ResponseMeta& meta, int32_t index, const std::string& text, bool with_role,
                  const Json& logprobs, const std::string& finish_reason, bool usage_field) {
    Json body = header(meta, true);
    Json choice = {{"index", index}};
    if (meta.kind == ApiKind::kCompletion) {
        choice["text"] = text;
    } else {
        Json delta = Json::object();
        if (with_role) delta["role"] = "assistant";
        if (with_role || !text.empty()) delta["content"] = text;
        choice["delta"] = std::move(delta);
    }
    choice["logprobs"] = logprobs;
    choice["finish_reason"] = finish_reason.empty() ? Json(nullptr) : Json(finish_reason);
    body["choices"] = Json::array({std::move(choice)});
    if (usage_field) body["usage"] = nullptr;
    return body;
}

Json usage_chunk(const ResponseMeta& meta, const Usage& usage) {
    Json body = header(meta, true);
    body["choices"] = Json::array();
    body["usage"] = usage_json(usage);
    return body;
}

std::string dump_json(const Json& value) {
    return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string sse_event(const Json& data) {
    return "data: " + dump_json(data) + "\n\n";
}

Json models_body(const std::string& id, int64_t created) {
    return {
        {"object", "list"},
        {"data",
         Json::array(
             {{{"id", id}, {"object", "model"}, {"created", created}, {"owned_by", "llmopt"}}})}};
}

}  // namespace llmopt
