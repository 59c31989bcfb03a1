// The serving engine: scheduler step → one ragged forward pass → sampling → streamed events.
#include "llmopt/engine/engine.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "llmopt/util/error.h"

namespace llmopt {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

// Bytes at the end of `text` that could still grow into one of the stop strings.
size_t stop_holdback(const std::string& text, const std::vector<std::string>& stops) {
    size_t hold = 0;
    for (const std::string& s : stops)
        for (size_t n = std::min(s.size(), text.size() + 1) - 1; n > hold; --n)
            if (text.compare(text.size() - n, n, s, 0, n) == 0) {
                hold = n;
                break;
            }
    return hold;
}

// Largest cut <= end that does not split a UTF-8 sequence.
size_t utf8_boundary(const std::string& text, size_t end) {
    size_t cut = end;
    for (size_t back = 1; back <= 3 && back <= cut; ++back) {
        const auto c = static_cast<unsigned char>(text[cut - back]);
        if ((c & 0xc0) == 0x80) continue;  // continuation byte
        const size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
        return len > back ? cut - back : cut;
    }
    return cut;
}

}  // namespace

struct Engine::Request {
    int64_t id = 0;
    RequestParams params;
    EventSink sink;
    std::unique_ptr<SequenceState> unscheduled;  // until the engine thread hands it over
    SequenceState* seq = nullptr;
    Sampler sampler;
    std::string text;     // generated text so far
    size_t emitted = 0;   // bytes of text already streamed
    int32_t prev_token = -1;
    int32_t n_generated = 0;
    RequestEvent pending;  // tokens and logprobs not yet sent
    Clock::time_point arrival = Clock::now();
    Clock::time_point first_token;

    Request(RequestParams p, EventSink s, int32_t n_vocab)
        : params(std::move(p)), sink(std::move(s)), sampler(params.sampling, n_vocab) {}
};

Engine::Engine(Model& model, const Tokenizer& tokenizer, const EngineConfig& config)
    : model_(model),
      tokenizer_(tokenizer),
      config_(config),
      kv_(model.kv_shape(),
          static_cast<int32_t>(config.kv_blocks > 0 ? config.kv_blocks
                                                    : int64_t(config.max_running) * ((config.n_ctx + config.block_size - 1) / config.block_size)),
          config.block_size, config.kv_type),
      scheduler_({config.max_batch_tokens, config.max_running, config.block_size, config.prefix_caching}, kv_.pool()) {
    if (config.max_batch_tokens <= 0 || config.max_running <= 0 || config.n_ctx <= 0)
        throw InputError("engine: batch tokens, parallel sequences and context must be positive");
}

Engine::~Engine() = default;

int64_t Engine::submit(RequestParams params, EventSink sink) {
    Sampler::validate(params.sampling);
    const int32_t n_vocab = model_.config().n_vocab;
    if (params.prompt.empty()) throw InputError("the prompt is empty");
    for (int32_t t : params.prompt)
        if (t < 0 || t >= n_vocab) throw InputError("prompt token " + std::to_string(t) + " is outside the vocabulary");
    if (params.max_tokens < 1) throw InputError("max_tokens must be at least 1");
    if (params.top_logprobs > 20) throw InputError("top_logprobs must be at most 20");
    const int64_t total = int64_t(params.prompt.size()) + params.max_tokens;
    if (total > config_.n_ctx)
        throw InputError("the prompt has " + std::to_string(params.prompt.size()) + " tokens and max_tokens is " +
                         std::to_string(params.max_tokens) + ": together beyond the context of " +
                         std::to_string(config_.n_ctx) + " tokens");
    if (kv_.blocks_for(static_cast<int32_t>(total)) > kv_.pool().n_blocks())
        throw InputError("the request needs " + std::to_string(kv_.blocks_for(static_cast<int32_t>(total))) +
                         " KV blocks but the cache has only " + std::to_string(kv_.pool().n_blocks()));
    std::erase_if(params.stop, [](const std::string& s) { return s.empty(); });
    auto r = std::make_unique<Request>(std::move(params), std::move(sink), n_vocab);
    r->id = next_id_++;
    r->unscheduled = std::make_unique<SequenceState>();
    r->unscheduled->id = r->id;
    r->unscheduled->tokens = r->params.prompt;
    r->unscheduled->n_prompt = static_cast<int32_t>(r->params.prompt.size());
    r->prev_token = r->params.prompt.back();
    const int64_t id = r->id;
    {
        std::lock_guard lock(mutex_);
        incoming_.push_back(std::move(r));
        ++n_pending_;
    }
    wake_.notify_one();
    return id;
}

void Engine::cancel(int64_t id) {
    {
        std::lock_guard lock(mutex_);
        cancelled_.push_back(id);
    }
    wake_.notify_one();
}

bool Engine::idle() const { return n_pending_.load() == 0; }

void Engine::admit_new() {
    std::vector<std::unique_ptr<Request>> incoming;
    {
        std::lock_guard lock(mutex_);
        incoming.swap(incoming_);
    }
    for (auto& r : incoming) {
        r->seq = r->unscheduled.get();
        scheduler_.add(std::move(r->unscheduled));
        requests_[r->id] = std::move(r);
    }
}

void Engine::apply_cancellations() {
    std::vector<int64_t> ids;
    {
        std::lock_guard lock(mutex_);
        ids.swap(cancelled_);
    }
    for (int64_t id : ids)
        if (auto it = requests_.find(id); it != requests_.end()) finish(*it->second, "cancelled");
}

bool Engine::step() {
    admit_new();
    apply_cancellations();
    const SchedulerOutput out = scheduler_.schedule();
    if (!out.preempted.empty()) metrics_.record_preemptions(out.preempted.size());
    if (!out.chunks.empty()) run_batch(out);

    int64_t allocated = 0, used = 0;
    for (const auto& s : scheduler_.running()) {
        allocated += int64_t(s->block_table.size()) * config_.block_size;
        used += s->n_computed;
    }
    const BlockPool& pool = kv_.pool();
    metrics_.set_gauges(scheduler_.n_running(), scheduler_.n_waiting(), pool.n_blocks(), pool.n_free(), pool.n_cached(),
                        allocated, allocated - used, scheduler_.prefix_queries(), scheduler_.prefix_hits());
    return !out.chunks.empty();
}

void Engine::run(const std::atomic<bool>& stop) {
    while (!stop.load()) {
        if (step()) continue;
        std::unique_lock lock(mutex_);
        wake_.wait_for(lock, std::chrono::milliseconds(20), [&] { return !incoming_.empty() || !cancelled_.empty() || stop.load(); });
    }
}

void Engine::run_batch(const SchedulerOutput& out) {
    batch_.clear();
    int32_t n_out = 0;
    for (size_t i = 0; i < out.chunks.size(); ++i) {
        const ScheduledChunk& c = out.chunks[i];
        batch_.block_tables.push_back(c.seq->block_table);
        for (int32_t j = 0; j < c.n_tokens; ++j) {
            const bool last = j + 1 == c.n_tokens && c.samples();
            batch_.add(c.seq->tokens[c.start + j], c.start + j, static_cast<int32_t>(i), last);
            n_out += last;
        }
    }
    const size_t V = model_.config().n_vocab;
    if (logits_.size() < size_t(n_out) * V) logits_.resize(size_t(n_out) * V);
    model_.forward(batch_, kv_, logits_.data());
    scheduler_.complete(out);

    int32_t row = 0;
    for (const ScheduledChunk& c : out.chunks) {
        if (!c.samples()) continue;
        auto it = requests_.find(c.seq->id);
        advance(*it->second, &logits_[size_t(row++) * V]);
    }
}

// Samples the next token of a request whose logits just came out, and streams what it adds.
void Engine::advance(Request& r, const float* row) {
    const size_t V = model_.config().n_vocab;
    scratch_.assign(row, row + V);
    const int32_t token = r.sampler.sample(scratch_, r.seq->tokens);
    if (r.n_generated == 0) r.first_token = Clock::now();
    if (!r.params.ignore_eos && tokenizer_.is_end_of_generation(token)) return finish(r, "stop");

    if (r.params.top_logprobs >= 0) {
        // Log-probabilities of the model's own distribution (before penalties and filters).
        const float mx = *std::max_element(row, row + V);
        double sum = 0;
        for (size_t i = 0; i < V; ++i) sum += std::exp(double(row[i] - mx));
        const float log_z = mx + float(std::log(sum));
        r.pending.logprobs.push_back(row[token] - log_z);
        std::vector<int32_t> ids(V);
        for (size_t i = 0; i < V; ++i) ids[i] = int32_t(i);
        const size_t k = std::min<size_t>(r.params.top_logprobs, V);
        std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), [&](int32_t a, int32_t b) { return row[a] > row[b] || (row[a] == row[b] && a < b); });
        std::vector<TopLogprob> top;
        for (size_t i = 0; i < k; ++i) top.push_back({ids[i], row[ids[i]] - log_z});
        r.pending.top_logprobs.push_back(std::move(top));
    }
    r.seq->tokens.push_back(token);
    ++r.n_generated;
    r.pending.tokens.push_back(token);
    r.text += tokenizer_.decode_piece(r.prev_token, token);
    r.prev_token = token;

    for (const std::string& s : r.params.stop) {
        const size_t at = r.text.find(s, r.emitted > s.size() ? r.emitted - s.size() : 0);
        if (!s.empty() && at != std::string::npos) {
            r.text.resize(at);
            return finish(r, "stop");
        }
    }
    if (r.n_generated >= r.params.max_tokens || int32_t(r.seq->tokens.size()) >= config_.n_ctx) return finish(r, "length");
    RequestEvent& e = r.pending;
    e.text = take_safe_text(r, false);
    if (e.text.empty() && e.tokens.empty()) return;
    e.prompt_tokens = r.seq->n_prompt;
    e.completion_tokens = r.n_generated;
    r.sink(e);
    r.pending = RequestEvent{};
}

std::string Engine::take_safe_text(Request& r, bool final) {
    size_t end = r.text.size();
    if (!final) end = utf8_boundary(r.text, end - std::min(end, stop_holdback(r.text, r.params.stop)));
    if (end <= r.emitted) return "";
    std::string out = r.text.substr(r.emitted, end - r.emitted);
    r.emitted = end;
    return out;
}

void Engine::finish(Request& r, const std::string& reason) {
    const int64_t id = r.id;
    std::unique_ptr<SequenceState> seq = scheduler_.remove(id);
    RequestEvent& e = r.pending;
    e.text = take_safe_text(r, true);
    e.finished = true;
    e.finish_reason = reason;
    e.prompt_tokens = seq ? seq->n_prompt : static_cast<int32_t>(r.params.prompt.size());
    e.completion_tokens = r.n_generated;
    e.cached_prompt_tokens = seq ? seq->n_prefix_hit_tokens : 0;
    const auto now = Clock::now();
    metrics_.record_finish(reason, e.prompt_tokens, r.n_generated,
                           r.n_generated ? seconds_between(r.arrival, r.first_token) : 0.0, seconds_between(r.arrival, now));
    r.sink(e);
    requests_.erase(id);
    --n_pending_;
}

MetricsSnapshot Engine::stats() const { return metrics_.snapshot(); }

}  // namespace llmopt
