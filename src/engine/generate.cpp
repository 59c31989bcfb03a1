// The single-sequence generation loop and UTF-8-safe streaming.
#include "llmopt/engine/generate.h"

#include <chrono>

#include "llmopt/util/error.h"

namespace llmopt {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// Length of the UTF-8 sequence a lead byte starts (1 for invalid leads: passed through as is).
size_t utf8_length(unsigned char lead) {
    if (lead >= 0xf0 && lead < 0xf8) return 4;
    if (lead >= 0xe0) return lead < 0xf0 ? 3 : 1;
    if (lead >= 0xc0) return 2;
    return 1;
}

}  // namespace

GenerateResult generate(Session& session, const Tokenizer& tokenizer, std::span<const int32_t> prompt,
                        const GenerateOptions& options, const std::function<bool(int32_t)>& on_token) {
    if (prompt.empty()) throw InputError("empty prompt and the vocabulary has no BOS token");
    if (session.tokens().size() + prompt.size() > size_t(session.n_ctx()))
        throw InputError("prompt of " + std::to_string(prompt.size()) + " tokens does not fit the context of " +
                         std::to_string(session.n_ctx()) + " tokens");
    GenerateResult result;
    result.prompt_tokens = static_cast<int32_t>(prompt.size());
    Sampler sampler(options.sampling, session.model().config().n_vocab);

    auto t0 = std::chrono::steady_clock::now();
    std::span<float> logits = session.feed(prompt);
    result.prefill_seconds = seconds_since(t0);
    t0 = std::chrono::steady_clock::now();
    result.finish_reason = "length";
    while (options.max_tokens < 0 || result.tokens.size() < size_t(options.max_tokens)) {
        const int32_t next = sampler.sample(logits, session.tokens());
        if (tokenizer.is_end_of_generation(next)) {
            result.finish_reason = "stop";
            break;
        }
        result.tokens.push_back(next);
        if (!on_token(next)) {
            result.finish_reason = "stop";
            break;
        }
        if (session.tokens().size() >= size_t(session.n_ctx())) break;
        const int32_t one[1] = {next};
        logits = session.feed(one);
    }
    result.decode_seconds = seconds_since(t0);
    return result;
}

std::string Utf8Stream::push(const std::string& bytes) {
    pending_ += bytes;
    size_t complete = 0;
    while (complete < pending_.size()) {
        const size_t len = utf8_length(static_cast<unsigned char>(pending_[complete]));
        if (complete + len > pending_.size()) break;
        complete += len;
    }
    std::string out = pending_.substr(0, complete);
    pending_.erase(0, complete);
    return out;
}

std::string Utf8Stream::flush() {
    std::string out;
    out.swap(pending_);
    return out;
}

}  // namespace llmopt
