// Matmul throughput on the weight shapes of a whole tinyllama-1.1b step, per type and batch size.
//
// Usage: bench_matmul [types=f16,q8_0,q4_0,q4_K,q6_K] [ns=1,16,128,512] [min_seconds=2]
//
// Every layer gets its own copy of the weights (22 layers of q, k, v, o, gate, up, down and the
// output matrix: 0.6 GB at q4_0, 2.2 GB at f16), so a decode step streams them from memory as a
// real one does instead of finding them in the last-level cache. Reported per batch size n:
// tokens/s of the matmuls alone (n / step time), weight bytes streamed per second, GFLOP/s
// (2 flops per multiply-add), and per matrix shape the GFLOP/s of that shape's calls. When other
// processes share the cores, the wall-clock figures drop; "cpu tok/s" divides by the process's
// CPU time per thread instead, which shows the kernels' own speed (it still counts spin-waits).
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "llmopt/kernels/interleave.h"
#include "llmopt/kernels/matmul.h"
#include "llmopt/kernels/quant.h"
#include "llmopt/util/large_pages.h"

namespace {

using llmopt::DType;
using llmopt::WeightMatrix;
namespace kernels = llmopt::kernels;
using Clock = std::chrono::steady_clock;

constexpr int kLayers = 22;
constexpr int64_t kDim = 2048, kFfn = 5632, kKvDim = 256, kVocab = 32000;

// The matrices of one layer in forward order; `input` is the activation width they read.
struct Shape {
    const char* name;
    int64_t rows;
    int64_t cols;
};
constexpr Shape kLayerShapes[] = {{"q", kDim, kDim},   {"k", kKvDim, kDim},  {"v", kKvDim, kDim},
                                  {"o", kDim, kDim},   {"gate", kFfn, kDim}, {"up", kFfn, kDim},
                                  {"down", kDim, kFfn}};
constexpr Shape kOutputShape = {"output", kVocab, kDim};

std::vector<float> gaussian(size_t count, uint32_t seed, float stddev) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, stddev);
    std::vector<float> v(count);
    for (float& x : v) x = normal(rng);
    return v;
}

// One quantized matrix of the shape, copied into `copies` separate buffers (quantizing the
// K-quants is slow; the copies only have to occupy distinct memory). Where the model would
// regroup the matrix at load (kernels/interleave.h), the copies are regrouped too; all of them
// live in large pages as the model's regrouped matrices do, so the kernels read what a model
// step reads.
struct Weights {
    std::vector<std::shared_ptr<uint8_t>> memory;
    std::vector<WeightMatrix> copies;  // views of `memory`
};

Weights make_weights(DType type, const Shape& s, int copies, uint32_t seed) {
    const size_t stride = llmopt::row_bytes(type, s.cols);
    std::vector<uint8_t> first(stride * s.rows);
    const std::vector<float> w = gaussian(static_cast<size_t>(s.cols) * 64, seed, 0.02f);
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < s.rows; ++r)
        kernels::quantize_row(type, w.data() + (r % 64) * s.cols, first.data() + r * stride,
                              s.cols);
    Weights out;
    const WeightMatrix rows{type, s.rows, s.cols, first.data()};
    const bool regroup = kernels::interleaving_pays(rows);
    for (int c = 0; c < copies; ++c) {
        uint8_t* copy = out.memory.emplace_back(llmopt::allocate_large_pages(first.size())).get();
        if (regroup) {
            out.copies.push_back(kernels::interleave_rows8(rows, copy));
        } else {
            std::copy(first.begin(), first.end(), copy);
            out.copies.push_back({type, s.rows, s.cols, copy});
        }
    }
    return out;
}

double matrix_bytes(const WeightMatrix& w) { return double(w.row_stride()) * double(w.rows); }

double process_cpu_seconds() {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

struct ShapeTime {
    double seconds = 0;
    double flops = 0;
};

void run_type(DType type, const std::vector<int64_t>& ns, double min_seconds) {
    std::vector<Weights> layer_data;  // per shape, a copy per layer
    for (size_t i = 0; i < std::size(kLayerShapes); ++i)
        layer_data.push_back(make_weights(type, kLayerShapes[i], kLayers, uint32_t(i + 1)));
    const auto output_data = make_weights(type, kOutputShape, 1, 99);
    double weight_bytes = matrix_bytes(output_data.copies[0]);
    double macs_per_token = double(kOutputShape.rows * kOutputShape.cols);
    for (size_t i = 0; i < std::size(kLayerShapes); ++i) {
        weight_bytes += matrix_bytes(layer_data[i].copies[0]) * kLayers;
        macs_per_token += double(kLayerShapes[i].rows * kLayerShapes[i].cols) * kLayers;
    }

    const int64_t max_n = *std::max_element(ns.begin(), ns.end());
    const std::vector<float> x = gaussian(static_cast<size_t>(max_n * kFfn), 7, 1.0f);
    std::vector<float> y(static_cast<size_t>(max_n * kVocab));
    std::vector<uint8_t> scratch;

    for (const int64_t n : ns) {
        std::vector<ShapeTime> per_shape(std::size(kLayerShapes) + 1);
        auto timed = [&](size_t shape_index, const WeightMatrix& w) {
            const auto t0 = Clock::now();
            kernels::matmul(w, x.data(), n, y.data(), scratch);
            const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
            per_shape[shape_index].seconds += dt;
            per_shape[shape_index].flops += 2.0 * double(w.rows * w.cols * n);
            return dt;
        };
        // One untimed warm-up step, then whole steps until min_seconds have passed.
        int steps = -1;
        double total = 0, cpu_start = 0;
        while (steps < 1 || total < min_seconds) {
            if (steps == 0) cpu_start = process_cpu_seconds();
            double step = 0;
            for (int l = 0; l < kLayers; ++l)
                for (size_t i = 0; i < std::size(kLayerShapes); ++i)
                    step += timed(i, layer_data[i].copies[l]);
            step += timed(std::size(kLayerShapes), output_data.copies[0]);
            if (steps++ < 0) {
                for (auto& s : per_shape) s = {};
                continue;
            }
            total += step;
        }
        const double step_time = total / steps;
        const double cpu_step_time =
            (process_cpu_seconds() - cpu_start) / omp_get_max_threads() / steps;
        std::printf("%-5s n=%-4lld %8.1f tok/s %7.1f GB/s %7.1f GFLOP/s %8.1f cpu tok/s |",
                    std::string(llmopt::dtype_name(type)).c_str(), static_cast<long long>(n),
                    double(n) / step_time, weight_bytes / step_time / 1e9,
                    2.0 * macs_per_token * double(n) / step_time / 1e9, double(n) / cpu_step_time);
        for (size_t i = 0; i < per_shape.size(); ++i) {
            const char* name =
                i < std::size(kLayerShapes) ? kLayerShapes[i].name : kOutputShape.name;
            std::printf(" %s %.0f", name, per_shape[i].flops / per_shape[i].seconds / 1e9);
        }
        std::printf("  (%d steps)\n", steps);
        std::fflush(stdout);
    }
}

template <typename T, typename Parse>
std::vector<T> split(const std::string& list, Parse parse) {
    std::vector<T> out;
    std::stringstream ss(list);
    for (std::string item; std::getline(ss, item, ',');) out.push_back(parse(item));
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string types = argc > 1 ? argv[1] : "f16,q8_0,q4_0,q4_K,q6_K";
    const std::string ns = argc > 2 ? argv[2] : "1,16,128,512";
    const double min_seconds = argc > 3 ? std::atof(argv[3]) : 2.0;
    std::printf("threads %d; per-shape figures are GFLOP/s\n", omp_get_max_threads());
    for (const DType type : split<DType>(types, [](const std::string& s) {
             const auto t = llmopt::parse_dtype(s);
             if (!t) {
                 std::fprintf(stderr, "unknown type %s\n", s.c_str());
                 std::exit(2);
             }
             return *t;
         }))
        run_type(type, split<int64_t>(ns, [](const std::string& s) { return std::stoll(s); }),
                 min_seconds);
    return 0;
}
