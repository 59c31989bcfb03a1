// pp / tg / batched-decode throughput with traffic and FLOP accounting.
#include "llmopt/perf/throughput.h"

#include <chrono>
#include <cmath>
#include <numeric>
#include <random>

#include "llmopt/kv/kv_cache.h"

namespace llmopt {
namespace {

using Clock = std::chrono::steady_clock;

double matrix_bytes(const WeightMatrix& w) { return w.empty() ? 0.0 : double(w.row_stride()) * double(w.rows); }

// Fraction of the experts a step touches: n tokens each pick k of E experts.
double expert_fraction(const ModelConfig& c, int32_t n_tokens) {
    if (c.n_experts == 0) return 1.0;
    const double untouched_each = 1.0 - double(c.n_experts_used) / c.n_experts;
    return 1.0 - std::pow(untouched_each, n_tokens);
}

// Random tokens at positions [begin, end) of sequence `seq`, in passes of at most `pass`
// tokens; logits of the last.
void prefill(Model& model, KvCache& kv, const std::vector<std::vector<int32_t>>& tables,
             int32_t seq, int32_t begin, int32_t end, int32_t pass, std::mt19937& rng,
             float* logits) {
    std::uniform_int_distribution<int32_t> token(0, model.config().n_vocab - 1);
    Batch batch;
    for (int32_t p0 = begin; p0 < end; p0 += pass) {
        batch.clear();
        batch.block_tables.assign(tables.begin(), tables.end());
        for (int32_t p = p0; p < std::min(end, p0 + pass); ++p)
            batch.add(token(rng), p, seq, p + 1 == end);
        model.forward(batch, kv, logits);
    }
}

// Runs the test once; returns the seconds of the timed part (after the depth is filled).
double run_once(Model& model, const BenchTest& t, std::mt19937& rng) {
    const ModelConfig& c = model.config();
    const int32_t n_ctx = t.n_depth + t.n_prompt + t.n_gen;
    const int32_t bs = 16;
    KvCache kv(model.kv_shape(), t.n_seqs * ((n_ctx + bs - 1) / bs), bs, t.kv_type);
    std::vector<std::vector<int32_t>> tables(t.n_seqs);
    for (auto& table : tables) kv.reserve(table, n_ctx);
    std::uniform_int_distribution<int32_t> token(0, c.n_vocab - 1);
    std::vector<float> logits(size_t(t.n_seqs) * c.n_vocab);
    // The depth in passes of 512 (bounded scratch); the timed prompt in one pass, as pp measures.
    for (int32_t s = 0; s < t.n_seqs && t.n_depth > 0; ++s)
        prefill(model, kv, tables, s, 0, t.n_depth, 512, rng, logits.data());
    const auto t0 = Clock::now();
    if (t.n_prompt > 0)
        prefill(model, kv, tables, 0, t.n_depth, t.n_depth + t.n_prompt, t.n_prompt, rng,
                logits.data());
    Batch batch;
    for (int32_t step = 0; step < t.n_gen; ++step) {
        batch.clear();
        batch.block_tables.assign(tables.begin(), tables.end());
        for (int32_t s = 0; s < t.n_seqs; ++s)
            batch.add(token(rng), t.n_depth + t.n_prompt + step, s, true);
        model.forward(batch, kv, logits.data());
    }
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

std::string BenchTest::name() const {
    const std::string depth = n_depth > 0 ? "@d" + std::to_string(n_depth) : "";
    if (n_prompt > 0 && n_gen == 0) return "pp" + std::to_string(n_prompt) + depth;
    std::string s = "tg" + std::to_string(n_gen);
    if (n_seqs > 1) s += "x" + std::to_string(n_seqs);
    if (n_prompt > 0) s = "pp" + std::to_string(n_prompt) + "+" + s;
    return s + depth;
}

double weight_bytes_per_step(const Model& model, int32_t n_tokens) {
    const ModelWeights& w = model.weights();
    double bytes = matrix_bytes(w.output);
    for (const LayerWeights& L : w.layers) {
        bytes += matrix_bytes(L.wq) + matrix_bytes(L.wk) + matrix_bytes(L.wv) + matrix_bytes(L.wo);
        bytes += matrix_bytes(L.w_gate) + matrix_bytes(L.w_up) + matrix_bytes(L.w_down) + matrix_bytes(L.router);
        double experts = 0;
        for (size_t e = 0; e < L.expert_gate.size(); ++e)
            experts += matrix_bytes(L.expert_gate[e]) + matrix_bytes(L.expert_up[e]) + matrix_bytes(L.expert_down[e]);
        bytes += experts * expert_fraction(model.config(), n_tokens);
    }
    return bytes;
}

double matmul_flops_per_token(const Model& model) {
    const ModelConfig& c = model.config();
    auto elems = [](const WeightMatrix& m) { return m.empty() ? 0.0 : double(m.rows) * double(m.cols); };
    const ModelWeights& w = model.weights();
    double n = elems(w.output);
    for (const LayerWeights& L : w.layers) {
        n += elems(L.wq) + elems(L.wk) + elems(L.wv) + elems(L.wo) + elems(L.w_gate) + elems(L.w_up) + elems(L.w_down);
        n += elems(L.router);
        if (!L.expert_gate.empty())
            n += c.n_experts_used * (elems(L.expert_gate[0]) + elems(L.expert_up[0]) + elems(L.expert_down[0]));
    }
    return 2.0 * n;
}

BenchResult run_bench(Model& model, const BenchTest& t, int32_t reps) {
    const ModelConfig& c = model.config();
    BenchResult r;
    r.test = t;
    // Traffic: the weights once per forward call; KV: each decode token reads its sequence's
    // past (keys and values of every layer, in the cache's element type).
    const double kv_row = double(KvCache::bytes_per_token(model.kv_shape(), t.kv_type));
    const double attn_flops_per_pair = 4.0 * c.n_layers * c.n_heads * c.head_dim;  // QK and PV
    if (t.n_prompt > 0) {
        const double d = t.n_depth, p = t.n_prompt;
        r.bytes_per_run += weight_bytes_per_step(model, t.n_prompt) + kv_row * (d + p);
        r.flops_per_run += matmul_flops_per_token(model) * p +
                           attn_flops_per_pair * (d * p + p * (p + 1) / 2);
    }
    for (int32_t step = 0; step < t.n_gen; ++step) {
        const double past = t.n_depth + t.n_prompt + step + 1;
        r.bytes_per_run += weight_bytes_per_step(model, t.n_seqs) + kv_row * past * t.n_seqs;
        r.flops_per_run += (matmul_flops_per_token(model) + attn_flops_per_pair * past) * t.n_seqs;
    }
    const double tokens = t.n_gen > 0 ? double(t.n_gen) * t.n_seqs : double(t.n_prompt);
    std::mt19937 rng(1234);
    run_once(model, t, rng);  // warm-up: page in the weights, size the workspaces
    double total_seconds = 0;
    for (int32_t i = 0; i < reps; ++i) {
        const double s = run_once(model, t, rng);
        total_seconds += s;
        r.tokens_per_second.push_back(tokens / s);
    }
    const double n = double(r.tokens_per_second.size());
    r.avg_ts = std::accumulate(r.tokens_per_second.begin(), r.tokens_per_second.end(), 0.0) / n;
    double var = 0;
    for (double v : r.tokens_per_second) var += (v - r.avg_ts) * (v - r.avg_ts);
    r.stddev_ts = n > 1 ? std::sqrt(var / (n - 1)) : 0.0;
    const double mean_seconds = total_seconds / n;
    r.gbps = r.bytes_per_run / mean_seconds / 1e9;
    r.gflops = r.flops_per_run / mean_seconds / 1e9;
    return r;
}

}  // namespace llmopt
