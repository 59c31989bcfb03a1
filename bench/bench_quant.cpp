// Micro-benchmarks of vec_dot per weight type: one 4096-element row, and a 4096 x 4096
// matrix-vector product reported as bytes of weights streamed per second.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "llmopt/kernels/quant.h"

namespace {

using llmopt::DType;
namespace kernels = llmopt::kernels;

constexpr int64_t kCols = 4096;
constexpr int64_t kRows = 4096;

const DType kTypes[] = {DType::kF32,  DType::kF16,  DType::kBF16, DType::kQ4_0, DType::kQ4_1,
                        DType::kQ5_0, DType::kQ5_1, DType::kQ8_0, DType::kQ2_K, DType::kQ3_K,
                        DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};

std::vector<float> gaussian(size_t count, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> v(count);
    for (float& x : v) x = normal(rng);
    return v;
}

// A weight matrix of one type and the activation quantized for it, built on first use.
struct Operands {
    size_t row_bytes = 0;
    std::vector<uint8_t> weights;     // (kRows, row_bytes)
    std::vector<uint8_t> activation;  // one row of activation_type(type)
    std::vector<float> out;           // (kRows)
};

Operands& operands(DType type) {
    static std::map<DType, std::unique_ptr<Operands>> cache;
    auto& slot = cache[type];
    if (!slot) {
        slot = std::make_unique<Operands>();
        slot->row_bytes = llmopt::row_bytes(type, kCols);
        slot->weights.resize(slot->row_bytes * kRows);
        const std::vector<float> w = gaussian(static_cast<size_t>(kRows * kCols), 1);
        for (int64_t r = 0; r < kRows; ++r)
            kernels::quantize_row(type, w.data() + r * kCols, slot->weights.data() + r * slot->row_bytes, kCols);
        const DType act = kernels::activation_type(type);
        const std::vector<float> x = gaussian(kCols, 2);
        slot->activation.resize(llmopt::row_bytes(act, kCols));
        kernels::quantize_activation(act, x.data(), slot->activation.data(), kCols);
        slot->out.resize(kRows);
    }
    return *slot;
}

// One row, hot in L1/L2: the kernel's compute throughput.
void bench_row(benchmark::State& state, DType type, bool reference) {
    const Operands& op = operands(type);
    for (auto _ : state) {
        const float v = reference ? kernels::vec_dot_reference(type, kCols, op.weights.data(), op.activation.data())
                                  : kernels::vec_dot(type, kCols, op.weights.data(), op.activation.data());
        benchmark::DoNotOptimize(v);
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(op.row_bytes));
}

// Every row of the matrix against one activation, as a decode step does.
void bench_matvec(benchmark::State& state, DType type) {
    Operands& op = operands(type);
    for (auto _ : state) {
        for (int64_t r = 0; r < kRows; ++r)
            op.out[static_cast<size_t>(r)] =
                kernels::vec_dot(type, kCols, op.weights.data() + r * op.row_bytes, op.activation.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(op.weights.size()));
}

}  // namespace

int main(int argc, char** argv) {
    for (DType type : kTypes) {
        const std::string name(llmopt::dtype_name(type));
        benchmark::RegisterBenchmark(("vec_dot_row/" + name).c_str(), bench_row, type, false);
        benchmark::RegisterBenchmark(("vec_dot_row_reference/" + name).c_str(), bench_row, type, true);
        benchmark::RegisterBenchmark(("matvec_4096x4096/" + name).c_str(), bench_matvec, type)
            ->Unit(benchmark::kMicrosecond);
    }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
