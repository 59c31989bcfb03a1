// Routes, authentication, limits and the server's threads.
#include "llmopt/server/http_server.h"

#include <ctime>
#include <thread>

#include "llmopt/engine/runtime.h"
#include "llmopt/server/api_error.h"
#include "llmopt/server/openai_response.h"

namespace llmopt {

namespace {

// Threads beyond the generation requests the gate admits: idle kept-alive connections hold a
// thread each, and a request past the limit still needs a thread to be told 503.
constexpr int32_t kSpareHttpThreads = 32;
// After a timed-out drain cancels what is left, how long its handlers get to see their engine
// requests end (normally one engine step).
constexpr std::chrono::seconds kCancelGrace{5};

// Comparison whose time does not depend on where the strings differ (the length is no secret).
bool same_secret(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    unsigned char diff = 0;
    for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
    return diff == 0;
}

void send_json(httplib::Response& res, const Json& body) {
    res.set_content(dump_json(body), "application/json");
}

void send_error(httplib::Response& res, const ApiError& e) {
    res.status = e.status();
    // Busy or shutting down: a client may come back shortly (OpenAI's SDKs honour Retry-After).
    if (e.status() == 503) res.set_header("Retry-After", "1");
    res.set_content(e.body(), "application/json");
}

}  // namespace

HttpServer::HttpServer(Engine& engine, const Tokenizer& tokenizer, const ServerConfig& config)
    : engine_(engine),
      tokenizer_(tokenizer),
      config_(config),
      gate_(config.max_queue),
      completions_(engine, tokenizer, gate_,
                   ServedModel{config.model_id, engine.config().n_ctx, tokenizer.vocab_size(),
                               config.max_queue},
                   make_prompt_format(tokenizer, config.chat_template), config.stream_pacing) {
    if (config.max_queue < 1) throw InputError("--max-queue must be at least 1");
    const size_t n_threads = size_t(config.max_queue) + kSpareHttpThreads;
    http_.new_task_queue = [n_threads] { return new httplib::ThreadPool(n_threads); };
    http_.set_payload_max_length(config.max_body_bytes);
    // A streaming client that stops reading for this long is treated as gone.
    http_.set_write_timeout(30, 0);
    http_.set_keep_alive_max_count(1000);
    install_routes();
}

HttpServer::~HttpServer() {
    shutdown(std::chrono::milliseconds(0));
}

bool HttpServer::authorized(const httplib::Request& req) const {
    if (config_.api_key.empty()) return true;
    const std::string header = req.get_header_value("Authorization");
    const std::string prefix = "Bearer ";
    return header.starts_with(prefix) &&
           same_secret(std::string_view(header).substr(prefix.size()), config_.api_key);
}

void HttpServer::guarded(httplib::Response& res, const std::function<void()>& body) {
    try {
        body();
    } catch (const ApiError& e) {
        send_error(res, e);
    } catch (const InputError& e) {
        // From the engine's own checks (e.g. a KV cache too small for this request).
        send_error(res, ApiError(400, e.what()));
    }
}

void HttpServer::install_routes() {
    // Authentication and drain run inside the handlers, after httplib has read the body: a
    // pre-routing answer would leave the body unread on a kept-alive connection.
    const auto route =
        [this](bool needs_key,
               std::function<void(const httplib::Request&, httplib::Response&)> handler) {
            return [this, needs_key, handler = std::move(handler)](const httplib::Request& req,
                                                                   httplib::Response& res) {
                guarded(res, [&] {
                    if (needs_key && !authorized(req))
                        throw ApiError(
                            401,
                            "missing or incorrect API key (send \"Authorization: Bearer <key>\")",
                            "", "invalid_api_key");
                    if (gate_.draining() && req.path != "/metrics")
                        throw ApiError(503, "the server is shutting down", "", "shutting_down");
                    handler(req, res);
                });
            };
        };
    http_.Post("/v1/completions",
               route(true, [this](const httplib::Request& req, httplib::Response& res) {
                   completions_.handle(ApiKind::kCompletion, req, res);
               }));
    http_.Post("/v1/chat/completions",
               route(true, [this](const httplib::Request& req, httplib::Response& res) {
                   completions_.handle(ApiKind::kChat, req, res);
               }));
    http_.Get("/v1/models", route(true, [this](const httplib::Request&, httplib::Response& res) {
                  send_json(res, models_body(config_.model_id, created_));
              }));
    http_.Post("/tokenize",
               route(true, [this](const httplib::Request& req, httplib::Response& res) {
                   const TokenizeRequest t = parse_tokenize_request(parse_json_object(req.body));
                   const bool bos = t.add_special && tokenizer_.add_bos_by_default();
                   send_json(res, {{"tokens", tokenizer_.encode(t.text, bos, t.parse_special)}});
               }));
    http_.Post(
        "/detokenize", route(true, [this](const httplib::Request& req, httplib::Response& res) {
            const auto ids =
                parse_detokenize_request(parse_json_object(req.body), tokenizer_.vocab_size());
            send_json(res, {{"content", tokenizer_.decode(ids)}});
        }));
    http_.Get("/health", route(false, [](const httplib::Request&, httplib::Response& res) {
                  send_json(res, {{"status", "ok"}});
              }));
    http_.Get("/metrics", route(true, [this](const httplib::Request&, httplib::Response& res) {
                  res.set_content(engine_.stats().to_prometheus(), "text/plain; version=0.0.4");
              }));

    // Errors httplib raises itself (unknown route, body over the limit) get OpenAI's shape too.
    http_.set_error_handler(httplib::Server::HandlerWithResponse(
        [this](const httplib::Request& req, httplib::Response& res) {
            if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
            if (res.status == 404)
                send_error(res, ApiError(404, "unknown route " + req.method + " " + req.path, "",
                                         "unknown_url"));
            else if (res.status == 413)
                send_error(res, ApiError(413,
                                         "the request body is larger than the limit of " +
                                             std::to_string(config_.max_body_bytes) +
                                             " bytes (--max-body-bytes)",
                                         "", "request_too_large"));
            else
                send_error(res, ApiError(res.status, "the request could not be handled (HTTP " +
                                                         std::to_string(res.status) + ")"));
            return httplib::Server::HandlerResponse::Handled;
        }));
    http_.set_exception_handler(
        [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
            std::string what = "unknown error";
            try {
                std::rethrow_exception(ep);
            } catch (const std::exception& e) {
                what = e.what();
            } catch (...) {
            }
            send_error(res, ApiError(500, "internal error: " + what, "", "internal_error"));
        });
    // Counted before the response is written (the logger runs after), so a client that has its
    // response already sees it in /metrics.
    http_.set_post_routing_handler([this](const httplib::Request&, httplib::Response& res) {
        engine_.metrics().record_http(res.status);
    });
}

int HttpServer::start() {
    if (running_) return port_;
    port_ = http_.bind_and_listen(config_.host, config_.port);
    if (port_ < 0)
        throw InputError("cannot listen on " + config_.host + ":" + std::to_string(config_.port));
    created_ = static_cast<int64_t>(std::time(nullptr));
    running_ = true;
    engine_thread_ = std::thread([this] {
        set_threads(config_.threads);
        engine_.run(engine_stop_);
    });
    listener_ = std::thread([this] {
        http_.listen_after_bind();
        listener_returned_ = true;
    });
    // httplib's stop() does nothing until the accept loop has begun: a shutdown that came
    // earlier (a SIGTERM right after the address is printed) would wait for the loop forever.
    while (!http_.is_running() && !listener_returned_)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return port_;
}

void HttpServer::shutdown(std::chrono::milliseconds timeout) {
    if (!running_) return;
    running_ = false;
    gate_.begin_drain();
    const auto now = std::chrono::steady_clock::now();
    if (!gate_.wait_idle(now + timeout)) {
        gate_.cancel_all();
        gate_.wait_idle(std::chrono::steady_clock::now() + kCancelGrace);
    }
    http_.stop();
    listener_.join();
    engine_stop_ = true;
    engine_thread_.join();
}

}  // namespace llmopt
