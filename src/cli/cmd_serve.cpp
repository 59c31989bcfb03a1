// `llmopt serve`: the OpenAI-compatible HTTP server over one model.
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli_support.h"
#include "commands.h"
#include "llmopt/engine/engine.h"
#include "llmopt/engine/runtime.h"
#include "llmopt/format/gguf.h"
#include "llmopt/server/http_server.h"
#include "llmopt/util/error.h"

namespace llmopt::cli {
namespace {

// MemAvailable from /proc/meminfo in bytes; 0 when unknown.
int64_t available_memory() {
    std::ifstream in("/proc/meminfo");
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream s(line);
        std::string key;
        int64_t kib = 0;
        if (s >> key >> kib && key == "MemAvailable:") return kib * 1024;
    }
    return 0;
}

// KV blocks for the pool: an explicit budget, or by default enough for every parallel sequence
// at full context but never more than half of the memory still available beside the weights.
int64_t kv_blocks(const Model& model, DType kv_type, int32_t n_ctx, int32_t parallel,
                  int32_t block_size, int64_t kv_mib) {
    const int64_t block_bytes =
        int64_t(KvCache::bytes_per_token(model.kv_shape(), kv_type)) * block_size;
    const int64_t per_context = (n_ctx + block_size - 1) / block_size;
    if (kv_mib > 0) {
        const int64_t blocks = kv_mib * (int64_t(1) << 20) / block_bytes;
        if (blocks < per_context)
            throw InputError("--kv-memory " + std::to_string(kv_mib) + " MiB holds " +
                             std::to_string(blocks * block_size) +
                             " tokens, less than one context of " + std::to_string(n_ctx));
        return blocks;
    }
    const int64_t wanted = per_context * parallel;
    const int64_t available = available_memory();
    if (available == 0) return wanted;
    return std::max(per_context, std::min(wanted, available / 2 / block_bytes));
}

}  // namespace

int run_serve(int argc, char** argv) {
    CLI::App app(
        "Serve a model over an OpenAI-compatible HTTP API (/v1/completions, /v1/chat/completions, "
        "...).",
        "llmopt serve");
    ModelFlags mf;
    ServerConfig sc;
    EngineConfig ec;
    std::string kv_type_name = "f32";
    int64_t kv_mib = 0;
    bool no_prefix_cache = false;
    double shutdown_timeout = 30;
    int32_t stream_gap_ms = 5;
    add_model_flags(app, mf);
    app.add_option("--host", sc.host, "address to listen on")->capture_default_str();
    app.add_option("--port", sc.port, "port to listen on (0: any free port)")
        ->capture_default_str()
        ->check(CLI::Range(0, 65535));
    app.add_option("--parallel", ec.max_running, "sequences decoded together")
        ->capture_default_str()
        ->check(CLI::Range(1, 4096));
    app.add_option("--api-key", sc.api_key,
                   "require \"Authorization: Bearer KEY\" on every route but /health");
    app.add_option("--max-batch-tokens", ec.max_batch_tokens,
                   "tokens per engine step (prefill chunks + decodes)")
        ->capture_default_str()
        ->check(CLI::Range(1, 1 << 20));
    app.add_option(
           "--kv-memory", kv_mib,
           "KV cache size in MiB (default: parallel x context, at most half the free memory)")
        ->check(CLI::Range(int64_t(1), int64_t(1) << 30));
    app.add_option("--kv-type", kv_type_name, "KV cache element type: f32, f16 or q8_0")
        ->capture_default_str();
    app.add_option("--max-queue", sc.max_queue,
                   "requests waiting + running before new ones get 503")
        ->capture_default_str()
        ->check(CLI::Range(1, 1 << 16));
    app.add_option("--stream-interval", sc.stream_pacing.interval,
                   "a stream sends its first token at once, then at least N tokens together: "
                   "fewer wake-ups and writes per token for a small model's many streams")
        ->capture_default_str()
        ->check(CLI::Range(1, 1 << 16));
    app.add_option("--stream-gap-ms", stream_gap_ms,
                   "after its first token, a stream sends at most once per MS milliseconds "
                   "(0: no limit); a model slower than that sends each token at once")
        ->capture_default_str()
        ->check(CLI::Range(0, 1000));
    app.add_option("--max-body-bytes", sc.max_body_bytes, "largest request body (413 beyond)")
        ->capture_default_str();
    app.add_flag("--no-prefix-cache", no_prefix_cache,
                 "do not reuse the KV blocks of shared prompt prefixes");
    app.add_option("--shutdown-timeout", shutdown_timeout,
                   "seconds in-flight requests get to finish on SIGTERM/SIGINT")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 86400.0));
    return guarded(app, argc, argv, [&] {
        // Signals are taken by sigwait on this thread only: block them before any thread starts
        // (the kernels' pool included) so every thread inherits the mask. A vanished client must
        // not kill the process.
        sigset_t stop_signals;
        sigemptyset(&stop_signals);
        sigaddset(&stop_signals, SIGINT);
        sigaddset(&stop_signals, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
        signal(SIGPIPE, SIG_IGN);
        const DType kv_type = parse_kv_type(kv_type_name);
        set_threads(mf.threads);
        Runtime rt = load_runtime(mf.model, mf.tokenizer);
        ec.n_ctx = context_size(mf, rt.model->config());
        ec.kv_type = kv_type;
        ec.prefix_caching = !no_prefix_cache;
        ec.kv_blocks =
            kv_blocks(*rt.model, kv_type, ec.n_ctx, ec.max_running, ec.block_size, kv_mib);
        Engine engine(*rt.model, *rt.tokenizer, ec);

        sc.model_id = std::filesystem::path(mf.model).filename().string();
        sc.threads = mf.threads;
        sc.stream_pacing.gap = std::chrono::milliseconds(stream_gap_ms);
        if (const GgufFile* g = rt.model->gguf())
            sc.chat_template = g->get_string("tokenizer.chat_template").value_or("");

        HttpServer server(engine, *rt.tokenizer, sc);
        const int port = server.start();
        std::fprintf(stderr,
                     "llmopt serve: %s on http://%s:%d (context %d, parallel %d, %lld KV blocks of "
                     "%d tokens)\n",
                     sc.model_id.c_str(), sc.host.c_str(), port, ec.n_ctx, ec.max_running,
                     static_cast<long long>(ec.kv_blocks), ec.block_size);
        int signal_number = 0;
        sigwait(&stop_signals, &signal_number);
        std::fprintf(stderr, "llmopt serve: %s: finishing requests in flight (up to %.0f s)\n",
                     strsignal(signal_number), shutdown_timeout);
        server.shutdown(std::chrono::milliseconds(static_cast<int64_t>(shutdown_timeout * 1000)));
        std::fprintf(stderr, "llmopt serve: stopped\n");
        return 0;
    });
}

}  // namespace llmopt::cli
