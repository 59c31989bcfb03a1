// The life of a generation request: admission, submission, waiting on events, answering.
#include "llmopt/server/completion_service.h"

#include <chrono>
#include <cstdio>
#include <ctime>

#include "llmopt/server/api_error.h"
#include "llmopt/server/connection_server.h"
#include "llmopt/server/event_queue.h"
#include "llmopt/server/openai_response.h"

namespace llmopt {

namespace {

// How long an HTTP thread waits for events before it looks at its client again: the delay
// between a client hanging up and its KV blocks being freed.
constexpr std::chrono::milliseconds kPollInterval{50};

// Engine finish reasons that are not an answer: the request was cut short by the server.
bool is_failure(const std::string& finish_reason) {
    return finish_reason == "cancelled" || finish_reason == "error";
}

ApiError failure_error(const std::string& finish_reason) {
    if (finish_reason == "cancelled")
        return ApiError(503, "the request was cancelled: the server is shutting down", "",
                        "shutting_down");
    return ApiError(500, "the engine failed while generating", "", "engine_error");
}

}  // namespace

// The engine side of one HTTP request: its engine requests (one per choice), the queue their
// events arrive on, and its place in the gate. Destruction cancels whatever has not finished,
// so a handler that throws or a stream that breaks never leaves work running.
struct CompletionService::Generation {
    Engine& engine;
    LoadGate& gate;
    CompletionRequest request;
    ResponseMeta meta;
    Usage usage;
    std::shared_ptr<EventQueue> queue = std::make_shared<EventQueue>();
    std::vector<int64_t> ids;                // per submitted choice
    std::vector<int32_t> last_prompt_token;  // per choice: where its logprob texts start
    std::vector<bool> finished;
    int32_t reserved = 0;  // gate slots held; each submitted request hands its slot to its sink
    int32_t open = 0;      // submitted and not finished
    bool cancel_sent = false;

    Generation(Engine& e, LoadGate& g, CompletionRequest r, int32_t slots)
        : engine(e), gate(g), request(std::move(r)), reserved(slots) {}

    ~Generation() {
        cancel();
        gate.release(reserved - static_cast<int32_t>(ids.size()));
        gate.leave();
    }

    void cancel() {
        for (size_t i = 0; i < ids.size(); ++i)
            if (!finished[i]) engine.cancel(ids[i]);
    }

    // The events that arrived within one poll interval. False when the client has gone, after
    // cancelling its requests; a drain that timed out cancels them too, and they finish.
    bool wait(std::vector<ChoiceEvent>& events) {
        events = queue->pop(kPollInterval);
        for (const ChoiceEvent& ce : events)
            if (ce.event.finished) {
                finished[ce.choice] = true;
                --open;
            }
        if (!ConnectionServer::client_connected()) {
            cancel();
            return false;
        }
        if (!cancel_sent && gate.cancelling()) {
            cancel();
            cancel_sent = true;
        }
        return true;
    }
};

CompletionService::CompletionService(Engine& engine, const Tokenizer& tokenizer, LoadGate& gate,
                                     ServedModel model, PromptFormat format,
                                     const StreamPacing& pacing)
    : engine_(engine),
      tokenizer_(tokenizer),
      gate_(gate),
      model_(std::move(model)),
      format_(std::move(format)),
      pacing_(pacing),
      rng_(std::random_device{}()) {}

uint64_t CompletionService::random_u64() {
    std::lock_guard lock(rng_mutex_);
    return rng_();
}

void CompletionService::handle(ApiKind kind, const httplib::Request& req, httplib::Response& res) {
    const nlohmann::json body = parse_json_object(req.body);
    const CompletionRequest request = parse_completion_request(body, kind, model_);
    const std::vector<std::vector<int32_t>> prompts =
        encode_prompts(request, tokenizer_, format_, model_.n_vocab);
    std::shared_ptr<Generation> g = submit(request, prompts);
    if (!request.stream) return respond_whole(*g, res);
    res.set_header("Cache-Control", "no-cache");
    // The provider runs on this thread after the handler returns, and owns the generation
    // until the response object goes away.
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, g](size_t, httplib::DataSink& sink) { return stream_events(*g, sink); });
}

std::shared_ptr<CompletionService::Generation> CompletionService::submit(
    const CompletionRequest& request, const std::vector<std::vector<int32_t>>& prompts) {
    const uint64_t seed = request.seed ? *request.seed : random_u64();
    std::vector<RequestParams> params = make_engine_requests(request, prompts, model_.n_ctx, seed);
    const auto n = static_cast<int32_t>(params.size());
    switch (gate_.admit(n)) {
        case LoadGate::Admission::kFull:
            throw ApiError(503,
                           "the server has " + std::to_string(gate_.in_flight()) +
                               " requests in flight (limit " + std::to_string(gate_.limit()) +
                               "); retry later",
                           "", "queue_full");
        case LoadGate::Admission::kDraining:
            throw ApiError(503, "the server is shutting down", "", "shutting_down");
        case LoadGate::Admission::kAdmitted:
            break;
    }
    auto g = std::make_shared<Generation>(engine_, gate_, request, n);
    char id[32];
    std::snprintf(id, sizeof id, "%016llx", static_cast<unsigned long long>(random_u64()));
    g->meta = {request.kind,
               (request.kind == ApiKind::kChat ? "chatcmpl-" : "cmpl-") + std::string(id),
               static_cast<int64_t>(std::time(nullptr)), model_.id};
    for (const std::vector<int32_t>& p : prompts) g->usage.prompt_tokens += int64_t(p.size());
    g->finished.assign(params.size(), false);
    for (int32_t i = 0; i < n; ++i) {
        g->last_prompt_token.push_back(params[i].prompt.back());
        // The sink runs on the engine thread; it holds the queue, not the generation, so it
        // stays valid after the HTTP side has gone.
        // The HTTP thread is woken through the relay: a wake-up is a system call, and on the
        // engine thread one per token per stream held up every stream's next step (stories260K,
        // 16 streams: 15-20k generated t/s against 15-18k waking directly, docs/PERFORMANCE.md).
        // How often a stream is woken: StreamWakePolicy.
        StreamWakePolicy policy =
            request.stream ? StreamWakePolicy(pacing_) : StreamWakePolicy::at_end();
        EventSink sink = [queue = g->queue, i, &gate = gate_, &relay = wake_relay_,
                          policy](const RequestEvent& e) mutable {
            queue->push(i, e);
            if (policy.wake(e.finished, StreamWakePolicy::Clock::now())) relay.schedule(queue);
            if (e.finished) gate.release(1);
        };
        g->ids.push_back(engine_.submit(std::move(params[i]), std::move(sink)));
        ++g->open;
    }
    return g;
}

void CompletionService::respond_whole(Generation& g, httplib::Response& res) {
    std::vector<ChoiceOutput> choices(g.ids.size());
    std::vector<ChoiceEvent> events;
    while (g.open > 0) {
        if (!g.wait(events)) {
            res.status = 499;  // nginx's "client closed request": nobody reads this response
            return;
        }
        for (const ChoiceEvent& ce : events) {
            choices[ce.choice].append(ce.event);
            if (ce.event.finished) g.usage.add_finished(ce.choice, g.request.n, ce.event);
        }
    }
    std::vector<Json> logprobs(choices.size(), nullptr);
    for (size_t i = 0; i < choices.size(); ++i) {
        const ChoiceOutput& c = choices[i];
        if (is_failure(c.finish_reason)) throw failure_error(c.finish_reason);
        if (g.request.top_logprobs >= 0)
            logprobs[i] = LogprobRenderer(tokenizer_, g.request.kind, g.last_prompt_token[i])
                              .render(c.tokens, c.logprobs, c.top_logprobs);
    }
    res.set_content(dump_json(response_body(g.meta, choices, logprobs, g.usage)),
                    "application/json");
}

bool CompletionService::stream_events(Generation& g, httplib::DataSink& sink) {
    const CompletionRequest& r = g.request;
    // Everything one wake-up brings goes out in one write: a write is a system call and a
    // loopback packet that wakes the client, and a paced stream brings several tokens at once.
    std::string out;
    const auto flush = [&] {
        if (out.empty() || sink.write(out.data(), out.size())) {
            out.clear();
            return true;
        }
        g.cancel();  // the client is gone
        return false;
    };
    std::vector<LogprobRenderer> renderers;
    for (int32_t token : g.last_prompt_token) renderers.emplace_back(tokenizer_, r.kind, token);
    // Chat streams open each choice with the assistant role, as OpenAI does.
    if (r.kind == ApiKind::kChat)
        for (size_t i = 0; i < g.ids.size(); ++i)
            out += sse_event(stream_chunk(g.meta, int32_t(i), "", true, nullptr, "", r.include_usage));
    if (!flush()) return false;

    std::vector<ChoiceEvent> events;
    while (g.open > 0) {
        if (!g.wait(events)) return false;
        for (const ChoiceEvent& ce : events) {
            const RequestEvent& e = ce.event;
            if (e.finished && is_failure(e.finish_reason)) {
                out += "data: " + failure_error(e.finish_reason).body() + "\n\n";
                continue;
            }
            Json logprobs = nullptr;
            if (r.top_logprobs >= 0 && !e.tokens.empty())
                logprobs = renderers[ce.choice].render(e.tokens, e.logprobs, e.top_logprobs);
            if (e.finished) g.usage.add_finished(ce.choice, r.n, e);
            // Tokens whose text is held back (a possible stop string, half a character) make
            // no chunk of their own unless their logprobs were asked for.
            if (!e.finished && e.text.empty() && logprobs.is_null()) continue;
            const std::string reason = e.finished ? e.finish_reason : "";
            out += sse_event(
                stream_chunk(g.meta, ce.choice, e.text, false, logprobs, reason, r.include_usage));
        }
        if (!flush()) return false;
    }
    if (r.include_usage) out += sse_event(usage_chunk(g.meta, g.usage));
    out += kSseDone;
    if (!flush()) return false;
    sink.done();
    return true;
}

}  // namespace llmopt
