// Serves /v1/completions and /v1/chat/completions: validate, tokenize, submit one engine request
// per choice, then answer with the whole response or a stream of server-sent events. The HTTP
// thread never runs the model; it waits on the request's EventQueue, and between events checks
// that its client is still there, cancelling the engine requests at once when it is not.
#pragma once

#include <httplib.h>

#include <memory>
#include <mutex>
#include <random>
#include <string>

#include "llmopt/engine/engine.h"
#include "llmopt/server/load_gate.h"
#include "llmopt/server/openai_request.h"
#include "llmopt/server/stream_wake_policy.h"
#include "llmopt/server/wake_relay.h"
#include "llmopt/tokenizer/tokenizer.h"

namespace llmopt {

class CompletionService {
public:
    // A stream's HTTP thread is woken as `pacing` says (StreamWakePolicy); a whole response's
    // only at its end.
    CompletionService(Engine& engine, const Tokenizer& tokenizer, LoadGate& gate, ServedModel model,
                      PromptFormat format, const StreamPacing& pacing);

    // Throws ApiError (or InputError from the engine) for requests it refuses; the caller turns
    // them into error responses. 503s carry no Retry-After yet: the caller adds it.
    void handle(ApiKind kind, const httplib::Request& req, httplib::Response& res);

    const ServedModel& model() const { return model_; }

private:
    struct Generation;

    std::shared_ptr<Generation> submit(const CompletionRequest& request,
                                       const std::vector<std::vector<int32_t>>& prompts);
    void respond_whole(Generation& g, httplib::Response& res);
    bool stream_events(Generation& g, httplib::DataSink& sink);
    uint64_t random_u64();

    Engine& engine_;
    const Tokenizer& tokenizer_;
    LoadGate& gate_;
    ServedModel model_;
    PromptFormat format_;
    StreamPacing pacing_;
    WakeRelay wake_relay_;
    std::mutex rng_mutex_;
    std::mt19937_64 rng_;  // seeds and response ids
};

}  // namespace llmopt
