// Quantize / dequantize of the 32-element block types Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1.
#include <algorithm>
#include <cfloat>
#include <cmath>

#include "quant_blocks.h"

// Products and sums are rounded one by one, as in the reference build: a fused multiply-add in
// (x - min) * id + 0.5 or q * d + m would change bytes and dequantized bits.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace llmopt::kernels::detail {
namespace {

// The value of largest magnitude, keeping its sign; the first one wins a tie.
float signed_absmax(const float* x, int n) {
    float amax = 0.0f;
    float max = 0.0f;
    for (int j = 0; j < n; ++j) {
        if (amax < std::fabs(x[j])) {
            amax = std::fabs(x[j]);
            max = x[j];
        }
    }
    return max;
}

float absmax(const float* x, int n) {
    float amax = 0.0f;
    for (int j = 0; j < n; ++j) amax = std::max(amax, std::fabs(x[j]));
    return amax;
}

void min_max(const float* x, int n, float* min, float* max) {
    *min = FLT_MAX;
    *max = -FLT_MAX;
    for (int j = 0; j < n; ++j) {
        *min = std::min(*min, x[j]);
        *max = std::max(*max, x[j]);
    }
}

// Element j of a legacy block lives in nibble j%16 of qs (low nibble for j < 16); bit j of qh is
// its 5th bit.
uint32_t load_qh(const uint8_t* qh) { return load_u32(qh); }
void store_qh(uint8_t* dst, uint32_t qh) { std::memcpy(dst, &qh, sizeof qh); }

}  // namespace

// Symmetric 4-bit: the largest-magnitude value maps to -8 exactly, so the scale carries its sign
// and the opposite extreme (+8) is clamped to 7.
void quantize_q4_0(const float* x, BlockQ4_0* y, int64_t n) {
    for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
        const float d = signed_absmax(x, kQK) / -8;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = fp32_to_fp16(d);
        for (int j = 0; j < kQK / 2; ++j) {
            // Truncation after +8.5 rounds half up within the non-negative range 0.5 ... 16.5.
            const int lo = std::min(15, static_cast<int>(x[j] * id + 8.5f));
            const int hi = std::min(15, static_cast<int>(x[j + kQK / 2] * id + 8.5f));
            y[b].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
        }
    }
}

void quantize_q4_1(const float* x, BlockQ4_1* y, int64_t n) {
    for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
        float min, max;
        min_max(x, kQK, &min, &max);
        const float d = (max - min) / 15;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = fp32_to_fp16(d);
        y[b].m = fp32_to_fp16(min);
        for (int j = 0; j < kQK / 2; ++j) {
            const int lo = std::min(15, static_cast<int>((x[j] - min) * id + 0.5f));
            const int hi = std::min(15, static_cast<int>((x[j + kQK / 2] - min) * id + 0.5f));
            y[b].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
        }
    }
}

void quantize_q5_0(const float* x, BlockQ5_0* y, int64_t n) {
    for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
        const float d = signed_absmax(x, kQK) / -16;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = fp32_to_fp16(d);
        uint32_t qh = 0;
        for (int j = 0; j < kQK / 2; ++j) {
            const int lo = std::min(31, static_cast<int>(x[j] * id + 16.5f));
            const int hi = std::min(31, static_cast<int>(x[j + kQK / 2] * id + 16.5f));
            y[b].qs[j] = static_cast<uint8_t>((lo & 0xF) | ((hi & 0xF) << 4));
            qh |= static_cast<uint32_t>(lo >> 4) << j;
            qh |= static_cast<uint32_t>(hi >> 4) << (j + kQK / 2);
        }
        store_qh(y[b].qh, qh);
    }
}

void quantize_q5_1(const float* x, BlockQ5_1* y, int64_t n) {
    for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
        float min, max;
        min_max(x, kQK, &min, &max);
        const float d = (max - min) / 31;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = fp32_to_fp16(d);
        y[b].m = fp32_to_fp16(min);
        uint32_t qh = 0;
        for (int j = 0; j < kQK / 2; ++j) {
            // Unclamped, as the reference: an overshoot to 32 would keep only its low 5 bits.
            const int lo = static_cast<int>((x[j] - min) * id + 0.5f) & 31;
            const int hi = static_cast<int>((x[j + kQK / 2] - min) * id + 0.5f) & 31;
            y[b].qs[j] = static_cast<uint8_t>((lo & 0xF) | ((hi & 0xF) << 4));
            qh |= static_cast<uint32_t>(lo >> 4) << j;
            qh |= static_cast<uint32_t>(hi >> 4) << (j + kQK / 2);
        }
        store_qh(y[b].qh, qh);
    }
}

// Weight flavour (the reference quantizer): scale 1/(amax/127), ties away from zero.
void quantize_q8_0(const float* x, BlockQ8_0* y, int64_t n) {
    for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
        const float d = absmax(x, kQK) / 127;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = fp32_to_fp16(d);
        for (int j = 0; j < kQK; ++j) y[b].qs[j] = static_cast<int8_t>(std::round(x[j] * id));
    }
}

void quantize_q8_1(const float* x, BlockQ8_1* y, int64_t n) {
    for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
        const float d = absmax(x, kQK) / 127;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = fp32_to_fp16(d);
        int sum = 0;
        for (int j = 0; j < kQK; ++j) {
            y[b].qs[j] = static_cast<int8_t>(std::round(x[j] * id));
            sum += y[b].qs[j];
        }
        y[b].s = fp32_to_fp16(static_cast<float>(sum) * d);
    }
}

// Activation flavour: what the matmul applies to its input row. It multiplies by 127/amax
// (not by 1/(amax/127)) and rounds ties to even; the two flavours can differ by one step.
void quantize_q8_0_activation(const float* x, BlockQ8_0* y, int64_t n) {
    for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
        const float amax = absmax(x, kQK);
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        y[b].d = fp32_to_fp16(amax / 127.0f);
        for (int j = 0; j < kQK; ++j) y[b].qs[j] = static_cast<int8_t>(nearest_int(x[j] * id));
    }
}

void quantize_q8_1_activation(const float* x, BlockQ8_1* y, int64_t n) {
    for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
        const float amax = absmax(x, kQK);
        const float d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        y[b].d = fp32_to_fp16(d);
        int sum = 0;
        for (int j = 0; j < kQK; ++j) {
            y[b].qs[j] = static_cast<int8_t>(nearest_int(x[j] * id));
            sum += y[b].qs[j];
        }
        // The Q4_1 / Q5_1 dot uses s for the min term, so it keeps the unrounded f32 scale.
        y[b].s = fp32_to_fp16(d * static_cast<float>(sum));
    }
}

void dequantize_q4_0(const BlockQ4_0* x, float* y, int64_t n) {
    for (int64_t b = 0; b < n / kQK; ++b, y += kQK) {
        const float d = fp16_to_fp32(x[b].d);
        for (int j = 0; j < kQK / 2; ++j) {
            y[j] = static_cast<float>((x[b].qs[j] & 0xF) - 8) * d;
            y[j + kQK / 2] = static_cast<float>((x[b].qs[j] >> 4) - 8) * d;
        }
    }
}

void dequantize_q4_1(const BlockQ4_1* x, float* y, int64_t n) {
    for (int64_t b = 0; b < n / kQK; ++b, y += kQK) {
        const float d = fp16_to_fp32(x[b].d);
        const float m = fp16_to_fp32(x[b].m);
        for (int j = 0; j < kQK / 2; ++j) {
            y[j] = static_cast<float>(x[b].qs[j] & 0xF) * d + m;
            y[j + kQK / 2] = static_cast<float>(x[b].qs[j] >> 4) * d + m;
        }
    }
}

void dequantize_q5_0(const BlockQ5_0* x, float* y, int64_t n) {
    for (int64_t b = 0; b < n / kQK; ++b, y += kQK) {
        const float d = fp16_to_fp32(x[b].d);
        const uint32_t qh = load_qh(x[b].qh);
        for (int j = 0; j < kQK / 2; ++j) {
            const int lo = (x[b].qs[j] & 0xF) | (((qh >> j) & 1) << 4);
            const int hi = (x[b].qs[j] >> 4) | (((qh >> (j + kQK / 2)) & 1) << 4);
            y[j] = static_cast<float>(lo - 16) * d;
            y[j + kQK / 2] = static_cast<float>(hi - 16) * d;
        }
    }
}

void dequantize_q5_1(const BlockQ5_1* x, float* y, int64_t n) {
    for (int64_t b = 0; b < n / kQK; ++b, y += kQK) {
        const float d = fp16_to_fp32(x[b].d);
        const float m = fp16_to_fp32(x[b].m);
        const uint32_t qh = load_qh(x[b].qh);
        for (int j = 0; j < kQK / 2; ++j) {
            const int lo = (x[b].qs[j] & 0xF) | (((qh >> j) & 1) << 4);
            const int hi = (x[b].qs[j] >> 4) | (((qh >> (j + kQK / 2)) & 1) << 4);
            y[j] = static_cast<float>(lo) * d + m;
            y[j + kQK / 2] = static_cast<float>(hi) * d + m;
        }
    }
}

void dequantize_q8_0(const BlockQ8_0* x, float* y, int64_t n) {
    for (int64_t b = 0; b < n / kQK; ++b, y += kQK) {
        const float d = fp16_to_fp32(x[b].d);
        for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(x[b].qs[j]) * d;
    }
}

void dequantize_q8_1(const BlockQ8_1* x, float* y, int64_t n) {
    for (int64_t b = 0; b < n / kQK; ++b, y += kQK) {
        const float d = fp16_to_fp32(x[b].d);
        for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(x[b].qs[j]) * d;
    }
}

}  // namespace llmopt::kernels::detail
