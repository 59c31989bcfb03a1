// The OpenAI-compatible HTTP server: routes, API key, limits, and the threads (one engine thread,
// a pool of HTTP threads) with their orderly shutdown.
//
// Routes: POST /v1/completions, POST /v1/chat/completions, GET /v1/models, POST /tokenize,
// POST /detokenize, GET /health, GET /metrics (Prometheus). Every route but /health needs
// "Authorization: Bearer <api_key>" when an API key is set.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include "llmopt/engine/engine.h"
#include "llmopt/server/completion_service.h"
#include "llmopt/server/connection_server.h"
#include "llmopt/server/load_gate.h"
#include "llmopt/server/stream_wake_policy.h"
#include "llmopt/tokenizer/tokenizer.h"

namespace llmopt {

struct ServerConfig {
    std::string host = "127.0.0.1";
    int port = 8080;          // 0: any free port (see HttpServer::start)
    std::string model_id;     // what /v1/models lists and "model" must name
    std::string api_key;      // empty: no authentication
    int32_t max_queue = 256;  // engine requests waiting + running; beyond it, 503
    size_t max_body_bytes = 1 << 20;
    std::string chat_template;  // the model's Jinja template; picks the chat format
    int32_t threads = 0;        // kernel threads of the engine thread (<= 0: all cores)
    StreamPacing stream_pacing;  // how often a stream's HTTP thread is woken
};

class HttpServer {
public:
    HttpServer(Engine& engine, const Tokenizer& tokenizer, const ServerConfig& config);
    // Shuts down at once if still running.
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    // Binds, then starts the engine thread and the HTTP threads; returns the port (the chosen
    // one when config.port is 0). Throws InputError when the address cannot be bound.
    int start();
    // The SIGTERM path: new requests get 503 at once; generation requests in progress get up to
    // `timeout` to finish, then are cancelled; then the HTTP threads and the engine thread stop.
    // Returns when everything has stopped. Safe to call more than once.
    void shutdown(std::chrono::milliseconds timeout);

    int port() const { return port_; }

private:
    void install_routes();
    bool authorized(const httplib::Request& req) const;
    // Runs a route body, turning errors into OpenAI-shaped error responses.
    void guarded(httplib::Response& res, const std::function<void()>& body);

    Engine& engine_;
    const Tokenizer& tokenizer_;
    ServerConfig config_;
    LoadGate gate_;
    CompletionService completions_;
    ConnectionServer http_;
    std::thread listener_;
    std::thread engine_thread_;
    std::atomic<bool> engine_stop_{false};
    std::atomic<bool> listener_returned_{false};
    int64_t created_ = 0;  // Unix time the server started: the model's "created"
    int port_ = -1;
    bool running_ = false;
};

}  // namespace llmopt
