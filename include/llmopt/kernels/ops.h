// Element-wise and per-row operations of the forward pass, each with its exact semantics.
#pragma once

#include <cstdint>

namespace llmopt::kernels {

// out = x / sqrt(mean(x²) + eps) * weight; the mean is accumulated in double.
void rms_norm(float* out, const float* x, const float* weight, int64_t n, float eps);

// Rotates the first rope_dim dims of each of n_heads heads (head_dim apart) by the angles of
// `position`: θ_i = position · freq_scale · base^(−2i/rope_dim) / freq_factors[i].
// neox=false pairs (2i, 2i+1); neox=true pairs (i, i + rope_dim/2).
struct RopeParams {
    int32_t head_dim;
    int32_t rope_dim;
    float base;
    float freq_scale;
    bool neox;
    const float* freq_factors;  // (rope_dim/2) or null
};
void rope(float* heads, int32_t n_heads, int32_t position, const RopeParams& p);

// gate = silu(gate) * up
void silu_mul(float* gate, const float* up, int64_t n);

// x += y
void add(float* x, const float* y, int64_t n);

// In-place softmax over n values (max-subtracted, float accumulation in double).
void softmax(float* x, int64_t n);

}  // namespace llmopt::kernels
