// The OpenAI-compatible server: request validation, concurrent results equal to lone engine runs,
// streaming, errors, client disconnects, API key, limits and graceful shutdown, over real HTTP on
// 127.0.0.1 with stories260K.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <sstream>
#include <thread>

#include "llmopt/engine/chat_template.h"
#include "llmopt/engine/engine.h"
#include "llmopt/engine/runtime.h"
#include "llmopt/server/api_error.h"
#include "llmopt/server/http_server.h"
#include "llmopt/server/load_generator.h"
#include "llmopt/server/openai_request.h"
#include "llmopt/server/openai_response.h"
#include "llmopt/server/stream_wake_policy.h"
#include "llmopt/server/wake_relay.h"
#include "test_support.h"

namespace llmopt {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr int32_t kCtx = 2048;

const std::string& model_path() {
    static const std::string path = test::shared_path("models/stories260K.gguf");
    return path;
}

// The model the servers use; one server runs at a time (a Model's workspace is not shared).
Runtime& served_runtime() {
    static Runtime rt = load_runtime(model_path());
    return rt;
}

// --- Pure request parsing -------------------------------------------------------------------

ServedModel served_model() {
    return {"stories260K.gguf", 256, 512, 64};
}

ApiError parse_error(const std::string& body, ApiKind kind = ApiKind::kCompletion) {
    try {
        parse_completion_request(parse_json_object(body), kind, served_model());
    } catch (const ApiError& e) {
        return e;
    }
    ADD_FAILURE() << "accepted: " << body;
    return ApiError(0, "");
}

TEST(OpenAiRequest, AbsentFieldsTakeOpenAiDefaults) {
    const CompletionRequest r =
        parse_completion_request(json{{"prompt", "hi"}}, ApiKind::kCompletion, served_model());
    EXPECT_EQ(r.sampling.temperature, 1.0f);
    EXPECT_EQ(r.sampling.top_p, 1.0f);
    EXPECT_EQ(r.sampling.top_k, 0);
    EXPECT_EQ(r.sampling.min_p, 0.0f);
    EXPECT_EQ(r.sampling.frequency_penalty, 0.0f);
    EXPECT_FALSE(r.seed.has_value());
    EXPECT_FALSE(r.max_tokens.has_value());
    EXPECT_EQ(r.n, 1);
    EXPECT_EQ(r.top_logprobs, -1);
    // Completions default to 16 tokens, chat to the rest of the context.
    const auto params = make_engine_requests(r, {{1, 2, 3}}, 256, 5);
    ASSERT_EQ(params.size(), 1u);
    EXPECT_EQ(params[0].max_tokens, 16);
    EXPECT_EQ(params[0].sampling.seed, 5u);
    const CompletionRequest chat =
        parse_completion_request(json::parse(R"({"messages":[{"role":"user","content":"hi"}]})"),
                                 ApiKind::kChat, served_model());
    EXPECT_EQ(make_engine_requests(chat, {{1, 2, 3}}, 256, 5)[0].max_tokens, 253);
}

TEST(OpenAiRequest, ParsesEveryField) {
    const CompletionRequest r = parse_completion_request(
        json::parse(
            R"({"model":"stories260K.gguf","prompt":[[1,2],[3]],"max_tokens":8,"temperature":0.5,"top_p":0.9,
                        "top_k":-1,"min_p":0.1,"seed":42,"stop":["a",""],"n":2,"stream":true,
                        "stream_options":{"include_usage":true},"logprobs":3,"presence_penalty":0.5,
                        "frequency_penalty":-0.5,"unknown_field":{"x":1},"user":null})"),
        ApiKind::kCompletion, served_model());
    ASSERT_EQ(r.prompts.size(), 2u);
    EXPECT_TRUE(r.prompts[0].is_tokens);
    EXPECT_EQ(r.prompts[1].tokens, std::vector<int32_t>{3});
    EXPECT_EQ(r.sampling.top_k, 0);
    EXPECT_EQ(r.stop, std::vector<std::string>{"a"});
    EXPECT_TRUE(r.stream && r.include_usage);
    EXPECT_EQ(r.top_logprobs, 3);
    // Two prompts, two choices each: seeds restart at the request's seed for every prompt.
    const auto params = make_engine_requests(r, {{1, 2}, {3}}, 256, 42);
    ASSERT_EQ(params.size(), 4u);
    EXPECT_EQ(params[1].sampling.seed, 43u);
    EXPECT_EQ(params[2].sampling.seed, 42u);
    EXPECT_EQ(params[3].prompt, std::vector<int32_t>{3});

    const CompletionRequest chat = parse_completion_request(
        json::parse(
            R"({"messages":[{"role":"developer","content":[{"type":"text","text":"be brief"}]},
                                    {"role":"user","content":"hi"}],"max_completion_tokens":4,"logprobs":true})"),
        ApiKind::kChat, served_model());
    EXPECT_EQ(chat.messages[0].role, "system");
    EXPECT_EQ(chat.messages[0].content, "be brief");
    EXPECT_EQ(*chat.max_tokens, 4);
    EXPECT_EQ(chat.top_logprobs, 0);
}

TEST(OpenAiRequest, RejectsBadFieldsByName) {
    struct Case {
        const char* body;
        const char* param;
        ApiKind kind = ApiKind::kCompletion;
    };
    const Case cases[] = {
        {R"({"prompt":"x","max_tokens":"ten"})", "max_tokens"},
        {R"({"prompt":"x","max_tokens":0})", "max_tokens"},
        {R"({"prompt":"x","max_tokens":1.5})", "max_tokens"},
        {R"({"prompt":"x","temperature":2.5})", "temperature"},
        {R"({"prompt":"x","temperature":"hot"})", "temperature"},
        {R"({"prompt":"x","top_p":0})", "top_p"},
        {R"({"prompt":"x","min_p":-1})", "min_p"},
        {R"({"prompt":"x","presence_penalty":3})", "presence_penalty"},
        {R"({"prompt":"x","n":0})", "n"},
        {R"({"prompt":"x","n":65})", "n"},
        {R"({"prompt":"x","seed":"abc"})", "seed"},
        {R"({"prompt":"x","stop":5})", "stop"},
        {R"({"prompt":"x","stream":"yes"})", "stream"},
        {R"({"prompt":"x","logprobs":21})", "logprobs"},
        {R"({"prompt":"x","logprobs":true})", "logprobs"},
        {R"({"prompt":"x","echo":true})", "echo"},
        {R"({"prompt":"x","model":"gpt-4"})", "model"},
        {R"({"max_tokens":3})", "prompt"},
        {R"({"prompt":[]})", "prompt"},
        {R"({"prompt":{"a":1}})", "prompt"},
        {R"({"prompt":[1,"a"]})", "prompt"},
        {R"({"messages":[]})", "messages", ApiKind::kChat},
        {R"({"messages":[{"role":"robot","content":"x"}]})", "messages[0].role", ApiKind::kChat},
        {R"({"messages":[{"role":"user"}]})", "messages[0].content", ApiKind::kChat},
        {R"({"messages":[{"role":"user","content":"x"}],"top_logprobs":2})", "top_logprobs",
         ApiKind::kChat},
    };
    for (const Case& c : cases) {
        const ApiError e = parse_error(c.body, c.kind);
        EXPECT_EQ(e.status(), 400) << c.body;
        EXPECT_EQ(e.param(), c.param) << c.body << ": " << e.what();
    }
    EXPECT_EQ(parse_error(R"({"prompt":"x","model":"gpt-4"})").code(), "model_not_found");
    EXPECT_THROW(parse_json_object("{\"prompt\": "), ApiError);
    EXPECT_THROW(parse_json_object("[1]"), ApiError);
}

TEST(OpenAiRequest, ContextOverflowNamesPromptTokensAndContext) {
    const CompletionRequest r = parse_completion_request(json{{"prompt", "x"}, {"max_tokens", 100}},
                                                         ApiKind::kCompletion, served_model());
    try {
        make_engine_requests(r, {std::vector<int32_t>(200, 5)}, 256, 0);
        FAIL() << "accepted";
    } catch (const ApiError& e) {
        EXPECT_EQ(e.status(), 400);
        EXPECT_EQ(e.code(), "context_length_exceeded");
        EXPECT_EQ(e.param(), "prompt");
        EXPECT_NE(std::string(e.what()).find("200"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("256"), std::string::npos) << e.what();
    }
}

// The relay wakes a waiting HTTP thread for what the engine pushed without waking it: the pop
// returns with the event long before its timeout (a minute). The relay can be destroyed with a
// wake-up still scheduled.
TEST(WakeRelay, WakesTheWaiterOfEachScheduledQueue) {
    auto first = std::make_shared<EventQueue>(), second = std::make_shared<EventQueue>();
    std::vector<ChoiceEvent> got_first, got_second;
    const auto start = std::chrono::steady_clock::now();
    {
        WakeRelay relay;
        std::thread waiter([&] { got_first = first->pop(60s); });
        std::this_thread::sleep_for(20ms);  // let it wait (a wake-up before the wait is no loss)
        RequestEvent e;
        e.text = "a";
        first->push(0, e);
        relay.schedule(first);
        waiter.join();
        e.text = "b";
        second->push(1, e);
        relay.schedule(second);
    }
    got_second = second->pop(0ms);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 30s);
    ASSERT_EQ(got_first.size(), 1u);
    EXPECT_EQ(got_first[0].event.text, "a");
    ASSERT_EQ(got_second.size(), 1u);
    EXPECT_EQ(got_second[0].choice, 1);
}

// Which events wake a stream's HTTP thread, on a clock the test sets: the first at once, then
// only once both the interval's tokens and the gap have passed since the last wake-up, and
// always the last one. A whole response wakes for its last event only.
TEST(StreamWakePolicy, WakesForTheFirstTheLastAndOncePerGap) {
    using Clock = StreamWakePolicy::Clock;
    const Clock::time_point t0{};
    const auto at = [&](int ms) { return t0 + std::chrono::milliseconds(ms); };
    StreamWakePolicy fast_model(StreamPacing{1, std::chrono::milliseconds(5)});
    std::vector<int> woken;  // the times of the events that woke
    for (int ms = 0; ms <= 12; ++ms)
        if (fast_model.wake(false, at(ms))) woken.push_back(ms);
    EXPECT_EQ(woken, (std::vector<int>{0, 5, 10}));
    EXPECT_TRUE(fast_model.wake(true, at(13)));  // the last event, 3 ms after a wake-up

    StreamWakePolicy slow_model(StreamPacing{1, std::chrono::milliseconds(5)});
    for (int ms = 0; ms <= 60; ms += 20) EXPECT_TRUE(slow_model.wake(false, at(ms))) << ms;

    StreamWakePolicy every_third(StreamPacing{3, {}});
    woken.clear();
    for (int i = 0; i < 8; ++i)
        if (every_third.wake(false, at(i))) woken.push_back(i);
    EXPECT_EQ(woken, (std::vector<int>{0, 3, 6}));

    StreamWakePolicy both(StreamPacing{3, std::chrono::milliseconds(10)});
    woken.clear();
    for (int ms = 0; ms <= 24; ms += 2)  // 3 tokens come in 6 ms: the gap decides
        if (both.wake(false, at(ms))) woken.push_back(ms);
    EXPECT_EQ(woken, (std::vector<int>{0, 10, 20}));

    StreamWakePolicy whole = StreamWakePolicy::at_end();
    for (int ms = 0; ms < 40; ms += 7) EXPECT_FALSE(whole.wake(false, at(ms))) << ms;
    EXPECT_TRUE(whole.wake(true, at(41)));
}

TEST(LoadGenerator, PercentilesAndSummary) {
    const Percentiles p = percentiles({5, 1, 4, 2, 3, 6, 7, 8, 9, 10});
    EXPECT_EQ(p.p50, 5);
    EXPECT_EQ(p.p90, 9);
    EXPECT_EQ(p.p99, 10);
    EXPECT_DOUBLE_EQ(p.mean, 5.5);
    LoadgenConfig cfg;
    cfg.stream = true;
    const LoadReport r =
        summarize(cfg, {{200, 1.0, 0.1, 5, 10}, {503, 0.01, -1, 0, 0}, {0, 0.5, -1, 0, 0}}, 2.0);
    EXPECT_EQ(r.ok, 1);
    EXPECT_EQ(r.errors.at("503"), 1);
    EXPECT_EQ(r.errors.at("connection"), 1);
    EXPECT_DOUBLE_EQ(r.output_tokens_per_s(), 5.0);
    EXPECT_DOUBLE_EQ(r.tpot_s.p50, 0.1);
    std::mt19937_64 a(3), b(3);
    EXPECT_EQ(random_prompt(a, 12), random_prompt(b, 12));
}

// --- Over HTTP --------------------------------------------------------------------------------

struct ServerOptions {
    int32_t parallel = 16;
    int32_t max_queue = 64;
    size_t max_body_bytes = 1 << 20;
    std::string api_key;
    StreamPacing stream_pacing;
};

// An engine and its server on an ephemeral port of 127.0.0.1.
class TestServer {
public:
    explicit TestServer(const ServerOptions& o = {}) {
        Runtime& rt = served_runtime();
        EngineConfig ec;
        ec.n_ctx = kCtx;
        ec.max_running = o.parallel;
        engine_ = std::make_unique<Engine>(*rt.model, *rt.tokenizer, ec);
        ServerConfig sc;
        sc.port = 0;
        sc.model_id = "stories260K.gguf";
        sc.api_key = o.api_key;
        sc.max_queue = o.max_queue;
        sc.max_body_bytes = o.max_body_bytes;
        sc.stream_pacing = o.stream_pacing;
        // One kernel thread: the model is tiny, and OpenMP barriers on a busy machine would
        // cost more than a second core brings.
        sc.threads = 1;
        server_ = std::make_unique<HttpServer>(*engine_, *rt.tokenizer, sc);
        port_ = server_->start();
    }
    ~TestServer() { server_->shutdown(0ms); }

    httplib::Client client() const {
        httplib::Client c("127.0.0.1", port_);
        c.set_read_timeout(60, 0);
        return c;
    }
    HttpServer& server() { return *server_; }
    int port() const { return port_; }

    // One value of /metrics (0 when the series is absent).
    double metric(const std::string& series) const {
        auto res = client().Get("/metrics");
        if (!res) return -1;
        std::istringstream lines(res->body);
        for (std::string line; std::getline(lines, line);)
            if (line.starts_with(series + " ")) return std::stod(line.substr(series.size() + 1));
        return 0;
    }

    // The series once it reads `expected`, or its last value after 10 s. The gauges are taken
    // at the end of each engine step, after the step's responses went out, so a client can
    // read the previous step's value.
    double settled_metric(const std::string& series, double expected) const {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        double value = metric(series);
        while (value != expected && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            value = metric(series);
        }
        return value;
    }

private:
    std::unique_ptr<Engine> engine_;
    std::unique_ptr<HttpServer> server_;
    int port_ = 0;
};

// What a completion produced, from a whole response or a stream.
struct Outcome {
    int status = 0;
    std::string text;
    int64_t completion_tokens = -1;
    std::string finish_reason;
    int chunks = 0;
    bool error_event = false;  // a stream cut short by the server
};

std::string choice_text(const json& choice) {
    if (choice.contains("text")) return choice["text"].get<std::string>();
    if (choice.contains("message")) return choice["message"]["content"].get<std::string>();
    const json& delta = choice["delta"];
    return delta.contains("content") ? delta["content"].get<std::string>() : "";
}

Outcome parse_outcome(const httplib::Result& res, bool stream) {
    Outcome o;
    if (!res) {
        ADD_FAILURE() << "no response: " << httplib::to_string(res.error());
        return o;
    }
    o.status = res->status;
    if (o.status != 200) return o;
    if (!stream) {
        const json body = json::parse(res->body);
        o.text = choice_text(body["choices"][0]);
        o.finish_reason = body["choices"][0]["finish_reason"];
        o.completion_tokens = body["usage"]["completion_tokens"];
        return o;
    }
    std::istringstream events(res->body);
    bool done = false;
    for (std::string line; std::getline(events, line);) {
        if (line.empty()) continue;
        EXPECT_TRUE(line.starts_with("data: ")) << line;
        const std::string data = line.substr(6);
        if (data == "[DONE]") {
            done = true;
            continue;
        }
        const json chunk = json::parse(data);
        if (chunk.contains("error")) {
            o.error_event = true;
            continue;
        }
        ++o.chunks;
        if (chunk.contains("usage") && chunk["usage"].is_object())
            o.completion_tokens = chunk["usage"]["completion_tokens"];
        for (const json& c : chunk["choices"]) {
            o.text += choice_text(c);
            if (!c["finish_reason"].is_null()) o.finish_reason = c["finish_reason"];
        }
    }
    EXPECT_TRUE(done) << "stream without [DONE]";
    return o;
}

// The same request run alone: a fresh engine that runs one sequence, without prefix caching.
Outcome run_alone(const RequestParams& params) {
    static Runtime rt = load_runtime(model_path());
    set_threads(1);
    EngineConfig ec;
    ec.n_ctx = kCtx;
    ec.max_running = 1;
    ec.prefix_caching = false;
    Engine engine(*rt.model, *rt.tokenizer, ec);
    Outcome o;
    bool done = false;
    engine.submit(params, [&](const RequestEvent& e) {
        o.text += e.text;
        if (!e.finished) return;
        done = true;
        o.completion_tokens = e.completion_tokens;
        o.finish_reason = e.finish_reason;
    });
    while (!done) engine.step();
    o.status = 200;
    return o;
}

json expect_error(const httplib::Result& res, int status, const std::string& param = "") {
    EXPECT_TRUE(res) << "no response";
    if (!res) return {};
    EXPECT_EQ(res->status, status) << res->body;
    const json body = json::parse(res->body, nullptr, false);
    EXPECT_TRUE(body.is_object() && body.contains("error")) << res->body;
    if (!body.is_object() || !body.contains("error")) return {};
    const json& e = body["error"];
    EXPECT_TRUE(e["message"].is_string() && !e["message"].get<std::string>().empty()) << res->body;
    EXPECT_TRUE(e["type"].is_string()) << res->body;
    EXPECT_TRUE(e.contains("param") && e.contains("code")) << res->body;
    if (!param.empty()) {
        EXPECT_EQ(e["param"], param) << res->body;
    }
    return e;
}

void expect_healthy(const TestServer& s) {
    auto res = s.client().Get("/health");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(json::parse(res->body), json({{"status", "ok"}}));
}

TEST(Server, ConcurrentRequestsMatchLoneEngineRuns) {
    const Tokenizer& tok = *served_runtime().tokenizer;
    const PromptFormat format = make_prompt_format(tok, "");
    const char* openings[] = {"Once upon a time", "The little dog", "Lily and Ben went to the park",
                              "One day, a bird", "Tom had a red ball"};
    constexpr int kRequests = 32;
    std::vector<json> bodies(kRequests);
    std::vector<RequestParams> expected(kRequests);
    std::vector<bool> chat(kRequests), stream(kRequests);
    for (int i = 0; i < kRequests; ++i) {
        chat[i] = i % 8 == 7;
        stream[i] = i % 2 == 1;
        const bool sampled = i % 4 >= 2;
        const std::string text = std::string(openings[i % 5]) + (i % 3 ? " and" : "");
        json& b = bodies[i];
        b = {{"max_tokens", 20 + 7 * (i % 9)}, {"stream", bool(stream[i])}};
        b["temperature"] = sampled ? 0.8 : 0.0;
        if (sampled) b["seed"] = 1000 + i;
        if (stream[i]) b["stream_options"] = {{"include_usage", true}};
        RequestParams& p = expected[i];
        if (chat[i]) {
            b["messages"] = json::array({{{"role", "user"}, {"content", text}}});
            const std::string rendered =
                render_chat(format.chat, {{"user", text}}, true, format.bos, format.eos);
            p.prompt = tok.encode(
                rendered, !rendered.starts_with(format.bos) && tok.add_bos_by_default(), true);
        } else {
            b["prompt"] = text;
            p.prompt = tok.encode(text, tok.add_bos_by_default(), true);
        }
        p.max_tokens = b["max_tokens"];
        // The documented defaults: no top-k, top-p or min-p filtering, no penalties.
        p.sampling = SamplingParams{};
        p.sampling.temperature = sampled ? 0.8f : 0.0f;
        p.sampling.top_k = 0;
        p.sampling.top_p = 1.0f;
        p.sampling.min_p = 0.0f;
        p.sampling.seed = sampled ? 1000 + i : 0;
    }

    std::vector<Outcome> got(kRequests);
    {
        TestServer s;
        std::vector<std::thread> clients;
        for (int i = 0; i < kRequests; ++i)
            clients.emplace_back([&, i] {
                const char* path = chat[i] ? "/v1/chat/completions" : "/v1/completions";
                got[i] = parse_outcome(s.client().Post(path, bodies[i].dump(), "application/json"),
                                       stream[i]);
            });
        for (std::thread& t : clients) t.join();
        expect_healthy(s);
    }
    for (int i = 0; i < kRequests; ++i) {
        const Outcome want = run_alone(expected[i]);
        ASSERT_EQ(got[i].status, 200) << "request " << i;
        EXPECT_EQ(got[i].text, want.text) << "request " << i << ": " << bodies[i].dump();
        EXPECT_EQ(got[i].completion_tokens, want.completion_tokens) << "request " << i;
        EXPECT_EQ(got[i].finish_reason, want.finish_reason) << "request " << i;
        if (stream[i]) {
            EXPECT_GT(got[i].chunks, 1) << "request " << i;
        }
    }
}

// Waking a stream's HTTP thread every few tokens changes when chunks leave, not what they are:
// the same chunks and text as with a wake-up per token, and as the request run alone.
TEST(Server, StreamPacingKeepsEveryChunk) {
    const Tokenizer& tok = *served_runtime().tokenizer;
    const json body = {{"prompt", "Once upon a time"},
                       {"max_tokens", 37},
                       {"temperature", 0.0},
                       {"stream", true},
                       {"stream_options", {{"include_usage", true}}}};
    RequestParams alone;
    alone.prompt = tok.encode("Once upon a time", tok.add_bos_by_default(), true);
    alone.max_tokens = 37;
    alone.sampling = SamplingParams{};
    alone.sampling.temperature = 0.0f;
    alone.sampling.top_k = 0;
    alone.sampling.top_p = 1.0f;
    alone.sampling.min_p = 0.0f;
    Outcome per_token, batched;
    {
        ServerOptions o;
        o.stream_pacing = {1, {}};
        TestServer s(o);
        per_token = parse_outcome(
            s.client().Post("/v1/completions", body.dump(), "application/json"), true);
    }
    {
        ServerOptions o;
        o.stream_pacing = {5, std::chrono::milliseconds(20)};
        TestServer s(o);
        batched = parse_outcome(
            s.client().Post("/v1/completions", body.dump(), "application/json"), true);
        expect_healthy(s);
    }
    const Outcome want = run_alone(alone);
    ASSERT_EQ(batched.status, 200);
    EXPECT_EQ(batched.text, want.text);
    EXPECT_EQ(batched.completion_tokens, 37);
    EXPECT_EQ(batched.finish_reason, "length");
    EXPECT_EQ(batched.text, per_token.text);
    EXPECT_EQ(batched.chunks, per_token.chunks);
    EXPECT_GT(batched.chunks, 30);
}

// A load of `requests` requests against `server`, each with exactly `prompt_tokens` tokens of
// its own and `max_tokens` to generate.
LoadgenConfig fixed_load(const TestServer& server, int32_t requests, int32_t prompt_tokens, int32_t max_tokens) {
    LoadgenConfig cfg;
    cfg.url = "http://127.0.0.1:" + std::to_string(server.port());
    cfg.requests = requests;
    cfg.prompt_tokens_min = cfg.prompt_tokens_max = prompt_tokens;
    cfg.max_tokens_min = cfg.max_tokens_max = max_tokens;
    return cfg;
}

// The load generator against the server: every request answered, and prompt lengths measured
// through /tokenize land near the drawn token counts (stories260K splits words into several
// tokens, so counting words would miss them by far).
TEST(Server, LoadGeneratorSizesPromptsInTokens) {
    TestServer server;
    LoadgenConfig cfg = fixed_load(server, 8, 60, 4);
    cfg.concurrency = 4;
    cfg.stream = true;
    cfg.ignore_eos = true;
    const LoadReport r = run_load(cfg);
    EXPECT_EQ(r.ok, 8);
    EXPECT_TRUE(r.errors.empty());
    EXPECT_EQ(r.completion_tokens, 8 * 4);
    EXPECT_GT(r.tokens_per_word, 1.5);
    const double per_request = double(r.prompt_tokens) / 8.0;
    EXPECT_NEAR(per_request, 60.0, 8.0);
    EXPECT_GT(r.total_tokens_per_s(), r.output_tokens_per_s());
}

// One document before every prompt: after the first request, the server takes its whole blocks
// from the prefix cache and says so in usage.prompt_tokens_details, which the report adds up.
TEST(Server, LoadGeneratorSharedPrefixComesFromTheCache) {
    TestServer server;
    LoadgenConfig cfg = fixed_load(server, 6, 10, 2);
    cfg.shared_prefix_tokens = 80;
    for (const bool stream : {false, true}) {
        cfg.stream = stream;
        const LoadReport r = run_load(cfg);
        ASSERT_EQ(r.ok, 6);
        EXPECT_NEAR(double(r.prompt_tokens) / 6.0, 90.0, 10.0);
        // One request at a time: each finds the document's blocks (at least 64 of its ~80
        // tokens), and the stream's run finds them all from the first run.
        EXPECT_GE(r.cached_tokens, (stream ? 6 : 5) * 64) << stream;
        EXPECT_LT(r.cached_tokens, r.prompt_tokens);
        EXPECT_EQ(r.cached_tokens % 16, 0);
    }
}

TEST(LoadGenerator, WordsForTokens) {
    EXPECT_EQ(words_for_tokens(100, 0, 0), 100);  // no /tokenize: a word per token
    EXPECT_EQ(words_for_tokens(101, 2.0, 1.0), 50);
    EXPECT_EQ(words_for_tokens(1, 3.0, 1.0), 1);
}

TEST(Server, ChoicesUseConsecutiveSeedsAndLogprobs) {
    TestServer s;
    auto client = s.client();
    const json body = {{"prompt", "Once upon a time"},
                       {"max_tokens", 12},
                       {"temperature", 0.9},
                       {"seed", 7},
                       {"n", 3},
                       {"logprobs", 2}};
    auto res = client.Post("/v1/completions", body.dump(), "application/json");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    const json all = json::parse(res->body);
    ASSERT_EQ(all["choices"].size(), 3u);
    EXPECT_EQ(all["object"], "text_completion");
    int64_t tokens = 0;
    for (int i = 0; i < 3; ++i) {
        json one = body;
        one["n"] = 1;
        one["seed"] = 7 + i;
        const json alone =
            json::parse(client.Post("/v1/completions", one.dump(), "application/json")->body);
        const json& c = all["choices"][i];
        EXPECT_EQ(c["index"], i);
        EXPECT_EQ(c["text"], alone["choices"][0]["text"]) << "choice " << i;
        const json& lp = c["logprobs"];
        ASSERT_EQ(lp["tokens"].size(), lp["token_logprobs"].size());
        ASSERT_EQ(lp["tokens"].size(), lp["top_logprobs"].size());
        for (const json& t : lp["token_logprobs"]) EXPECT_LE(t.get<double>(), 0.0);
        for (const json& top : lp["top_logprobs"]) EXPECT_GE(top.size(), 1u);
        tokens += int64_t(lp["tokens"].size());
    }
    EXPECT_EQ(all["usage"]["completion_tokens"], tokens);
    EXPECT_EQ(all["usage"]["total_tokens"], all["usage"]["prompt_tokens"].get<int64_t>() + tokens);

    // A chat stream opens with the assistant role and ends with [DONE].
    const json chat = {{"messages", {{{"role", "user"}, {"content", "Hi"}}}},
                       {"max_tokens", 5},
                       {"stream", true},
                       {"temperature", 0}};
    res = client.Post("/v1/chat/completions", chat.dump(), "application/json");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200);
    EXPECT_EQ(res->get_header_value("Content-Type"), "text/event-stream");
    const json first = json::parse(res->body.substr(6, res->body.find("\n\n") - 6));
    EXPECT_EQ(first["object"], "chat.completion.chunk");
    EXPECT_EQ(first["choices"][0]["delta"]["role"], "assistant");
    EXPECT_TRUE(res->body.ends_with("data: [DONE]\n\n"));

    res = client.Get("/v1/models");
    ASSERT_TRUE(res);
    EXPECT_EQ(json::parse(res->body)["data"][0]["id"], "stories260K.gguf");
    res = client.Post("/tokenize", R"({"content":"Once upon a time","add_special":true})",
                      "application/json");
    ASSERT_TRUE(res);
    const json ids = json::parse(res->body)["tokens"];
    ASSERT_FALSE(ids.empty());
    res = client.Post("/detokenize", json{{"tokens", ids}}.dump(), "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(json::parse(res->body)["content"], "Once upon a time");
}

TEST(Server, BadInputsAnswerWithTheirStatusAndError) {
    TestServer s;
    auto c = s.client();
    const auto post = [&](const char* path, const std::string& body) {
        return c.Post(path, body, "application/json");
    };
    expect_error(post("/v1/completions", "{not json"), 400);
    expect_error(post("/v1/completions", "[1,2]"), 400);
    expect_error(post("/v1/completions", R"({"prompt":"x","max_tokens":"ten"})"), 400,
                 "max_tokens");
    expect_error(post("/v1/completions", R"({"prompt":"x","temperature":-1})"), 400, "temperature");
    expect_error(post("/v1/completions", R"({"prompt":"x","top_p":1.5})"), 400, "top_p");
    expect_error(post("/v1/completions", R"({"prompt":"x","n":1000})"), 400, "n");
    expect_error(post("/v1/completions", R"({"prompt":"x","stop":[1]})"), 400, "stop");
    expect_error(post("/v1/completions", R"({"prompt":[999999]})"), 400, "prompt");
    auto bos_only =
        post("/v1/completions", R"({"prompt":"","max_tokens":2})");  // BOS alone is a prompt
    ASSERT_TRUE(bos_only);
    EXPECT_EQ(bos_only->status, 200) << bos_only->body;
    const json e =
        expect_error(post("/v1/completions", R"({"prompt":"x","model":"gpt-4"})"), 400, "model");
    EXPECT_EQ(e["code"], "model_not_found");
    expect_error(post("/v1/chat/completions", R"({"messages":"hi"})"), 400, "messages");
    expect_error(post("/v1/chat/completions", R"({"messages":[{"role":"user","content":5}]})"), 400,
                 "messages[0].content");
    // Prompt + max_tokens beyond the context: the message names both sizes.
    std::string long_prompt;
    for (int i = 0; i < 600; ++i) long_prompt += "Once upon a time ";
    const json too_long = expect_error(
        post("/v1/completions", json{{"prompt", long_prompt}, {"max_tokens", 100}}.dump()), 400,
        "prompt");
    EXPECT_EQ(too_long["code"], "context_length_exceeded");
    EXPECT_NE(too_long["message"].get<std::string>().find(std::to_string(kCtx)), std::string::npos)
        << too_long;
    expect_error(post("/tokenize", R"({"text":5})"), 400, "content");
    expect_error(post("/detokenize", R"({"tokens":[1,-2]})"), 400, "tokens");
    expect_error(c.Get("/v1/nothing"), 404);
    expect_error(post("/v1/embeddings", "{}"), 404);
    expect_healthy(s);
    EXPECT_EQ(s.settled_metric("llmopt_kv_blocks_used", 0), 0);
}

// A greedy streaming completion that runs max_tokens tokens (with a usage chunk at the end).
httplib::Request long_stream_request(int32_t max_tokens) {
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/completions";
    req.set_header("Content-Type", "application/json");
    req.body = json{{"prompt", "Once upon a time"},
                    {"max_tokens", max_tokens},
                    {"ignore_eos", true},
                    {"stream", true},
                    {"stream_options", {{"include_usage", true}}},
                    {"temperature", 0}}
                   .dump();
    return req;
}

TEST(Server, StreamingClientThatLeavesIsCancelled) {
    TestServer s;
    const double cancelled_before = s.metric("llmopt_requests_total{finish_reason=\"cancelled\"}");
    auto client = s.client();
    httplib::Request req = long_stream_request(1900);
    int received = 0;
    // Returning false makes the client drop the connection mid-stream.
    req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return ++received < 3; };
    client.send(req);
    EXPECT_EQ(received, 3);

    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline &&
           (s.metric("llmopt_requests_total{finish_reason=\"cancelled\"}") < cancelled_before + 1 ||
            s.metric("llmopt_kv_blocks_used") != 0))
        std::this_thread::sleep_for(20ms);
    EXPECT_EQ(s.metric("llmopt_requests_total{finish_reason=\"cancelled\"}"), cancelled_before + 1);
    EXPECT_EQ(s.metric("llmopt_kv_blocks_used"), 0);
    EXPECT_LT(s.metric("llmopt_generation_tokens_total"), 1900);

    // A non-streaming client that gives up (read timeout, then its connection closes) is
    // noticed as well.
    {
        auto impatient = s.client();
        impatient.set_read_timeout(0, 100'000);
        const json body = {
            {"prompt", "Tom had"}, {"max_tokens", 1900}, {"ignore_eos", true}, {"temperature", 0}};
        EXPECT_FALSE(impatient.Post("/v1/completions", body.dump(), "application/json"));
    }
    const auto second_deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < second_deadline &&
           s.metric("llmopt_requests_total{finish_reason=\"cancelled\"}") < cancelled_before + 2)
        std::this_thread::sleep_for(20ms);
    EXPECT_EQ(s.metric("llmopt_requests_total{finish_reason=\"cancelled\"}"), cancelled_before + 2);
    expect_healthy(s);
}

TEST(Server, ApiKeyGuardsEveryRouteButHealth) {
    ServerOptions o;
    o.api_key = "sesame";
    TestServer s(o);
    auto c = s.client();
    EXPECT_EQ(expect_error(c.Get("/v1/models"), 401)["code"], "invalid_api_key");
    expect_error(c.Post("/v1/completions", R"({"prompt":"x"})", "application/json"), 401);
    c.set_bearer_token_auth("wrong");
    expect_error(c.Post("/v1/completions", R"({"prompt":"x"})", "application/json"), 401);
    expect_error(c.Get("/metrics"), 401);
    expect_healthy(s);
    c.set_bearer_token_auth("sesame");
    auto res = c.Post("/v1/completions", R"({"prompt":"x","max_tokens":2})", "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
}

TEST(Server, BodyOverTheLimitIs413) {
    ServerOptions o;
    o.max_body_bytes = 4096;
    TestServer s(o);
    auto c = s.client();
    const std::string body = json{{"prompt", std::string(10000, 'a')}}.dump();
    EXPECT_EQ(expect_error(c.Post("/v1/completions", body, "application/json"), 413)["code"],
              "request_too_large");
    expect_healthy(s);
    EXPECT_EQ(s.metric("llmopt_http_requests_total{status=\"413\"}"), 1);
}

// Starts a long streaming completion on its own thread; returns once its first chunk arrived.
class LongStream {
public:
    explicit LongStream(const TestServer& s, int32_t max_tokens = 1900) : client_(s.client()) {
        std::promise<void> started;
        auto first = started.get_future();
        thread_ = std::thread([this, max_tokens, started = std::move(started)]() mutable {
            httplib::Request req = long_stream_request(max_tokens);
            bool signalled = false;
            req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
                body_.append(data, n);
                if (!signalled) started.set_value();
                signalled = true;
                return true;
            };
            auto res = client_.send(req);
            status_ = res ? res->status : 0;
            if (!signalled) started.set_value();
        });
        first.wait();
    }
    // Waits for the end of the stream and returns what it carried.
    Outcome finish() {
        thread_.join();
        Outcome o;
        o.status = status_;
        if (status_ == 200) {
            // parse_outcome reads a whole body; hand it one.
            httplib::Response r;
            r.status = 200;
            r.body = body_;
            o = parse_outcome(
                httplib::Result(std::make_unique<httplib::Response>(r), httplib::Error::Success),
                true);
        }
        return o;
    }

private:
    httplib::Client client_;
    std::thread thread_;
    std::string body_;
    int status_ = 0;
};

TEST(Server, FullQueueAnswers503WithRetryAfter) {
    ServerOptions o;
    o.max_queue = 1;
    TestServer s(o);
    LongStream busy(s);
    auto res =
        s.client().Post("/v1/completions", R"({"prompt":"x","max_tokens":2})", "application/json");
    EXPECT_EQ(expect_error(res, 503)["code"], "queue_full");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->get_header_value("Retry-After"), "1");
    const Outcome done = busy.finish();
    EXPECT_EQ(done.status, 200);
    EXPECT_EQ(done.completion_tokens, 1900);
    expect_healthy(s);
    res =
        s.client().Post("/v1/completions", R"({"prompt":"x","max_tokens":2})", "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
}

TEST(Server, ShutdownLetsRequestsInFlightFinish) {
    TestServer s;
    LongStream in_flight(s, 1500);
    // The same call SIGTERM leads to in `llmopt serve`.
    std::thread stopper([&] { s.server().shutdown(30s); });
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    auto draining = [&] {
        auto res = s.client().Get("/health");
        return res && res->status == 503;
    };
    while (!draining() && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(5ms);
    expect_error(s.client().Get("/health"), 503);
    expect_error(
        s.client().Post("/v1/completions", R"({"prompt":"x","max_tokens":2})", "application/json"),
        503);
    const Outcome done = in_flight.finish();
    stopper.join();
    EXPECT_EQ(done.status, 200);
    EXPECT_EQ(done.finish_reason, "length");
    EXPECT_EQ(done.completion_tokens, 1500);
    EXPECT_FALSE(s.client().Get("/health"));  // nothing listens any more
}

// httplib ignores a stop that comes before its accept loop has begun; start() waits for it,
// so a server stopped at once still shuts down. Without that wait the destructor's shutdown
// hangs, and the test fails at CTest's time limit.
TEST(Server, StopsRightAfterStarting) {
    for (int i = 0; i < 50; ++i) TestServer s;
}

TEST(Server, ShutdownTimeoutCancelsWhatIsLeft) {
    TestServer s;
    LongStream in_flight(s);
    s.server().shutdown(0ms);
    const Outcome cut = in_flight.finish();
    EXPECT_EQ(cut.status, 200);  // the stream had started: it ends with an error event
    EXPECT_TRUE(cut.error_event);
    EXPECT_TRUE(cut.finish_reason.empty());
}

}  // namespace
}  // namespace llmopt
