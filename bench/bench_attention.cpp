// Micro-benchmark of one attention job (the query heads sharing a KV head) per cache type,
// single-threaded: tinyllama's shape (head_dim 64, 8 query heads per KV head) at several
// depths, reported as position-heads per second (each one score and one value row).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <vector>

#include "../src/model/attention_heads.h"
#include "llmopt/kernels/quant.h"

namespace {

using llmopt::DType;

constexpr int32_t kHeadDim = 64, kGroup = 8, kKvHeads = 4, kBlock = 16;

// Random key and value rows at positions [0, n_past) of `table`, in `layer`.
void fill_rows(llmopt::KvCache& kv, int32_t layer, const std::vector<int32_t>& table, int32_t n_past,
               std::mt19937& rng) {
    std::normal_distribution<float> normal;
    std::vector<float> row(size_t(kKvHeads) * kHeadDim);
    for (int32_t p = 0; p < n_past; ++p)
        for (uint8_t* dst : {kv.key(layer, table[p / kBlock], p % kBlock), kv.value(layer, table[p / kBlock], p % kBlock)}) {
            for (float& x : row) x = normal(rng);
            llmopt::kernels::quantize_row(kv.type(), row.data(), dst, kKvHeads * kHeadDim);
        }
}

// The kGroup query heads of KV head `head` over `table`: queries from q, results into out.
void make_jobs(const llmopt::KvCache& kv, const std::vector<float>& q, std::vector<float>& out,
               const std::vector<int32_t>& table, int32_t n_past, int32_t head, llmopt::HeadJob (&jobs)[kGroup]) {
    for (int32_t i = 0; i < kGroup; ++i)
        jobs[i] = {&q[size_t(i) * kHeadDim], &out[size_t(i) * kHeadDim], table, n_past, 0, kv.head_offset(head)};
}

void attend(benchmark::State& state, DType type, bool simd) {
    const int32_t n_past = int32_t(state.range(0));
    llmopt::KvCache kv({1, kKvHeads, kHeadDim}, (n_past + kBlock - 1) / kBlock, kBlock, type);
    std::vector<int32_t> table;
    kv.reserve(table, n_past);
    std::mt19937 rng(1);
    fill_rows(kv, 0, table, n_past, rng);
    std::vector<float> q(size_t(kGroup) * kHeadDim), out(q.size());
    std::normal_distribution<float> normal;
    for (float& x : q) x = normal(rng);
    llmopt::HeadJob jobs[kGroup];
    make_jobs(kv, q, out, table, n_past, 0, jobs);
    for (auto _ : state) {
        llmopt::attend_heads(kv, 0, jobs, kGroup, 0.125f, simd);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetItemsProcessed(state.iterations() * int64_t(n_past) * kGroup);
}

// A whole decode step's attention on one thread: kSeqs sequences at depth n_past over kLayers
// layers (368 MB of F32 cache at depth 512), so that the rows come from memory as in a model
// step rather than from the caches as above.
constexpr int32_t kLayers = 22, kSeqs = 16;

void attend_step(benchmark::State& state, DType type) {
    const int32_t n_past = int32_t(state.range(0));
    const bool shared = state.range(1) != 0;
    llmopt::KvCache kv({kLayers, kKvHeads, kHeadDim}, (n_past + kBlock - 1) / kBlock * kSeqs, kBlock, type);
    std::vector<std::vector<int32_t>> tables(kSeqs);
    std::mt19937 rng(1);
    for (auto& table : tables) {
        kv.reserve(table, n_past);
        for (int32_t l = 0; l < kLayers; ++l) fill_rows(kv, l, table, n_past, rng);
    }
    std::vector<float> q(size_t(kGroup) * kHeadDim), out(q.size());
    std::normal_distribution<float> normal;
    for (float& x : q) x = normal(rng);
    for (auto _ : state) {
        for (int32_t l = 0; l < kLayers; ++l)
            for (const auto& own_table : tables)
                for (int32_t h = 0; h < kKvHeads; ++h) {
                    llmopt::HeadJob jobs[kGroup];
                    make_jobs(kv, q, out, shared ? tables[0] : own_table, n_past, h, jobs);
                    llmopt::attend_heads(kv, l, jobs, kGroup, 0.125f, llmopt::kernels::cpu_has_avx2());
                }
        benchmark::DoNotOptimize(out.data());
    }
    state.SetItemsProcessed(state.iterations() * int64_t(n_past) * kGroup * kKvHeads * kSeqs * kLayers);
}

void BM_attend_step_f32(benchmark::State& s) { attend_step(s, DType::kF32); }
void BM_attend_step_f16(benchmark::State& s) { attend_step(s, DType::kF16); }
BENCHMARK(BM_attend_step_f32)->Args({512, 0})->Args({1024, 0})->Args({1024, 1})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_attend_step_f16)->Args({512, 0})->Unit(benchmark::kMillisecond);

void BM_attend_f32(benchmark::State& s) { attend(s, DType::kF32, llmopt::kernels::cpu_has_avx2()); }
void BM_attend_f16(benchmark::State& s) { attend(s, DType::kF16, llmopt::kernels::cpu_has_avx2()); }
void BM_attend_q8_0(benchmark::State& s) { attend(s, DType::kQ8_0, llmopt::kernels::cpu_has_avx2()); }
void BM_attend_f32_scalar(benchmark::State& s) { attend(s, DType::kF32, false); }

BENCHMARK(BM_attend_f32)->Arg(64)->Arg(256)->Arg(1024)->Arg(4096);
BENCHMARK(BM_attend_f16)->Arg(64)->Arg(256)->Arg(1024)->Arg(4096);
BENCHMARK(BM_attend_q8_0)->Arg(64)->Arg(256)->Arg(1024)->Arg(4096);
BENCHMARK(BM_attend_f32_scalar)->Arg(1024);

}  // namespace

BENCHMARK_MAIN();
