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

// Ten independent accumulator chains in named registers hide the FMA latency (4 cycles, two
// ports: 8 chains in flight are needed); an array here would be kept in memory and run at a third.
__attribute__((target("avx2,fma"))) double fma_chain_avx2(int64_t iterations) {
    __m256 a0 = _mm256_set1_ps(0), a1 = _mm256_set1_ps(1), a2 = _mm256_set1_ps(2), a3 = _mm256_set1_ps(3),
           a4 = _mm256_set1_ps(4), a5 = _mm256_set1_ps(5), a6 = _mm256_set1_ps(6), a7 = _mm256_set1_ps(7),
           a8 = _mm256_set1_ps(8), a9 = _mm256_set1_ps(9);
    const __m256 m = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    for (int64_t it = 0; it < iterations; ++it) {
        a0 = _mm256_fmadd_ps(a0, m, b);
        a1 = _mm256_fmadd_ps(a1, m, b);
        a2 = _mm256_fmadd_ps(a2, m, b);
        a3 = _mm256_fmadd_ps(a3, m, b);
        a4 = _mm256_fmadd_ps(a4, m, b);
        a5 = _mm256_fmadd_ps(a5, m, b);
        a6 = _mm256_fmadd_ps(a6, m, b);
        a7 = _mm256_fmadd_ps(a7, m, b);
        a8 = _mm256_fmadd_ps(a8, m, b);
        a9 = _mm256_fmadd_ps(a9, m, b);
    }
    const __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                                   _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)),
                                                 _mm256_add_ps(a8, a9)));
    return _mm256_cvtss_f32(s);
}

// The same chains on 512-bit registers. Intel's server cores have two 512-bit FMA units (twice
// the 256-bit rate: a Xeon here read 236 against 128 GFLOP/s per core); Zen 4 splits each
// 512-bit FMA in two (the same rate as 256-bit).
__attribute__((target("avx512f"))) double fma_chain_avx512(int64_t iterations) {
    __m512 a0 = _mm512_set1_ps(0), a1 = _mm512_set1_ps(1), a2 = _mm512_set1_ps(2), a3 = _mm512_set1_ps(3),
           a4 = _mm512_set1_ps(4), a5 = _mm512_set1_ps(5), a6 = _mm512_set1_ps(6), a7 = _mm512_set1_ps(7),
           a8 = _mm512_set1_ps(8), a9 = _mm512_set1_ps(9);
    const __m512 m = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (int64_t it = 0; it < iterations; ++it) {
        a0 = _mm512_fmadd_ps(a0, m, b);
        a1 = _mm512_fmadd_ps(a1, m, b);
        a2 = _mm512_fmadd_ps(a2, m, b);
        a3 = _mm512_fmadd_ps(a3, m, b);
        a4 = _mm512_fmadd_ps(a4, m, b);
        a5 = _mm512_fmadd_ps(a5, m, b);
        a6 = _mm512_fmadd_ps(a6, m, b);
        a7 = _mm512_fmadd_ps(a7, m, b);
        a8 = _mm512_fmadd_ps(a8, m, b);
        a9 = _mm512_fmadd_ps(a9, m, b);
    }
    const __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                                   _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)),
                                                 _mm512_add_ps(a8, a9)));
    alignas(64) float out[16];
    _mm512_store_ps(out, s);
    return out[0];
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
    // The kernels use 512-bit FMAs only where they are faster (float_wide_tiles), so the peak is
    // the faster width's.
    if (__builtin_cpu_supports("avx512f")) {
        const double wide = peak_flops(m.threads, fma_chain_avx512, 16);
        if (wide > m.peak_gflops) m.peak_gflops = wide, m.peak_vector_bits = 512;
    }
    return m;
}

}  // namespace llmopt
