// Element-wise and per-row operations of the forward pass.
#include "llmopt/kernels/ops.h"

#include <algorithm>
#include <cmath>

#include "llmopt/kernels/quant.h"
#include "llmopt/kernels/simd_exp.h"

namespace llmopt::kernels {

void rms_norm(float* out, const float* x, const float* weight, int64_t n, float eps) {
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += double(x[i]) * double(x[i]);
    const float scale = 1.0f / std::sqrt(float(sum / double(n)) + eps);
    for (int64_t i = 0; i < n; ++i) out[i] = x[i] * scale * weight[i];
}

std::vector<double> rope_inverse_frequencies(float base, int32_t rope_dim) {
    std::vector<double> inv_freq(rope_dim / 2);
    for (int32_t i = 0; i < rope_dim / 2; ++i) inv_freq[i] = std::pow(double(base), -2.0 * i / rope_dim);
    return inv_freq;
}

void rope_angles(int32_t position, const RopeParams& p, float* cos_out, float* sin_out) {
    for (int32_t i = 0; i < p.rope_dim / 2; ++i) {
        double theta = double(position) * p.freq_scale * p.inv_freq[i];
        if (p.freq_factors) theta /= p.freq_factors[i];
        cos_out[i] = float(std::cos(theta));
        sin_out[i] = float(std::sin(theta));
    }
}

void rope_rotate_scalar(float* heads, int32_t n_heads, const float* cos, const float* sin, const RopeParams& p) {
    const int32_t half = p.rope_dim / 2;
    for (int32_t i = 0; i < half; ++i) {
        const float c = cos[i], s = sin[i];
        const int32_t a = p.neox ? i : 2 * i;
        const int32_t b = p.neox ? i + half : 2 * i + 1;
        for (int32_t h = 0; h < n_heads; ++h) {
            float* v = heads + int64_t(h) * p.head_dim;
            const float x0 = v[a], x1 = v[b];
            v[a] = x0 * c - x1 * s;
            v[b] = x0 * s + x1 * c;
        }
    }
}

namespace {

// The scalar rotation 4 pairs (or 8, neox) at a time, with the same roundings: a product each,
// then the sum. No FMA in the target, so the compiler cannot fuse them.
__attribute__((target("avx2"))) void rope_rotate_avx2(float* heads, int32_t n_heads, const float* cos,
                                                      const float* sin, const RopeParams& p) {
    const int32_t half = p.rope_dim / 2;
    for (int32_t h = 0; h < n_heads; ++h) {
        float* v = heads + int64_t(h) * p.head_dim;
        if (p.neox) {
            for (int32_t i = 0; i < half; i += 8) {
                const __m256 c = _mm256_loadu_ps(cos + i), s = _mm256_loadu_ps(sin + i);
                const __m256 x0 = _mm256_loadu_ps(v + i), x1 = _mm256_loadu_ps(v + i + half);
                _mm256_storeu_ps(v + i, _mm256_sub_ps(_mm256_mul_ps(x0, c), _mm256_mul_ps(x1, s)));
                _mm256_storeu_ps(v + i + half, _mm256_add_ps(_mm256_mul_ps(x0, s), _mm256_mul_ps(x1, c)));
            }
            continue;
        }
        for (int32_t i = 0; i < half; i += 4) {
            // Pair (x0, x1) in lanes (2j, 2j + 1) meets angle j in both; addsub subtracts in the
            // even lanes (x0 c - x1 s) and adds in the odd ones (x1 c + x0 s).
            const __m128 c4 = _mm_loadu_ps(cos + i), s4 = _mm_loadu_ps(sin + i);
            const __m256 c = _mm256_set_m128(_mm_unpackhi_ps(c4, c4), _mm_unpacklo_ps(c4, c4));
            const __m256 s = _mm256_set_m128(_mm_unpackhi_ps(s4, s4), _mm_unpacklo_ps(s4, s4));
            const __m256 x = _mm256_loadu_ps(v + 2 * i);
            const __m256 swapped = _mm256_permute_ps(x, 0xB1);
            _mm256_storeu_ps(v + 2 * i, _mm256_addsub_ps(_mm256_mul_ps(x, c), _mm256_mul_ps(swapped, s)));
        }
    }
}

}  // namespace

void rope_rotate(float* heads, int32_t n_heads, const float* cos, const float* sin, const RopeParams& p) {
    const int32_t half = p.rope_dim / 2;
    if (cpu_has_avx2() && half % (p.neox ? 8 : 4) == 0)
        return rope_rotate_avx2(heads, n_heads, cos, sin, p);
    rope_rotate_scalar(heads, n_heads, cos, sin, p);
}

namespace {

__attribute__((target("avx2,fma"))) __m256 silu_mul8(__m256 g, __m256 u) {
    const __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), g));
    return _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e)), u);
}

// Every element goes through the same 8-wide function, the tail too (padded through a buffer),
// so a value never depends on where it falls in the array, i.e. on the batch size.
__attribute__((target("avx2,fma"))) void silu_mul_avx2(float* gate, const float* up, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(gate + i, silu_mul8(_mm256_loadu_ps(gate + i), _mm256_loadu_ps(up + i)));
    if (i == n) return;
    float g[8] = {}, u[8] = {};
    std::copy(gate + i, gate + n, g);
    std::copy(up + i, up + n, u);
    _mm256_storeu_ps(g, silu_mul8(_mm256_loadu_ps(g), _mm256_loadu_ps(u)));
    std::copy(g, g + (n - i), gate + i);
}

}  // namespace

void silu_mul(float* gate, const float* up, int64_t n) {
    if (cpu_has_avx2()) return silu_mul_avx2(gate, up, n);
    for (int64_t i = 0; i < n; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void add(float* x, const float* y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

void softmax(float* x, int64_t n) {
    const float mx = *std::max_element(x, x + n);
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) {
        x[i] = std::exp(x[i] - mx);
        sum += x[i];
    }
    const float inv = float(1.0 / sum);
    for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

}  // namespace llmopt::kernels
