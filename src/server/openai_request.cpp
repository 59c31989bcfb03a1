// Validation of OpenAI request bodies and their translation into engine requests.
#include "llmopt/server/openai_request.h"

#include <cmath>
#include <limits>
#include <sstream>

#include "llmopt/server/api_error.h"

namespace llmopt {
namespace {

using nlohmann::json;

constexpr int32_t kMaxLogprobs = 20;  // the engine's limit
constexpr int32_t kMaxN = 128;        // OpenAI's limit
constexpr size_t kMaxStops = 16;

// A field that is present and not null (clients often send null for "unset").
const json* find_field(const json& body, const char* name) {
    const auto it = body.find(name);
    if (it == body.end() || it->is_null()) return nullptr;
    return &*it;
}

std::string describe(const json& v) {
    switch (v.type()) {
        case json::value_t::string:
            return "a string";
        case json::value_t::boolean:
            return "a boolean";
        case json::value_t::array:
            return "an array";
        case json::value_t::object:
            return "an object";
        case json::value_t::number_float:
            return "a number";
        case json::value_t::null:
            return "null";
        default:
            return "an integer";
    }
}

ApiError wrong_type(const std::string& name, const std::string& expected, const json& got) {
    return bad_field(name, "'" + name + "' must be " + expected + ", not " + describe(got));
}

// Integers also arrive as 16.0 from some clients; anything fractional is an error.
int64_t to_integer(const json& v, const std::string& name) {
    if (v.is_number_unsigned())
        return static_cast<int64_t>(std::min<uint64_t>(v.get<uint64_t>(), INT64_MAX));
    if (v.is_number_integer()) return v.get<int64_t>();
    if (v.is_number_float()) {
        const double d = v.get<double>();
        if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e18)
            return static_cast<int64_t>(d);
    }
    throw wrong_type(name, "an integer", v);
}

std::optional<int64_t> get_integer(const json& body, const char* name, int64_t lo, int64_t hi) {
    const json* v = find_field(body, name);
    if (!v) return std::nullopt;
    const int64_t x = to_integer(*v, name);
    if (x < lo || x > hi)
        throw bad_field(name, "'" + std::string(name) + "' must be between " + std::to_string(lo) +
                                  " and " + std::to_string(hi) + " (got " + std::to_string(x) +
                                  ")");
    return x;
}

// Reads a number in [lo, hi] (or (lo, hi] with open_low) into `out` when present.
void read_number(const json& body, const char* name, double lo, double hi, float& out,
                 bool open_low = false) {
    const json* v = find_field(body, name);
    if (!v) return;
    if (!v->is_number()) throw wrong_type(name, "a number", *v);
    const double x = v->get<double>();
    if (!std::isfinite(x) || x > hi || x < lo || (open_low && x == lo)) {
        std::ostringstream msg;
        msg << "'" << name << "' must be in " << (open_low ? "(" : "[") << lo << ", " << hi
            << "] (got " << x << ")";
        throw bad_field(name, msg.str());
    }
    out = static_cast<float>(x);
}

bool get_bool(const json& body, const char* name, bool fallback) {
    const json* v = find_field(body, name);
    if (!v) return fallback;
    if (!v->is_boolean()) throw wrong_type(name, "a boolean", *v);
    return v->get<bool>();
}

std::vector<int32_t> to_token_ids(const json& arr, const char* name) {
    std::vector<int32_t> ids;
    ids.reserve(arr.size());
    for (const json& t : arr) {
        if (!t.is_number_integer())
            throw bad_field(name, "'" + std::string(name) + "' token ids must be integers");
        const int64_t id = t.get<int64_t>();
        if (id < 0 || id > std::numeric_limits<int32_t>::max())
            throw bad_field(name, "token id " + std::to_string(id) + " is outside the vocabulary");
        ids.push_back(static_cast<int32_t>(id));
    }
    return ids;
}

bool is_token_array(const json& v) {
    return v.is_array() && !v.empty() && v.front().is_number();
}

// "prompt": a string, token ids, or a list of either (one engine request per prompt).
std::vector<Prompt> parse_prompts(const json& body) {
    const json* v = find_field(body, "prompt");
    if (!v) throw bad_field("prompt", "'prompt' is required");
    const auto one = [](const json& p) {
        Prompt out;
        if (p.is_string()) {
            out.text = p.get<std::string>();
        } else if (is_token_array(p)) {
            out.tokens = to_token_ids(p, "prompt");
            out.is_tokens = true;
        } else {
            throw bad_field(
                "prompt", "'prompt' must be a string, an array of token ids, or an array of those");
        }
        return out;
    };
    if (v->is_string() || is_token_array(*v)) return {one(*v)};
    if (!v->is_array() || v->empty())
        throw bad_field(
            "prompt",
            "'prompt' must be a string, an array of token ids, or a non-empty array of those");
    std::vector<Prompt> prompts;
    for (const json& p : *v) prompts.push_back(one(p));
    return prompts;
}

// Content as a string, or OpenAI's list of parts of which only "text" parts are understood.
std::string message_content(const json& content, size_t i) {
    const std::string where = "messages[" + std::to_string(i) + "].content";
    if (content.is_string()) return content.get<std::string>();
    if (!content.is_array())
        throw wrong_type(where, "a string or an array of content parts", content);
    std::string text;
    for (const json& part : content) {
        const json* type = part.is_object() ? find_field(part, "type") : nullptr;
        const json* t = part.is_object() ? find_field(part, "text") : nullptr;
        if (!type || *type != "text" || !t || !t->is_string())
            throw bad_field(where, "only content parts of type 'text' are supported");
        text += t->get<std::string>();
    }
    return text;
}

std::vector<ChatMessage> parse_messages(const json& body) {
    const json* v = find_field(body, "messages");
    if (!v) throw bad_field("messages", "'messages' is required");
    if (!v->is_array() || v->empty())
        throw bad_field("messages", "'messages' must be a non-empty array");
    std::vector<ChatMessage> messages;
    for (size_t i = 0; i < v->size(); ++i) {
        const json& m = (*v)[i];
        const std::string where = "messages[" + std::to_string(i) + "]";
        if (!m.is_object()) throw wrong_type(where, "an object", m);
        const json* role = find_field(m, "role");
        if (!role || !role->is_string())
            throw bad_field(where + ".role", "'" + where + ".role' must be a string");
        std::string r = role->get<std::string>();
        if (r == "developer") r = "system";  // OpenAI's newer name for the system role
        if (r != "system" && r != "user" && r != "assistant")
            throw bad_field(where + ".role",
                            "unsupported role '" + r + "' (system, developer, user, assistant)");
        const json* content = find_field(m, "content");
        if (!content && r != "assistant")
            throw bad_field(where + ".content", "'" + where + ".content' is required");
        messages.push_back({r, content ? message_content(*content, i) : std::string()});
    }
    return messages;
}

std::vector<std::string> parse_stop(const json& body) {
    const json* v = find_field(body, "stop");
    if (!v) return {};
    std::vector<std::string> stops;
    if (v->is_string()) {
        stops.push_back(v->get<std::string>());
    } else if (v->is_array()) {
        if (v->size() > kMaxStops)
            throw bad_field("stop",
                            "'stop' may hold at most " + std::to_string(kMaxStops) + " strings");
        for (const json& s : *v) {
            if (!s.is_string())
                throw bad_field("stop", "'stop' must be a string or an array of strings");
            stops.push_back(s.get<std::string>());
        }
    } else {
        throw wrong_type("stop", "a string or an array of strings", *v);
    }
    // An empty stop string would match everywhere; it means nothing, so drop it.
    std::erase_if(stops, [](const std::string& s) { return s.empty(); });
    return stops;
}

void reject_unsupported(const json& body, ApiKind kind) {
    const auto reject = [](const char* name, const std::string& why) {
        throw bad_field(name, "'" + std::string(name) + "' " + why);
    };
    if (get_bool(body, "echo", false)) reject("echo", "is not supported");
    if (const json* s = find_field(body, "suffix");
        s && !(s->is_string() && s->get<std::string>().empty()))
        reject("suffix", "is not supported");
    if (const json* b = find_field(body, "best_of");
        b && !(b->is_number() && b->get<double>() == 1))
        reject("best_of", "is not supported");
    if (const json* b = find_field(body, "logit_bias"); b && !b->empty())
        reject("logit_bias", "is not supported");
    if (kind == ApiKind::kChat) {
        if (const json* t = find_field(body, "tools"); t && !t->empty())
            reject("tools", "are not supported");
        if (const json* f = find_field(body, "response_format")) {
            const json* type = f->is_object() ? find_field(*f, "type") : nullptr;
            if (!type || *type != "text")
                reject("response_format", "supports only {\"type\": \"text\"}");
        }
    }
}

void parse_logprobs(const json& body, ApiKind kind, CompletionRequest& r) {
    if (kind == ApiKind::kCompletion) {
        // Completions: "logprobs": N asks for the N most likely alternatives of each token.
        if (const json* v = find_field(body, "logprobs"); v && v->is_boolean())
            throw wrong_type("logprobs", "an integer", *v);
        if (auto n = get_integer(body, "logprobs", 0, kMaxLogprobs))
            r.top_logprobs = static_cast<int32_t>(*n);
        return;
    }
    // Chat: "logprobs": true, and "top_logprobs": N alternatives.
    const bool wanted = get_bool(body, "logprobs", false);
    const auto top = get_integer(body, "top_logprobs", 0, kMaxLogprobs);
    if (top && !wanted)
        throw bad_field("top_logprobs", "'top_logprobs' needs 'logprobs' set to true");
    if (wanted) r.top_logprobs = top ? static_cast<int32_t>(*top) : 0;
}

}  // namespace

SamplingParams default_sampling() {
    SamplingParams p;
    p.temperature = 1.0f;
    p.top_p = 1.0f;
    p.top_k = 0;
    p.min_p = 0.0f;
    p.repeat_penalty = 1.0f;
    p.frequency_penalty = 0.0f;
    p.presence_penalty = 0.0f;
    return p;
}

json parse_json_object(std::string_view body) {
    json v = json::parse(body, nullptr, false);
    if (v.is_discarded())
        throw ApiError(400, "the request body is not valid JSON", "", "invalid_json");
    if (!v.is_object())
        throw ApiError(400, "the request body must be a JSON object", "", "invalid_json");
    return v;
}

CompletionRequest parse_completion_request(const json& body, ApiKind kind,
                                           const ServedModel& model) {
    CompletionRequest r;
    r.kind = kind;
    if (const json* m = find_field(body, "model")) {
        if (!m->is_string()) throw wrong_type("model", "a string", *m);
        if (m->get<std::string>() != model.id)
            throw ApiError(400,
                           "the model '" + m->get<std::string>() +
                               "' does not exist; this server serves '" + model.id + "'",
                           "model", "model_not_found");
    }
    if (kind == ApiKind::kCompletion)
        r.prompts = parse_prompts(body);
    else
        r.messages = parse_messages(body);
    reject_unsupported(body, kind);

    const char* max_name = kind == ApiKind::kChat && find_field(body, "max_completion_tokens")
                               ? "max_completion_tokens"
                               : "max_tokens";
    if (auto m = get_integer(body, max_name, 1, model.n_ctx))
        r.max_tokens = static_cast<int32_t>(*m);

    r.sampling = default_sampling();
    read_number(body, "temperature", 0, 2, r.sampling.temperature);
    read_number(body, "top_p", 0, 1, r.sampling.top_p, /*open_low=*/true);
    read_number(body, "min_p", 0, 1, r.sampling.min_p);
    read_number(body, "presence_penalty", -2, 2, r.sampling.presence_penalty);
    read_number(body, "frequency_penalty", -2, 2, r.sampling.frequency_penalty);
    read_number(body, "repeat_penalty", 0, 10, r.sampling.repeat_penalty, /*open_low=*/true);
    // top_k: -1 (vLLM's spelling) and 0 both mean off.
    if (auto k = get_integer(body, "top_k", -1, std::numeric_limits<int32_t>::max()))
        r.sampling.top_k = *k < 0 ? 0 : static_cast<int32_t>(*k);
    if (auto n = get_integer(body, "repeat_last_n", -1, std::numeric_limits<int32_t>::max()))
        r.sampling.repeat_last_n = static_cast<int32_t>(*n);
    if (const json* s = find_field(body, "seed")) {
        if (!s->is_number_integer()) throw wrong_type("seed", "an integer", *s);
        r.seed =
            s->is_number_unsigned() ? s->get<uint64_t>() : static_cast<uint64_t>(s->get<int64_t>());
    }
    r.stop = parse_stop(body);
    if (auto n = get_integer(body, "n", 1, kMaxN)) r.n = static_cast<int32_t>(*n);
    const int64_t n_requests = int64_t(r.n) * int64_t(std::max<size_t>(1, r.prompts.size()));
    if (n_requests > model.max_choices)
        throw bad_field("n", "the request asks for " + std::to_string(n_requests) +
                                 " completions; this server runs at most " +
                                 std::to_string(model.max_choices) + " at a time");
    r.stream = get_bool(body, "stream", false);
    if (const json* o = find_field(body, "stream_options")) {
        if (!o->is_object()) throw wrong_type("stream_options", "an object", *o);
        r.include_usage = get_bool(*o, "include_usage", false);
    }
    parse_logprobs(body, kind, r);
    r.ignore_eos = get_bool(body, "ignore_eos", false);
    return r;
}

PromptFormat make_prompt_format(const Tokenizer& tokenizer, std::string_view jinja_template) {
    PromptFormat f;
    f.chat = detect_chat_format(jinja_template);
    if (tokenizer.bos_id() >= 0) f.bos = tokenizer.token_text(tokenizer.bos_id());
    if (tokenizer.eos_id() >= 0) f.eos = tokenizer.token_text(tokenizer.eos_id());
    return f;
}

std::vector<std::vector<int32_t>> encode_prompts(const CompletionRequest& request,
                                                 const Tokenizer& tokenizer,
                                                 const PromptFormat& format, int32_t n_vocab) {
    std::vector<std::vector<int32_t>> out;
    if (request.kind == ApiKind::kChat) {
        const std::string text =
            render_chat(format.chat, request.messages, true, format.bos, format.eos);
        const bool has_bos = !format.bos.empty() && text.starts_with(format.bos);
        out.push_back(tokenizer.encode(text, !has_bos && tokenizer.add_bos_by_default(), true));
        if (out.back().empty())
            throw bad_field("messages", "the conversation renders to no tokens");
        return out;
    }
    for (const Prompt& p : request.prompts) {
        if (p.is_tokens) {
            for (int32_t id : p.tokens)
                if (id >= n_vocab)
                    throw bad_field("prompt", "token id " + std::to_string(id) +
                                                  " is outside the vocabulary of " +
                                                  std::to_string(n_vocab) + " tokens");
            out.push_back(p.tokens);
        } else {
            out.push_back(tokenizer.encode(p.text, tokenizer.add_bos_by_default(), true));
        }
        if (out.back().empty()) throw bad_field("prompt", "the prompt is empty");
    }
    return out;
}

std::vector<RequestParams> make_engine_requests(const CompletionRequest& request,
                                                const std::vector<std::vector<int32_t>>& prompts,
                                                int32_t n_ctx, uint64_t base_seed) {
    const char* prompt_field = request.kind == ApiKind::kChat ? "messages" : "prompt";
    std::vector<RequestParams> out;
    for (const std::vector<int32_t>& prompt : prompts) {
        const int64_t n_prompt = int64_t(prompt.size());
        if (n_prompt >= n_ctx)
            throw ApiError(400,
                           "the prompt has " + std::to_string(n_prompt) +
                               " tokens but the context holds " + std::to_string(n_ctx) +
                               " tokens, leaving no room for a completion",
                           prompt_field, "context_length_exceeded");
        int32_t max_tokens = 0;
        if (request.max_tokens) {
            max_tokens = *request.max_tokens;
            if (n_prompt + max_tokens > n_ctx)
                throw ApiError(400,
                               "the prompt has " + std::to_string(n_prompt) +
                                   " tokens and max_tokens is " + std::to_string(max_tokens) +
                                   ": together beyond the context of " + std::to_string(n_ctx) +
                                   " tokens",
                               prompt_field, "context_length_exceeded");
        } else {
            const int32_t room = static_cast<int32_t>(n_ctx - n_prompt);
            max_tokens = request.kind == ApiKind::kChat ? room : std::min(16, room);
        }
        for (int32_t i = 0; i < request.n; ++i) {
            RequestParams p;
            p.prompt = prompt;
            p.max_tokens = max_tokens;
            p.sampling = request.sampling;
            p.sampling.seed = base_seed + uint64_t(i);
            p.stop = request.stop;
            p.top_logprobs = request.top_logprobs;
            p.ignore_eos = request.ignore_eos;
            out.push_back(std::move(p));
        }
    }
    return out;
}

TokenizeRequest parse_tokenize_request(const json& body) {
    TokenizeRequest r;
    const char* name = find_field(body, "content") ? "content" : "prompt";
    const json* text = find_field(body, name);
    if (!text) throw bad_field("content", "'content' is required");
    if (!text->is_string()) throw wrong_type(name, "a string", *text);
    r.text = text->get<std::string>();
    r.add_special = get_bool(body, "add_special", false);
    r.parse_special = get_bool(body, "parse_special", true);
    return r;
}

std::vector<int32_t> parse_detokenize_request(const json& body, int32_t n_vocab) {
    const json* v = find_field(body, "tokens");
    if (!v) throw bad_field("tokens", "'tokens' is required");
    if (!v->is_array()) throw wrong_type("tokens", "an array of token ids", *v);
    std::vector<int32_t> ids = to_token_ids(*v, "tokens");
    for (int32_t id : ids)
        if (id >= n_vocab)
            throw bad_field("tokens", "token id " + std::to_string(id) +
                                          " is outside the vocabulary of " +
                                          std::to_string(n_vocab) + " tokens");
    return ids;
}

}  // namespace llmopt
