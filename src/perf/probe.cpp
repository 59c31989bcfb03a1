// Machine limits: read bandwidth over a buffer far larger than the caches, and FMA peak.
#include "llmopt/perf/probe.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "llmopt/kernels/quant.h"

namespace llmopt {
namespace {

using Clock = std::chrono::steady_clock;

// Results are stored here so the compiler cannot drop the measured loops.
volatile double g_sink = 0;

// Sums 32-byte vectors into eight independent accumulators so the loads, not the adds, limit it.
// Each 256-byte step also requests the bytes 2 KB ahead: on machines where the hardware
// prefetcher alone leaves bandwidth unused (measured on a Xeon: 28.2 -> 30.3 GB/s), the limit a
// kernel can reach is the prefetched one. On a Zen 3 a loop like it read 5% less with it
// (one run each).
__attribute__((target("avx2"))) double sum_avx2(const float* p, size_t n) {
    constexpr size_t kAhead = 512;  // floats
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    for (size_t i = 0; i + 64 <= n; i += 64) {
        _mm_prefetch(reinterpret_cast<const char*>(p + i + kAhead), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(p + i + kAhead + 16), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(p + i + kAhead + 32), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(p + i + kAhead + 48), _MM_HINT_T0);
        a0 = _mm256_add_ps(a0, _mm256_load_ps(p + i));
        a1 = _mm256_add_ps(a1, _mm256_load_ps(p + i + 8));
        a2 = _mm256_add_ps(a2, _mm256_load_ps(p + i + 16));
        a3 = _mm256_add_ps(a3, _mm256_load_ps(p + i + 24));
        a4 = _mm256_add_ps(a4, _mm256_load_ps(p + i + 32));
        a5 = _mm256_add_ps(a5, _mm256_load_ps(p + i + 40));
        a6 = _mm256_add_ps(a6, _mm256_load_ps(p + i + 48));
        a7 = _mm256_add_ps(a7, _mm256_load_ps(p + i + 56));
    }
    const __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                                   _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    alignas(32) float out[8];
    _mm256_store_ps(out, s);
    double total = 0;
    for (float v : out) total += v;
    return total;
}

double sum_scalar(const float* p, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; ++i) s += p[i];
    return s;
}

double read_bandwidth(int32_t threads) {
    const size_t n = size_t(1) << 28;  // 1 GiB of floats: far past any cache
    float* buf = static_cast<float*>(std::aligned_alloc(64, n * sizeof(float)));
#pragma omp parallel for num_threads(threads) schedule(static)
    for (size_t i = 0; i < n; ++i) buf[i] = 1.0f;  // each thread touches the pages it will read
    const bool avx2 = kernels::cpu_has_avx2();
    double best = 0, sink = 0;
    for (int rep = 0; rep < 4; ++rep) {
        const auto t0 = Clock::now();
#pragma omp parallel num_threads(threads) reduction(+ : sink)
        {
            const size_t per = n / omp_get_num_threads() / 64 * 64;
            const float* p = buf + per * omp_get_thread_num();
            sink += avx2 ? sum_avx2(p, per) : sum_scalar(p, per);
        }
        const double s = std::chrono::duration<double>(Clock::now() - t0).count();
        best = std::max(best, n * sizeof(float) / s / 1e9);
    }
    std::free(buf);
    g_sink = sink;
    return best;
}

// Ten independent accumulator chains hide the FMA latency (4 cycles, two ports: 8 chains in
// flight are needed). The loops are unrolled so the chains stay in registers (an array indexed
// in a loop is kept in memory and runs at a third), and `a * m + b` is contracted to one FMA
// (GNU C++ contracts by default) on the vector width of the caller's target.
using Floats8 = float __attribute__((vector_size(32)));
using Floats16 = float __attribute__((vector_size(64)));
template <typename Floats>
[[gnu::always_inline]] inline double fma_chains(int64_t iterations) {
    Floats a[10];
#pragma GCC unroll 10
    for (int i = 0; i < 10; ++i) a[i] = Floats{} + float(i);
    const Floats m = Floats{} + 0.999999f, b = Floats{} + 1e-7f;
    for (int64_t it = 0; it < iterations; ++it)
#pragma GCC unroll 10
        for (int i = 0; i < 10; ++i) a[i] = a[i] * m + b;
    Floats s = a[0];
#pragma GCC unroll 10
    for (int i = 1; i < 10; ++i) s += a[i];
    return s[0];
}

__attribute__((target("avx2,fma"))) double fma_chain_avx2(int64_t iterations) {
    return fma_chains<Floats8>(iterations);
}

// The same on 512-bit registers. Intel's server cores have two 512-bit FMA units (twice the
// 256-bit rate: a Xeon here read 236 against 128 GFLOP/s per core); Zen 4 splits each 512-bit
// FMA in two (the same rate as 256-bit).
__attribute__((target("avx512f"))) double fma_chain_avx512(int64_t iterations) {
    return fma_chains<Floats16>(iterations);
}

// GFLOP/s of `chain` (10 FMAs of `lanes` floats per iteration) on all threads, best of three.
double peak_flops(int32_t threads, double (*chain)(int64_t), int lanes) {
    const int64_t iterations = 50'000'000;
    double best = 0, sink = 0;
    for (int rep = 0; rep < 3; ++rep) {
        const auto t0 = Clock::now();
#pragma omp parallel num_threads(threads) reduction(+ : sink)
        sink += chain(iterations);
        const double s = std::chrono::duration<double>(Clock::now() - t0).count();
        best = std::max(best, double(iterations) * 10 * lanes * 2 * threads / s / 1e9);
    }
    g_sink = sink;
    return best;
}

}  // namespace

MachineLimits probe_machine(int32_t threads) {
    MachineLimits m;
    m.threads = threads > 0 ? threads : omp_get_num_procs();
    m.read_gbps = read_bandwidth(m.threads);
    if (!kernels::cpu_has_avx2()) return m;
    m.peak_gflops = peak_flops(m.threads, fma_chain_avx2, 8);
    m.peak_vector_bits = 256;
    // The peak is the faster width's: the 512-bit float tiles run only where 512-bit FMAs are
    // faster (float_kernels() in the kernels).
    if (__builtin_cpu_supports("avx512f")) {
        const double wide = peak_flops(m.threads, fma_chain_avx512, 16);
        if (wide > m.peak_gflops) {
            m.peak_gflops = wide;
            m.peak_vector_bits = 512;
        }
    }
    return m;
}

}  // namespace llmopt
