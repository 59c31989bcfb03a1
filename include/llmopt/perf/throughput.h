// Throughput benchmark in the spirit of llama-bench: prompt processing (pp), token generation
// (tg) and batched decode of several sequences, with effective memory traffic and FLOP rate.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "llmopt/model/model.h"
#include "llmopt/tensor/dtype.h"

namespace llmopt {

struct BenchTest {
    int32_t n_prompt = 0;  // > 0: one sequence processes this many prompt tokens in one pass
    int32_t n_gen = 0;     // > 0: each sequence decodes this many tokens, one per step
    int32_t n_seqs = 1;    // sequences decoding together (tg with n_seqs > 1: batched decode)
    int32_t n_depth = 0;   // tokens already in each sequence's KV cache, filled before the clock
    DType kv_type = DType::kF32;
    std::string name() const;  // "pp512", "tg128", "tg128x16", "tg32@d1024"
};

struct BenchResult {
    BenchTest test;
    std::vector<double> tokens_per_second;  // one per repetition
    double avg_ts = 0;
    double stddev_ts = 0;
    double bytes_per_run = 0;  // weights + KV read, as the model must stream them
    double flops_per_run = 0;  // matmul and attention multiply-adds × 2
    double gbps = 0;           // bytes_per_run / mean seconds
    double gflops = 0;
};

// Weight bytes the forward pass reads per step (every matrix once; for MoE only the experts
// used on average: n_experts_used / n_experts of them, at least one token's worth).
double weight_bytes_per_step(const Model& model, int32_t n_tokens);
// Multiply-add FLOPs of the matrices for one token (2 per weight element used).
double matmul_flops_per_token(const Model& model);

// Runs one warm-up, then `reps` timed repetitions; random token ids from a fixed seed.
BenchResult run_bench(Model& model, const BenchTest& test, int32_t reps);

}  // namespace llmopt
