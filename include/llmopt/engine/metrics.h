// Serving metrics: counters, gauges and latency histograms, rendered in Prometheus text format.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace llmopt {

struct Histogram {
    std::vector<double> bounds;    // upper bounds of the buckets, ascending (seconds)
    std::vector<uint64_t> counts;  // per bucket, plus one for +Inf
    double sum = 0;
    uint64_t count = 0;

    explicit Histogram(std::vector<double> upper_bounds = {});
    void observe(double value);
};

struct MetricsSnapshot {
    std::map<std::string, uint64_t> requests_by_finish;  // "stop", "length", "cancelled", "error"
    std::map<int, uint64_t> http_by_status;
    uint64_t prompt_tokens = 0;
    uint64_t generation_tokens = 0;
    uint64_t preemptions = 0;
    int64_t running = 0;
    int64_t waiting = 0;
    int64_t kv_blocks_total = 0;
    int64_t kv_blocks_used = 0;
    int64_t kv_blocks_free = 0;
    int64_t kv_blocks_cached = 0;
    double kv_fragmentation = 0;  // allocated but unused slots / allocated slots, last step
    // Slots allocated and left unused, summed over engine steps: their ratio is the mean
    // fragmentation of a run.
    uint64_t kv_slot_steps_allocated = 0;
    uint64_t kv_slot_steps_unused = 0;
    double mean_kv_fragmentation() const {
        return kv_slot_steps_allocated ? double(kv_slot_steps_unused) / double(kv_slot_steps_allocated) : 0.0;
    }
    uint64_t prefix_queried_tokens = 0;
    uint64_t prefix_hit_tokens = 0;
    Histogram time_to_first_token;
    Histogram time_per_output_token;
    Histogram e2e_latency;

    MetricsSnapshot();
    std::string to_prometheus() const;
};

// The live metrics; every method is thread-safe.
class Metrics {
public:
    void record_finish(const std::string& reason, int32_t prompt_tokens, int32_t generated_tokens, double ttft_s,
                       double e2e_s);
    void record_http(int status);
    void record_preemptions(uint64_t n);
    // Gauges are sampled by the engine after each step; KV slots are the running sequences'
    // allocated positions and those of them not (yet) holding a token.
    void set_gauges(int64_t running, int64_t waiting, int64_t blocks_total, int64_t blocks_free,
                    int64_t blocks_cached, int64_t slots_allocated, int64_t slots_unused,
                    uint64_t prefix_queried, uint64_t prefix_hits);
    MetricsSnapshot snapshot() const;

private:
    mutable std::mutex mutex_;
    MetricsSnapshot data_;
};

}  // namespace llmopt
