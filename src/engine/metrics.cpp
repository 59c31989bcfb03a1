// Serving metrics and their Prometheus text rendering.
#include "llmopt/engine/metrics.h"

#include <algorithm>
#include <sstream>

namespace llmopt {
namespace {

const std::vector<double> kLatencyBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

void write_histogram(std::ostringstream& o, const std::string& name, const std::string& help, const Histogram& h) {
    o << "# HELP " << name << " " << help << "\n# TYPE " << name << " histogram\n";
    uint64_t cumulative = 0;
    for (size_t i = 0; i < h.bounds.size(); ++i) {
        cumulative += h.counts[i];
        o << name << "_bucket{le=\"" << h.bounds[i] << "\"} " << cumulative << "\n";
    }
    cumulative += h.counts.back();
    o << name << "_bucket{le=\"+Inf\"} " << cumulative << "\n";
    o << name << "_sum " << h.sum << "\n" << name << "_count " << h.count << "\n";
}

template <typename T>
void write_value(std::ostringstream& o, const std::string& name, const std::string& type, const std::string& help, T v) {
    o << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n" << name << " " << v << "\n";
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds) : bounds(std::move(upper_bounds)), counts(bounds.size() + 1) {}

void Histogram::observe(double value) {
    const size_t i = std::lower_bound(bounds.begin(), bounds.end(), value) - bounds.begin();
    ++counts[i];
    sum += value;
    ++count;
}

MetricsSnapshot::MetricsSnapshot()
    : time_to_first_token(kLatencyBuckets), time_per_output_token(kLatencyBuckets), e2e_latency(kLatencyBuckets) {}

std::string MetricsSnapshot::to_prometheus() const {
    std::ostringstream o;
    o << "# HELP llmopt_requests_total Finished requests by finish reason.\n# TYPE llmopt_requests_total counter\n";
    for (const auto& [reason, n] : requests_by_finish) o << "llmopt_requests_total{finish_reason=\"" << reason << "\"} " << n << "\n";
    o << "# HELP llmopt_http_requests_total HTTP responses by status code.\n# TYPE llmopt_http_requests_total counter\n";
    for (const auto& [status, n] : http_by_status) o << "llmopt_http_requests_total{status=\"" << status << "\"} " << n << "\n";
    write_value(o, "llmopt_prompt_tokens_total", "counter", "Prompt tokens of finished requests.", prompt_tokens);
    write_value(o, "llmopt_generation_tokens_total", "counter", "Generated tokens of finished requests.", generation_tokens);
    write_value(o, "llmopt_preemptions_total", "counter", "Sequences preempted for lack of KV blocks.", preemptions);
    write_value(o, "llmopt_requests_running", "gauge", "Sequences in the running batch.", running);
    write_value(o, "llmopt_requests_waiting", "gauge", "Sequences waiting for admission.", waiting);
    write_value(o, "llmopt_kv_blocks_total", "gauge", "KV cache blocks in the pool.", kv_blocks_total);
    write_value(o, "llmopt_kv_blocks_used", "gauge", "KV cache blocks held by sequences.", kv_blocks_used);
    write_value(o, "llmopt_kv_blocks_free", "gauge", "KV cache blocks free (cached ones included).", kv_blocks_free);
    write_value(o, "llmopt_kv_blocks_cached", "gauge", "KV cache blocks holding a reusable prefix.", kv_blocks_cached);
    write_value(o, "llmopt_kv_fragmentation_ratio", "gauge", "Allocated but unused KV slots over allocated slots.", kv_fragmentation);
    write_value(o, "llmopt_kv_slot_steps_allocated_total", "counter", "KV slots allocated to running sequences, summed over engine steps.",
                kv_slot_steps_allocated);
    write_value(o, "llmopt_kv_slot_steps_unused_total", "counter", "Allocated KV slots holding no token, summed over engine steps.",
                kv_slot_steps_unused);
    write_value(o, "llmopt_prefix_cache_queried_tokens_total", "counter", "Prompt tokens looked up in the prefix cache.", prefix_queried_tokens);
    write_value(o, "llmopt_prefix_cache_hit_tokens_total", "counter", "Prompt tokens found in the prefix cache.", prefix_hit_tokens);
    write_value(o, "llmopt_prefix_cache_hit_rate", "gauge", "Hit tokens over queried tokens.",
                prefix_queried_tokens ? double(prefix_hit_tokens) / double(prefix_queried_tokens) : 0.0);
    write_histogram(o, "llmopt_time_to_first_token_seconds", "Time from arrival to the first generated token.", time_to_first_token);
    write_histogram(o, "llmopt_time_per_output_token_seconds", "Mean time between generated tokens of a request.", time_per_output_token);
    write_histogram(o, "llmopt_e2e_request_latency_seconds", "Time from arrival to the last token.", e2e_latency);
    return o.str();
}

void Metrics::record_finish(const std::string& reason, int32_t prompt_tokens, int32_t generated_tokens, double ttft_s,
                            double e2e_s) {
    std::lock_guard lock(mutex_);
    ++data_.requests_by_finish[reason];
    data_.prompt_tokens += prompt_tokens;
    data_.generation_tokens += generated_tokens;
    if (generated_tokens > 0) {
        data_.time_to_first_token.observe(ttft_s);
        if (generated_tokens > 1) data_.time_per_output_token.observe((e2e_s - ttft_s) / (generated_tokens - 1));
    }
    data_.e2e_latency.observe(e2e_s);
}

void Metrics::record_http(int status) {
    std::lock_guard lock(mutex_);
    ++data_.http_by_status[status];
}

void Metrics::record_preemptions(uint64_t n) {
    std::lock_guard lock(mutex_);
    data_.preemptions += n;
}

void Metrics::set_gauges(int64_t running, int64_t waiting, int64_t blocks_total, int64_t blocks_free,
                         int64_t blocks_cached, int64_t slots_allocated, int64_t slots_unused,
                         uint64_t prefix_queried, uint64_t prefix_hits) {
    std::lock_guard lock(mutex_);
    data_.running = running;
    data_.waiting = waiting;
    data_.kv_blocks_total = blocks_total;
    data_.kv_blocks_free = blocks_free;
    data_.kv_blocks_used = blocks_total - blocks_free;
    data_.kv_blocks_cached = blocks_cached;
    data_.kv_fragmentation = slots_allocated ? double(slots_unused) / double(slots_allocated) : 0.0;
    data_.kv_slot_steps_allocated += uint64_t(slots_allocated);
    data_.kv_slot_steps_unused += uint64_t(slots_unused);
    data_.prefix_queried_tokens = prefix_queried;
    data_.prefix_hit_tokens = prefix_hits;
}

MetricsSnapshot Metrics::snapshot() const {
    std::lock_guard lock(mutex_);
    return data_;
}

}  // namespace llmopt
