// `llmopt batch`: offline inference, JSONL in and JSONL out, with continuous, token-budget or
// static batching; results are appended as each request finishes, so a re-run resumes.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <numeric>
#include <set>

#include "cli_support.h"
#include "commands.h"
#include "llmopt/engine/chat_template.h"
#include "llmopt/engine/engine.h"
#include "llmopt/engine/runtime.h"
#include "llmopt/engine/static_batch.h"
#include "llmopt/format/gguf.h"
#include "llmopt/util/error.h"

namespace llmopt::cli {
namespace {

using json = nlohmann::json;

struct Job {
    std::string id;
    RequestParams params;
};

std::string id_of(const json& line, size_t index) {
    if (!line.contains("id")) return std::to_string(index);
    const json& id = line["id"];
    if (id.is_string()) return id.get<std::string>();
    if (id.is_number_integer()) return std::to_string(id.get<int64_t>());
    throw InputError("line " + std::to_string(index + 1) + ": \"id\" must be a string or an integer");
}

template <typename T>
T field(const json& line, const char* key, T fallback, size_t index) {
    if (!line.contains(key)) return fallback;
    try {
        return line[key].get<T>();
    } catch (const json::exception&) {
        throw InputError("line " + std::to_string(index + 1) + ": \"" + key + "\" has the wrong type");
    }
}

std::vector<Job> read_jobs(const std::string& path, const Runtime& rt, const std::set<std::string>& done, int32_t default_max) {
    std::ifstream in(path);
    if (!in) throw InputError("cannot read " + path);
    const Tokenizer& tok = *rt.tokenizer;
    std::string jinja;
    if (const GgufFile* g = rt.model->gguf()) jinja = g->get_string("tokenizer.chat_template").value_or("");
    const ChatFormat format = detect_chat_format(jinja);
    const std::string bos = tok.bos_id() >= 0 ? tok.token_text(tok.bos_id()) : "";
    const std::string eos = tok.eos_id() >= 0 ? tok.token_text(tok.eos_id()) : "";
    std::vector<Job> jobs;
    std::string text;
    for (size_t index = 0; std::getline(in, text); ++index) {
        if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
        const json line = json::parse(text, nullptr, false);
        if (line.is_discarded() || !line.is_object()) throw InputError("line " + std::to_string(index + 1) + " is not a JSON object");
        Job job;
        job.id = id_of(line, index);
        if (done.count(job.id)) continue;
        RequestParams& p = job.params;
        if (line.contains("messages")) {
            std::vector<ChatMessage> messages;
            for (const json& m : line["messages"]) messages.push_back({field<std::string>(m, "role", "", index), field<std::string>(m, "content", "", index)});
            const std::string rendered = render_chat(format, messages, true, bos, eos);
            const bool has_bos = !bos.empty() && rendered.rfind(bos, 0) == 0;
            p.prompt = tok.encode(rendered, !has_bos && tok.add_bos_by_default(), true);
        } else {
            p.prompt = tok.encode(field<std::string>(line, "prompt", "", index), tok.add_bos_by_default(), false);
        }
        p.max_tokens = field<int32_t>(line, "max_tokens", default_max, index);
        p.sampling.temperature = field<float>(line, "temperature", 0.0f, index);
        p.sampling.top_p = field<float>(line, "top_p", 1.0f, index);
        p.sampling.top_k = field<int32_t>(line, "top_k", 0, index);
        p.sampling.min_p = field<float>(line, "min_p", 0.0f, index);
        p.sampling.seed = field<uint64_t>(line, "seed", 0, index);
        p.ignore_eos = field<bool>(line, "ignore_eos", false, index);
        if (line.contains("stop")) {
            if (line["stop"].is_string())
                p.stop = {line["stop"].get<std::string>()};
            else
                p.stop = field<std::vector<std::string>>(line, "stop", {}, index);
        }
        jobs.push_back(std::move(job));
    }
    return jobs;
}

std::set<std::string> finished_ids(const std::string& path) {
    std::set<std::string> ids;
    std::ifstream in(path);
    std::string text;
    while (std::getline(in, text)) {
        const json line = json::parse(text, nullptr, false);
        if (!line.is_discarded() && line.is_object() && line.contains("id") && line["id"].is_string())
            ids.insert(line["id"].get<std::string>());
    }
    return ids;
}

class Progress {
public:
    explicit Progress(size_t total) : total_(total) {}
    void tick() {
        ++done_;
        const int width = 30, filled = total_ ? int(width * done_ / total_) : width;
        std::fprintf(stderr, "\r[%s%s] %zu/%zu", std::string(filled, '#').c_str(), std::string(width - filled, '.').c_str(), done_, total_);
        if (done_ == total_) std::fprintf(stderr, "\n");
    }

private:
    size_t total_, done_ = 0;
};

// Continuous mode's submission order. An offline job is done when its last request is: starting
// the longest requests (prompt + max_tokens) first leaves short ones for the end, where the batch
// empties, instead of one long request decoding alone (longest processing time first).
std::vector<size_t> submission_order(const std::vector<Job>& jobs, const std::string& order) {
    std::vector<size_t> idx(jobs.size());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    if (order == "longest-first")
        std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) {
            return jobs[a].params.prompt.size() + jobs[a].params.max_tokens > jobs[b].params.prompt.size() + jobs[b].params.max_tokens;
        });
    return idx;
}

// Groups for the padded modes: input order in fixed-size groups (static), or prompts sorted by
// length and cut whenever the padded prompt tokens would pass the budget (token-budget).
std::vector<std::vector<size_t>> make_groups(const std::vector<Job>& jobs, const std::string& mode, int32_t batch_size, int32_t budget) {
    std::vector<size_t> order(jobs.size());
    std::iota(order.begin(), order.end(), 0);
    std::vector<std::vector<size_t>> groups;
    if (mode == "static") {
        for (size_t i = 0; i < order.size(); i += batch_size)
            groups.emplace_back(order.begin() + i, order.begin() + std::min(order.size(), i + batch_size));
        return groups;
    }
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return jobs[a].params.prompt.size() < jobs[b].params.prompt.size(); });
    size_t longest = 0;
    for (size_t i : order) {
        const size_t len = jobs[i].params.prompt.size();
        if (!groups.empty() && (groups.back().size() + 1) * std::max(longest, len) <= size_t(budget)) {
            groups.back().push_back(i);
        } else {
            groups.push_back({i});
        }
        longest = groups.back().size() == 1 ? len : std::max(longest, len);
    }
    return groups;
}

}  // namespace

int run_batch(int argc, char** argv) {
    CLI::App app("Offline batch inference: JSONL requests ({\"id\", \"prompt\" or \"messages\", \"max_tokens\", \"temperature\", "
                 "\"top_p\", \"top_k\", \"seed\", \"stop\", \"ignore_eos\"}) in, JSONL results out as each completes; "
                 "ids already in the output are skipped.", "llmopt batch");
    ModelFlags mf;
    std::string input, output, mode = "continuous";
    std::string order = "longest-first";
    int32_t batch_size = 16, token_budget = 4096, max_batch_tokens = 512, default_max = 128;
    bool json_summary = false, no_prefix_cache = false;
    add_model_flags(app, mf);
    app.add_option("-i,--input", input, "requests, one JSON object per line")->required();
    app.add_option("-o,--output", output, "results, one JSON object per line (appended)")->required();
    app.add_option("--mode", mode, "continuous (default), token-budget or static")->check(CLI::IsMember({"continuous", "token-budget", "static"}));
    app.add_option("--batch-size", batch_size, "static: requests per batch; continuous: sequences running at once")->check(CLI::Range(1, 4096));
    app.add_option("--token-budget", token_budget, "token-budget: padded prompt tokens per batch")->check(CLI::Range(1, 1 << 24));
    app.add_option("--max-batch-tokens", max_batch_tokens, "continuous: tokens per engine step")->check(CLI::Range(1, 1 << 20));
    app.add_option("--order", order, "continuous: submit requests longest-first (prompt + max_tokens; default) or in input order")
        ->check(CLI::IsMember({"longest-first", "input"}));
    app.add_option("--max-tokens", default_max, "max_tokens for requests that do not say")->check(CLI::Range(1, 1 << 20));
    app.add_flag("--no-prefix-cache", no_prefix_cache, "continuous: do not reuse the KV blocks of shared prompt prefixes");
    app.add_flag("--json", json_summary, "print a JSON summary of the run on stdout");
    return guarded(app, argc, argv, [&] {
        set_threads(mf.threads);
        Runtime rt = load_runtime(mf.model, mf.tokenizer);
        const int32_t n_ctx = context_size(mf, rt.model->config());
        const std::set<std::string> done = finished_ids(output);
        std::vector<Job> jobs = read_jobs(input, rt, done, default_max);
        std::fprintf(stderr, "%zu requests to run (%zu already in %s), mode %s\n", jobs.size(), done.size(), output.c_str(), mode.c_str());
        std::ofstream out(output, std::ios::app);
        if (!out) throw InputError("cannot write " + output);
        Progress progress(jobs.size());
        int64_t prompt_tokens = 0, cached = 0, generated = 0, padded = 0;
        double kv_fragmentation = 0;  // continuous: mean over the engine's steps
        auto write = [&](const Job& job, const RequestEvent& e) {
            out << json{{"id", job.id}, {"text", e.text}, {"finish_reason", e.finish_reason},
                        {"prompt_tokens", e.prompt_tokens}, {"cached_tokens", e.cached_prompt_tokens},
                        {"completion_tokens", e.completion_tokens}}.dump(-1, ' ', false, json::error_handler_t::replace)
                << "\n";
            out.flush();
            prompt_tokens += e.prompt_tokens;
            cached += e.cached_prompt_tokens;
            generated += e.completion_tokens;
            progress.tick();
        };
        const auto t0 = std::chrono::steady_clock::now();
        if (mode == "continuous") {
            Engine engine(*rt.model, *rt.tokenizer,
                          {.n_ctx = n_ctx, .max_batch_tokens = max_batch_tokens, .max_running = batch_size,
                           .prefix_caching = !no_prefix_cache});
            std::vector<RequestEvent> partial(jobs.size());
            for (size_t i : submission_order(jobs, order))
                engine.submit(jobs[i].params, [&, i](const RequestEvent& e) {
                    partial[i].text += e.text;
                    if (!e.finished) return;
                    RequestEvent whole = e;
                    whole.text = partial[i].text;
                    write(jobs[i], whole);
                });
            while (engine.step() || !engine.idle()) {
            }
            kv_fragmentation = engine.stats().mean_kv_fragmentation();
        } else {
            for (const auto& group : make_groups(jobs, mode, batch_size, token_budget)) {
                std::vector<RequestParams> params;
                for (size_t i : group) params.push_back(jobs[i].params);
                const StaticBatchStats s = run_static_batch(*rt.model, *rt.tokenizer, params, n_ctx,
                                                            [&](size_t k, const RequestEvent& e) { write(jobs[group[k]], e); });
                padded += s.padded_tokens;
            }
        }
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::fprintf(stderr, "%s: %zu requests, %lld prompt (%lld from the prefix cache) + %lld generated tokens in %.2f s: %.1f generated t/s, %.1f total t/s, %lld pad tokens",
                     mode.c_str(), jobs.size(), (long long)prompt_tokens, (long long)cached, (long long)generated, seconds, generated / seconds,
                     (prompt_tokens + generated) / seconds, (long long)padded);
        if (mode == "continuous") std::fprintf(stderr, ", KV fragmentation %.1f%% (mean over steps)", 100.0 * kv_fragmentation);
        std::fprintf(stderr, "\n");
        if (json_summary)
            std::cout << json{{"mode", mode}, {"requests", jobs.size()}, {"prompt_tokens", prompt_tokens}, {"cached_tokens", cached}, {"generated_tokens", generated},
                              {"padded_tokens", padded}, {"seconds", seconds}, {"generated_tps", generated / seconds},
                              {"total_tps", (prompt_tokens + generated) / seconds}, {"kv_fragmentation", kv_fragmentation}}.dump() << "\n";
        return 0;
    });
}

}  // namespace llmopt::cli
