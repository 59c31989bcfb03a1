// A load generator for any OpenAI-compatible server: N /v1/completions requests from C concurrent
// workers, measuring throughput, time to first token (TTFT), time per output token (TPOT) and
// end-to-end latency percentiles, with errors counted by HTTP status.
//
// Prompts are random common English words. Their length is given in tokens: before the run the
// server's POST /tokenize (llmopt, llama.cpp and vLLM have one) measures how many tokens its
// vocabulary makes of these words, and each prompt gets the words that make its drawn length.
// A server without /tokenize gets one word per token. The report gives the true prompt token
// counts from the server's usage. Requests use temperature 0
// and a max_tokens drawn uniformly from its range; models may stop earlier at end of text unless
// ignore_eos (a vLLM / llama.cpp extension) is sent.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

namespace llmopt {

struct LoadgenConfig {
    std::string url;  // http://host:port, optionally with a path prefix such as /v1
    int32_t concurrency = 1;
    int32_t requests = 1;
    int32_t prompt_tokens_min = 32, prompt_tokens_max = 32;
    // Tokens of one document every prompt starts with (0: none), as when many requests ask
    // about the same text; prompt_tokens then sizes each request's own part after it.
    int32_t shared_prefix_tokens = 0;
    int32_t max_tokens_min = 64, max_tokens_max = 64;
    bool stream = false;
    bool ignore_eos = false;
    uint64_t seed = 0;  // the same seed, the same prompts and lengths
    std::string api_key;
    std::string model;  // sent as "model" when not empty
    int32_t timeout_s = 600;
};

// What one request measured.
struct RequestSample {
    int status = 0;        // HTTP status; 0: no response (connection error)
    double latency_s = 0;  // request sent to last byte
    double ttft_s = -1;    // streaming: to the first chunk with text; -1 when not measured
    int64_t prompt_tokens = 0;
    int64_t completion_tokens = 0;
    int64_t cached_tokens = 0;  // usage.prompt_tokens_details.cached_tokens, when the server says
};

struct Percentiles {
    int64_t count = 0;
    double p50 = 0, p90 = 0, p99 = 0, mean = 0;
};
// Nearest-rank percentiles of `values` (empty: all zero).
Percentiles percentiles(std::vector<double> values);

struct LoadReport {
    LoadgenConfig config;
    double wall_s = 0;
    int64_t ok = 0;
    std::map<std::string, int64_t> errors;  // "503", "connection: ...": count
    int64_t prompt_tokens = 0;
    int64_t completion_tokens = 0;
    int64_t cached_tokens = 0;  // of prompt_tokens, those the server took from its prefix cache
    // Prompt tokens per word measured through /tokenize (0: the server has none).
    double tokens_per_word = 0;
    Percentiles latency_s;
    Percentiles ttft_s;  // streaming only
    Percentiles tpot_s;  // streaming only: (latency - TTFT) / (completion tokens - 1)

    double requests_per_s() const;
    double output_tokens_per_s() const;
    // Prompt and generated tokens: all the tokens the server's model processed, per second.
    double total_tokens_per_s() const;
    nlohmann::ordered_json to_json() const;  // keys in the order of the text report
    std::string to_text() const;
};

// A prompt of n_words random common words.
std::string random_prompt(std::mt19937_64& rng, int32_t n_words);

// Words of random_prompt that make about n_tokens tokens, given the measured tokens per word and
// the tokens a prompt gets whatever its length (such as a BOS); at least one word.
int32_t words_for_tokens(int32_t n_tokens, double tokens_per_word, double fixed_tokens);

// Folds the samples of a run that took wall_s seconds into a report.
LoadReport summarize(const LoadgenConfig& config, const std::vector<RequestSample>& samples,
                     double wall_s);

// Runs the whole load and reports; throws InputError for a URL it cannot use.
LoadReport run_load(const LoadgenConfig& config);

}  // namespace llmopt
