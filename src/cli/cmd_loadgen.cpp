// `llmopt loadgen`: drive an OpenAI-compatible server with concurrent completions and report.
#include <iostream>

#include "cli_support.h"
#include "commands.h"
#include "llmopt/server/load_generator.h"
#include "llmopt/util/error.h"

namespace llmopt::cli {
namespace {

// "MIN:MAX" or a single number for both.
void parse_range(const std::string& text, const char* flag, int32_t& lo, int32_t& hi) {
    try {
        const size_t colon = text.find(':');
        lo = std::stoi(text.substr(0, colon));
        hi = colon == std::string::npos ? lo : std::stoi(text.substr(colon + 1));
    } catch (const std::exception&) {
        throw InputError(std::string(flag) + " must be MIN:MAX (got " + text + ")");
    }
}

}  // namespace

int run_loadgen(int argc, char** argv) {
    CLI::App app(
        "Send concurrent /v1/completions requests to an OpenAI-compatible server and report "
        "throughput, TTFT, TPOT and latency percentiles. Prompts are random words, as many as "
        "make the drawn token count on the server's vocabulary (measured through its /tokenize; "
        "one word per token when it has none); the report shows the true token counts from the "
        "server's usage.",
        "llmopt loadgen");
    LoadgenConfig cfg;
    std::string prompt_range = "32:32", max_tokens_range = "64:64";
    bool as_json = false;
    app.add_option("--url", cfg.url, "server base URL, e.g. http://127.0.0.1:8080")->required();
    app.add_option("--concurrency", cfg.concurrency, "requests in flight at once")
        ->capture_default_str()
        ->check(CLI::Range(1, 4096));
    app.add_option("--requests", cfg.requests, "requests to send in all")
        ->capture_default_str()
        ->check(CLI::Range(1, 1 << 24));
    app.add_option("--prompt-tokens", prompt_range, "prompt length range MIN:MAX in tokens (measured through the server's /tokenize)")
        ->capture_default_str();
    app.add_option("--max-tokens", max_tokens_range, "max_tokens range MIN:MAX, drawn uniformly")
        ->capture_default_str();
    app.add_flag("--stream", cfg.stream, "stream responses (needed for TTFT and TPOT)");
    app.add_flag(
        "--ignore-eos", cfg.ignore_eos,
        "send ignore_eos (vLLM / llama.cpp extension) so every request generates max_tokens");
    app.add_flag("--json", as_json, "print one JSON object instead of a table");
    app.add_option("--shared-prefix-tokens", cfg.shared_prefix_tokens,
                   "every prompt starts with the same document of about N tokens, then its own --prompt-tokens "
                   "(many requests about one text; the server's prefix cache can reuse its KV)")
        ->check(CLI::Range(0, 1 << 20));
    app.add_option("--seed", cfg.seed, "seed of the prompts and lengths")->capture_default_str();
    app.add_option("--api-key", cfg.api_key, "sent as \"Authorization: Bearer KEY\"");
    app.add_option("--model", cfg.model, "\"model\" field of the requests (default: not sent)");
    app.add_option("--timeout", cfg.timeout_s, "seconds to wait for one response")
        ->capture_default_str()
        ->check(CLI::Range(1, 86400));
    return guarded(app, argc, argv, [&] {
        parse_range(prompt_range, "--prompt-tokens", cfg.prompt_tokens_min, cfg.prompt_tokens_max);
        parse_range(max_tokens_range, "--max-tokens", cfg.max_tokens_min, cfg.max_tokens_max);
        const LoadReport report = run_load(cfg);
        if (as_json)
            std::cout << report.to_json().dump() << "\n";
        else
            std::cout << report.to_text();
        return report.ok > 0 ? 0 : 1;
    });
}

}  // namespace llmopt::cli
