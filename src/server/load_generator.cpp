// The load generator: workers, one request's measurement, and the report.
#include "llmopt/server/load_generator.h"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <sstream>
#include <thread>

#include "llmopt/util/error.h"

namespace llmopt {

using nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kWords[] = {
    "the",    "of",    "and",    "to",     "in",    "is",   "you",   "that",   "it",    "he",
    "was",    "for",   "on",     "are",    "as",    "with", "his",   "they",   "at",    "be",
    "this",   "have",  "from",   "or",     "one",   "had",  "by",    "word",   "but",   "not",
    "what",   "all",   "were",   "we",     "when",  "your", "can",   "said",   "there", "use",
    "an",     "each",  "which",  "she",    "do",    "how",  "their", "if",     "will",  "up",
    "other",  "about", "out",    "many",   "then",  "them", "these", "so",     "some",  "her",
    "would",  "make",  "like",   "him",    "into",  "time", "has",   "look",   "two",   "more",
    "write",  "go",    "see",    "number", "no",    "way",  "could", "people", "my",    "than",
    "first",  "water", "been",   "call",   "who",   "oil",  "its",   "now",    "find",  "long",
    "down",   "day",   "did",    "get",    "come",  "made", "may",   "part",   "sun",   "garden",
    "little", "happy", "friend", "play",   "house", "tree", "dog",   "ball",
};

double seconds_since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

int32_t uniform(std::mt19937_64& rng, int32_t lo, int32_t hi) {
    return std::uniform_int_distribution<int32_t>(lo, hi)(rng);
}

// Splits "http://host:port/prefix" into what httplib::Client takes and the completions path.
void split_url(const std::string& url, std::string& origin, std::string& path) {
    const size_t scheme = url.find("://");
    if (scheme == std::string::npos || url.compare(0, scheme, "http") != 0)
        throw InputError("--url must look like http://host:port (got " + url + ")");
    const size_t slash = url.find('/', scheme + 3);
    origin = url.substr(0, slash);
    std::string prefix = slash == std::string::npos ? "" : url.substr(slash);
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    path = prefix + (prefix.ends_with("/v1") ? "/completions" : "/v1/completions");
}

// Reads the server-sent events of a streamed completion as they arrive.
void read_usage(const json& usage, RequestSample& sample) {
    sample.prompt_tokens = usage.value("prompt_tokens", int64_t(0));
    sample.completion_tokens = usage.value("completion_tokens", int64_t(0));
    if (const auto d = usage.find("prompt_tokens_details"); d != usage.end() && d->is_object())
        sample.cached_tokens = d->value("cached_tokens", int64_t(0));
}

class StreamReader {
public:
    StreamReader(Clock::time_point start, RequestSample& sample) : start_(start), sample_(sample) {}

    void feed(const char* data, size_t n) {
        buffer_.append(data, n);
        for (size_t end; (end = buffer_.find("\n\n")) != std::string::npos;
             buffer_.erase(0, end + 2))
            on_event(buffer_.substr(0, end));
    }
    int64_t text_chunks() const { return text_chunks_; }
    bool saw_usage() const { return saw_usage_; }

private:
    void on_event(const std::string& event) {
        if (!event.starts_with("data: ")) return;
        const std::string data = event.substr(6);
        if (data == "[DONE]") return;
        const json chunk = json::parse(data, nullptr, false);
        if (!chunk.is_object()) return;
        if (const auto u = chunk.find("usage"); u != chunk.end() && u->is_object()) {
            read_usage(*u, sample_);
            saw_usage_ = true;
        }
        const auto choices = chunk.find("choices");
        if (choices == chunk.end() || !choices->is_array() || choices->empty()) return;
        const json& c = choices->front();
        const bool has_text =
            c.contains("text") && c["text"].is_string() && !c["text"].get<std::string>().empty();
        if (!has_text) return;
        ++text_chunks_;
        if (sample_.ttft_s < 0) sample_.ttft_s = seconds_since(start_);
    }

    Clock::time_point start_;
    RequestSample& sample_;
    std::string buffer_;
    int64_t text_chunks_ = 0;
    bool saw_usage_ = false;
};

RequestSample send_one(httplib::Client& client, const std::string& path, const LoadgenConfig& cfg,
                       const std::string& prompt, int32_t max_tokens) {
    json body = {
        {"prompt", prompt}, {"max_tokens", max_tokens}, {"temperature", 0}, {"stream", cfg.stream}};
    if (!cfg.model.empty()) body["model"] = cfg.model;
    if (cfg.stream) body["stream_options"] = {{"include_usage", true}};
    if (cfg.ignore_eos) body["ignore_eos"] = true;

    httplib::Request req;
    req.method = "POST";
    req.path = path;
    req.body = body.dump();
    req.set_header("Content-Type", "application/json");
    if (!cfg.api_key.empty()) req.set_header("Authorization", "Bearer " + cfg.api_key);

    RequestSample sample;
    const Clock::time_point start = Clock::now();
    StreamReader reader(start, sample);
    std::string whole;
    req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
        if (cfg.stream) reader.feed(data, n);
        whole.append(data, n);
        return true;
    };
    const httplib::Result res = client.send(req);
    sample.latency_s = seconds_since(start);
    if (!res) return sample;
    sample.status = res->status;
    if (sample.status != 200) return sample;
    if (cfg.stream) {
        // Servers that ignore include_usage: one chunk of text per token is the usual rhythm.
        if (!reader.saw_usage()) sample.completion_tokens = reader.text_chunks();
    } else {
        const json r = json::parse(whole, nullptr, false);
        if (r.is_object() && r.contains("usage") && r["usage"].is_object()) read_usage(r["usage"], sample);
    }
    return sample;
}

// The token count /tokenize gives for `text` (-1 when the server has no such route). The body
// carries the text as "content" (llmopt, llama.cpp) and, if that is refused, as "prompt" (vLLM).
int64_t count_tokens(httplib::Client& client, const LoadgenConfig& cfg, const std::string& text) {
    httplib::Headers headers;
    if (!cfg.api_key.empty()) headers.emplace("Authorization", "Bearer " + cfg.api_key);
    for (const char* field : {"content", "prompt"}) {
        json body = {{field, text}};
        if (!cfg.model.empty()) body["model"] = cfg.model;
        const httplib::Result res = client.Post("/tokenize", headers, body.dump(), "application/json");
        if (!res || res->status != 200) continue;
        const json r = json::parse(res->body, nullptr, false);
        if (r.is_object() && r.contains("tokens") && r["tokens"].is_array()) return int64_t(r["tokens"].size());
    }
    return -1;
}

struct TokensPerWord {
    double per_word = 0;  // 0: not measured
    double fixed = 0;
};

// A long prompt's count gives the tokens per word; an empty one's, the tokens any prompt gets
// (such as a BOS; 0 when the server refuses empty text).
TokensPerWord measure_tokens_per_word(const std::string& origin, const LoadgenConfig& cfg) {
    httplib::Client client(origin);
    client.set_read_timeout(cfg.timeout_s, 0);
    constexpr int32_t kWordsMeasured = 512;
    std::mt19937_64 rng(cfg.seed ^ 0x9e3779b97f4a7c15ull);
    const int64_t full = count_tokens(client, cfg, random_prompt(rng, kWordsMeasured));
    if (full <= 0) return {};
    TokensPerWord t;
    t.fixed = double(std::max<int64_t>(0, count_tokens(client, cfg, "")));
    t.per_word = std::max(1e-3, (double(full) - t.fixed) / kWordsMeasured);
    return t;
}

nlohmann::ordered_json percentiles_json(const Percentiles& p, bool measured) {
    if (!measured) return nullptr;
    return {{"p50", p.p50}, {"p90", p.p90}, {"p99", p.p99}, {"mean", p.mean}, {"count", p.count}};
}

}  // namespace

Percentiles percentiles(std::vector<double> values) {
    Percentiles p;
    if (values.empty()) return p;
    std::sort(values.begin(), values.end());
    const auto rank = [&](double q) {
        const size_t i = static_cast<size_t>(std::ceil(q * double(values.size())));
        return values[std::clamp<size_t>(i, 1, values.size()) - 1];
    };
    p.count = int64_t(values.size());
    p.p50 = rank(0.50);
    p.p90 = rank(0.90);
    p.p99 = rank(0.99);
    double sum = 0;
    for (double v : values) sum += v;
    p.mean = sum / double(values.size());
    return p;
}

std::string random_prompt(std::mt19937_64& rng, int32_t n_words) {
    std::string prompt;
    constexpr size_t n = sizeof kWords / sizeof kWords[0];
    for (int32_t i = 0; i < n_words; ++i) {
        if (i) prompt += ' ';
        prompt += kWords[std::uniform_int_distribution<size_t>(0, n - 1)(rng)];
    }
    return prompt;
}

int32_t words_for_tokens(int32_t n_tokens, double tokens_per_word, double fixed_tokens) {
    if (tokens_per_word <= 0) return std::max(1, n_tokens);
    return std::max(1, int32_t(std::lround((double(n_tokens) - fixed_tokens) / tokens_per_word)));
}

double LoadReport::requests_per_s() const {
    return wall_s > 0 ? double(ok) / wall_s : 0;
}
double LoadReport::output_tokens_per_s() const {
    return wall_s > 0 ? double(completion_tokens) / wall_s : 0;
}
double LoadReport::total_tokens_per_s() const {
    return wall_s > 0 ? double(prompt_tokens + completion_tokens) / wall_s : 0;
}

LoadReport summarize(const LoadgenConfig& config, const std::vector<RequestSample>& samples,
                     double wall_s) {
    LoadReport r;
    r.config = config;
    r.wall_s = wall_s;
    std::vector<double> latency, ttft, tpot;
    for (const RequestSample& s : samples) {
        if (s.status != 200) {
            ++r.errors[s.status == 0 ? "connection" : std::to_string(s.status)];
            continue;
        }
        ++r.ok;
        r.prompt_tokens += s.prompt_tokens;
        r.completion_tokens += s.completion_tokens;
        r.cached_tokens += s.cached_tokens;
        latency.push_back(s.latency_s);
        if (s.ttft_s >= 0) {
            ttft.push_back(s.ttft_s);
            if (s.completion_tokens > 1)
                tpot.push_back((s.latency_s - s.ttft_s) / double(s.completion_tokens - 1));
        }
    }
    r.latency_s = percentiles(latency);
    r.ttft_s = percentiles(ttft);
    r.tpot_s = percentiles(tpot);
    return r;
}

nlohmann::ordered_json LoadReport::to_json() const {
    return {{"url", config.url},
            {"concurrency", config.concurrency},
            {"requests", config.requests},
            {"stream", config.stream},
            {"wall_s", wall_s},
            {"ok", ok},
            {"errors", errors},
            {"requests_per_s", requests_per_s()},
            {"output_tokens_per_s", output_tokens_per_s()},
            {"total_tokens_per_s", total_tokens_per_s()},
            {"prompt_tokens", prompt_tokens},
            {"cached_tokens", cached_tokens},
            {"tokens_per_word", tokens_per_word},
            {"completion_tokens", completion_tokens},
            {"latency_s", percentiles_json(latency_s, true)},
            {"ttft_s", percentiles_json(ttft_s, config.stream)},
            {"tpot_s", percentiles_json(tpot_s, config.stream)}};
}

std::string LoadReport::to_text() const {
    std::ostringstream o;
    char line[256];
    const int64_t failed = std::accumulate(errors.begin(), errors.end(), int64_t(0),
                                           [](int64_t n, const auto& e) { return n + e.second; });
    std::snprintf(line, sizeof line,
                  "requests     %lld ok, %lld failed in %.2f s (%d concurrent%s)\n",
                  static_cast<long long>(ok), static_cast<long long>(failed), wall_s,
                  config.concurrency, config.stream ? ", streaming" : "");
    o << line;
    std::snprintf(line, sizeof line,
                  "throughput   %.2f requests/s, %.1f generated tokens/s, %.1f prompt + generated tokens/s\n",
                  requests_per_s(), output_tokens_per_s(), total_tokens_per_s());
    o << line;
    std::snprintf(
        line, sizeof line,
        "tokens       %lld prompt (%.1f per request, %.1f%% from the prefix cache), %lld generated (%.1f per request)\n",
        static_cast<long long>(prompt_tokens), ok ? double(prompt_tokens) / double(ok) : 0.0,
        prompt_tokens ? 100.0 * double(cached_tokens) / double(prompt_tokens) : 0.0,
        static_cast<long long>(completion_tokens),
        ok ? double(completion_tokens) / double(ok) : 0.0);
    o << line;
    std::snprintf(line, sizeof line, "%-12s %10s %10s %10s %10s\n", "(ms)", "p50", "p90", "p99",
                  "mean");
    o << line;
    const auto row = [&](const char* name, const Percentiles& p, bool measured) {
        if (!measured) {
            std::snprintf(line, sizeof line, "%-12s %10s\n", name, "(needs --stream)");
        } else {
            std::snprintf(line, sizeof line, "%-12s %10.2f %10.2f %10.2f %10.2f\n", name,
                          p.p50 * 1e3, p.p90 * 1e3, p.p99 * 1e3, p.mean * 1e3);
        }
        o << line;
    };
    row("latency", latency_s, true);
    row("TTFT", ttft_s, config.stream);
    row("TPOT", tpot_s, config.stream);
    for (const auto& [status, n] : errors) o << "error        " << status << ": " << n << "\n";
    return o.str();
}

LoadReport run_load(const LoadgenConfig& cfg) {
    if (cfg.concurrency < 1 || cfg.requests < 1)
        throw InputError("--concurrency and --requests must be at least 1");
    if (cfg.prompt_tokens_min < 1 || cfg.prompt_tokens_min > cfg.prompt_tokens_max)
        throw InputError("--prompt-tokens must be MIN:MAX with 1 <= MIN <= MAX");
    if (cfg.max_tokens_min < 1 || cfg.max_tokens_min > cfg.max_tokens_max)
        throw InputError("--max-tokens must be MIN:MAX with 1 <= MIN <= MAX");
    std::string origin, path;
    split_url(cfg.url, origin, path);

    const TokensPerWord tpw = measure_tokens_per_word(origin, cfg);
    std::string document;  // what every prompt starts with; it carries the fixed tokens
    if (cfg.shared_prefix_tokens > 0) {
        std::mt19937_64 rng(cfg.seed ^ 0xd0c0d0c0d0c0d0c0ull);
        document = random_prompt(rng, words_for_tokens(cfg.shared_prefix_tokens, tpw.per_word, tpw.fixed)) + " ";
    }
    const double own_fixed = document.empty() ? tpw.fixed : 0.0;
    // Every request's prompt and length come from its own index, whatever worker sends it.
    std::vector<std::string> prompts(cfg.requests);
    std::vector<int32_t> max_tokens(cfg.requests);
    for (int32_t i = 0; i < cfg.requests; ++i) {
        std::mt19937_64 rng(cfg.seed * 1000003 + uint64_t(i));
        const int32_t n_tokens = uniform(rng, cfg.prompt_tokens_min, cfg.prompt_tokens_max);
        prompts[i] = document + random_prompt(rng, words_for_tokens(n_tokens, tpw.per_word, own_fixed));
        max_tokens[i] = uniform(rng, cfg.max_tokens_min, cfg.max_tokens_max);
    }

    std::vector<RequestSample> samples(cfg.requests);
    std::atomic<int32_t> next{0};
    const Clock::time_point start = Clock::now();
    std::vector<std::thread> workers;
    for (int32_t w = 0; w < std::min(cfg.concurrency, cfg.requests); ++w)
        workers.emplace_back([&] {
            httplib::Client client(origin);
            client.set_keep_alive(true);  // as benchmark clients do: no connect per request
            client.set_tcp_nodelay(true);
            client.set_read_timeout(cfg.timeout_s, 0);
            client.set_write_timeout(cfg.timeout_s, 0);
            for (int32_t i; (i = next++) < cfg.requests;)
                samples[i] = send_one(client, path, cfg, prompts[i], max_tokens[i]);
        });
    for (std::thread& t : workers) t.join();
    LoadReport report = summarize(cfg, samples, seconds_since(start));
    report.tokens_per_word = tpw.per_word;
    return report;
}

}  // namespace llmopt
