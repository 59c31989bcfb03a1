// Element-wise and per-row operations of the forward pass.
#include "llmopt/kernels/ops.h"

#include <algorithm>
#include <cmath>

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

void rope_rotate(float* heads, int32_t n_heads, const float* cos, const float* sin, const RopeParams& p) {
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

void silu_mul(float* gate, const float* up, int64_t n) {
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
