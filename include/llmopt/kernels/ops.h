// Element-wise and per-row operations of the forward pass, each with its exact semantics.
#pragma once

#include <cstdint>
#include <vector>

namespace llmopt::kernels {

// out = x / sqrt(mean(x²) + eps) * weight; the mean is accumulated in double.
void rms_norm(float* out, const float* x, const float* weight, int64_t n, float eps);

// RoPE: the first rope_dim dims of each head (head_dim apart) rotate in pairs by
// θ_i = position · freq_scale · inv_freq[i] / freq_factors[i], inv_freq[i] = base^(−2i/rope_dim).
// neox=false pairs (2i, 2i+1); neox=true pairs (i, i + rope_dim/2).
struct RopeParams {
    int32_t head_dim;
    int32_t rope_dim;
    const double* inv_freq;  // (rope_dim/2), from rope_inverse_frequencies
    float freq_scale;
    bool neox;
    const float* freq_factors;  // (rope_dim/2) or null
};
std::vector<double> rope_inverse_frequencies(float base, int32_t rope_dim);
// cos / sin (rope_dim/2 each) of the angles at `position`: computed once per token, then applied
// to its query and key heads alike.
void rope_angles(int32_t position, const RopeParams& p, float* cos_out, float* sin_out);
void rope_rotate(float* heads, int32_t n_heads, const float* cos, const float* sin, const RopeParams& p);
// The reference rope_rotate equals bit for bit (AVX2 kernels are used where the CPU has them).
void rope_rotate_scalar(float* heads, int32_t n_heads, const float* cos, const float* sin, const RopeParams& p);

// gate = silu(gate) * up
void silu_mul(float* gate, const float* up, int64_t n);

// x += y
void add(float* x, const float* y, int64_t n);

// In-place softmax over n values (max-subtracted, float accumulation in double).
void softmax(float* x, int64_t n);

}  // namespace llmopt::kernels
