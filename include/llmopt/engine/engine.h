// The serving engine: requests in, one scheduler step per iteration (a single forward pass over
// the ragged batch of every scheduled chunk), tokens streamed out through per-request callbacks.
// submit/cancel/stats are thread-safe; step/run belong to one engine thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "llmopt/engine/metrics.h"
#include "llmopt/engine/sampler.h"
#include "llmopt/engine/scheduler.h"
#include "llmopt/kv/kv_cache.h"
#include "llmopt/model/model.h"
#include "llmopt/tokenizer/tokenizer.h"

namespace llmopt {

struct EngineConfig {
    int32_t n_ctx = 4096;            // most tokens (prompt + output) of one sequence
    int32_t max_batch_tokens = 512;  // token budget per step
    int32_t max_running = 16;        // --parallel
    int32_t block_size = 16;
    int64_t kv_blocks = 0;           // 0: enough for max_running full contexts
    bool prefix_caching = true;
    DType kv_type = DType::kF32;     // KV storage: f32, f16 or q8_0
};

struct RequestParams {
    std::vector<int32_t> prompt;
    int32_t max_tokens = 256;
    SamplingParams sampling;
    std::vector<std::string> stop;  // stop strings (not included in the output)
    int32_t top_logprobs = -1;      // -1: no logprobs; 0..20: the chosen token's plus that many
    bool ignore_eos = false;
};

struct TopLogprob {
    int32_t token;
    float logprob;
};

// One streamed update: new text (complete UTF-8, stop strings withheld) and the token(s) it came
// from; the last event of a request has `finished` set.
struct RequestEvent {
    std::string text;
    std::vector<int32_t> tokens;
    std::vector<float> logprobs;                    // per token when requested
    std::vector<std::vector<TopLogprob>> top_logprobs;
    bool finished = false;
    std::string finish_reason;  // "stop", "length", "cancelled", "error"
    int32_t prompt_tokens = 0;
    int32_t completion_tokens = 0;
    int32_t cached_prompt_tokens = 0;
};
using EventSink = std::function<void(const RequestEvent&)>;

class Engine {
public:
    Engine(Model& model, const Tokenizer& tokenizer, const EngineConfig& config);
    ~Engine();

    // Queues a request; throws InputError when it can never fit (prompt + max_tokens beyond the
    // context or the whole KV pool). The sink is called from the engine thread.
    int64_t submit(RequestParams params, EventSink sink);
    // Stops a request and frees its KV blocks at the next step (its sink gets "cancelled").
    void cancel(int64_t id);

    // One iteration: schedule, run the batch, sample, stream. False when there was nothing to do.
    bool step();
    // Steps until `stop` is set, sleeping while idle.
    void run(const std::atomic<bool>& stop);
    bool idle() const;

    MetricsSnapshot stats() const;
    const EngineConfig& config() const { return config_; }
    Metrics& metrics() { return metrics_; }

private:
    struct Request;
    void admit_new();
    void apply_cancellations();
    void run_batch(const SchedulerOutput& out);
    void advance(Request& r, const float* logits);
    void finish(Request& r, const std::string& reason);
    std::string take_safe_text(Request& r, bool final);

    Model& model_;
    const Tokenizer& tokenizer_;
    EngineConfig config_;
    KvCache kv_;
    Scheduler scheduler_;
    Metrics metrics_;
    std::unordered_map<int64_t, std::unique_ptr<Request>> requests_;  // engine thread only

    mutable std::mutex mutex_;  // guards the three below
    std::condition_variable wake_;
    std::vector<std::unique_ptr<Request>> incoming_;
    std::vector<int64_t> cancelled_;
    std::atomic<int64_t> next_id_{1};
    std::atomic<int32_t> n_pending_{0};

    Batch batch_;
    std::vector<float> logits_;
    std::vector<float> scratch_;
};

}  // namespace llmopt
