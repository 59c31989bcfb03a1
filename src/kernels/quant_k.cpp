// Quantize / dequantize of the 256-element K-quant super-blocks Q2_K ... Q6_K and Q8_K.
#include <algorithm>
#include <cmath>

#include "quant_blocks.h"
#include "quant_k_search.h"

// Products and sums are rounded one by one, as in the reference build (see quant_k_search.cpp).
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace llmopt::kernels::detail {
namespace {

// Levels of four 32-element rows packed as 2-bit fields of 32 bytes (Q2_K and Q3_K): byte l of a
// 128-element half holds elements l, l+32, l+64, l+96 from the low bits up.
void pack_2bit(const uint8_t* L, uint8_t* qs) {
    for (int half = 0; half < kQK_K; half += 128) {
        for (int l = 0; l < 32; ++l) {
            qs[half / 4 + l] = static_cast<uint8_t>(L[half + l] | (L[half + l + 32] << 2) |
                                                    (L[half + l + 64] << 4) | (L[half + l + 96] << 6));
        }
    }
}

// Q4_K / Q5_K: 6-bit scale and min of sub-block j into the 12-byte layout unpack_scale_min_k4 reads.
void pack_scale_min_k4(int j, uint8_t ls, uint8_t lm, uint8_t* s) {
    if (j < 4) {
        s[j] = ls;
        s[j + 4] = lm;
    } else {
        s[j + 4] = static_cast<uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
        s[j - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
        s[j] |= static_cast<uint8_t>((lm >> 4) << 6);
    }
}

// Q4_K and Q5_K share everything but the level count: 8 sub-blocks of 32 fitted with a scale
// and a min each, both then quantized to 6 bits against the largest, and the levels recomputed
// from the rounded scales so they match what dequantization will use.
void quantize_scale_min_superblock(const float* x, int nmax, float rmin, float rdelta, int nstep,
                                   uint16_t* d_out, uint16_t* dmin_out, uint8_t* scales,
                                   uint8_t* L) {
    float weights[32];
    uint8_t aux[32];
    float sub_scales[kQK_K / 32];
    float sub_mins[kQK_K / 32];
    float max_scale = 0;  // scales are positive once the min is taken out
    float max_min = 0;
    for (int j = 0; j < kQK_K / 32; ++j) {
        const float* xs = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
        const float av_x = std::sqrt(sum_x2 / 32);
        for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xs[l]);
        sub_scales[j] = fit_scale_and_min(32, nmax, xs, weights, L + 32 * j, &sub_mins[j], aux,
                                          rmin, rdelta, nstep, false);
        max_scale = std::max(max_scale, sub_scales[j]);
        max_min = std::max(max_min, sub_mins[j]);
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < kQK_K / 32; ++j) {
        // Narrowed to a byte before the clamp, as the reference does.
        const auto ls = static_cast<uint8_t>(nearest_int(inv_scale * sub_scales[j]));
        const auto lm = static_cast<uint8_t>(nearest_int(inv_min * sub_mins[j]));
        pack_scale_min_k4(j, std::min<uint8_t>(63, ls), std::min<uint8_t>(63, lm), scales);
    }
    *d_out = fp32_to_fp16(max_scale / 63.f);
    *dmin_out = fp32_to_fp16(max_min / 63.f);
    for (int j = 0; j < kQK_K / 32; ++j) {
        uint8_t sc, m;
        unpack_scale_min_k4(j, scales, &sc, &m);
        const float d = fp16_to_fp32(*d_out) * sc;
        if (d == 0.0f) continue;  // keep the search's levels
        const float dm = fp16_to_fp32(*dmin_out) * m;
        for (int l = 0; l < 32; ++l)
            L[32 * j + l] = static_cast<uint8_t>(std::clamp(nearest_int((x[32 * j + l] + dm) / d), 0, nmax));
    }
}

}  // namespace

void quantize_q2_k(const float* x, BlockQ2_K* y, int64_t n) {
    constexpr float kScaleLevels = 15.f;  // scales and mins are 4-bit
    for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
        uint8_t L[kQK_K];
        uint8_t aux[16];
        float weights[16];
        float sub_scales[kQK_K / 16];
        float sub_mins[kQK_K / 16];
        float max_scale = 0;
        float max_min = 0;
        for (int j = 0; j < kQK_K / 16; ++j) {
            for (int l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * j + l]);
            // Absolute-error objective: with 4 levels a squared objective lets outliers dominate.
            sub_scales[j] = fit_scale_and_min(16, 3, x + 16 * j, weights, L + 16 * j, &sub_mins[j],
                                              aux, -0.5f, 0.1f, 15, true);
            max_scale = std::max(max_scale, sub_scales[j]);
            max_min = std::max(max_min, sub_mins[j]);
        }
        BlockQ2_K& out = y[b];
        if (max_scale > 0) {
            const float iscale = kScaleLevels / max_scale;
            for (int j = 0; j < kQK_K / 16; ++j)
                out.scales[j] = static_cast<uint8_t>(nearest_int(iscale * sub_scales[j]));
            out.d = fp32_to_fp16(max_scale / kScaleLevels);
        } else {
            std::fill(out.scales, out.scales + kQK_K / 16, uint8_t{0});
            out.d = fp32_to_fp16(0.f);
        }
        if (max_min > 0) {
            const float iscale = kScaleLevels / max_min;
            for (int j = 0; j < kQK_K / 16; ++j)
                out.scales[j] |= static_cast<uint8_t>(nearest_int(iscale * sub_mins[j]) << 4);
            out.dmin = fp32_to_fp16(max_min / kScaleLevels);
        } else {
            out.dmin = fp32_to_fp16(0.f);
        }
        for (int j = 0; j < kQK_K / 16; ++j) {
            const float d = fp16_to_fp32(out.d) * (out.scales[j] & 0xF);
            if (d == 0.0f) continue;
            const float dm = fp16_to_fp32(out.dmin) * (out.scales[j] >> 4);
            for (int l = 0; l < 16; ++l)
                L[16 * j + l] = static_cast<uint8_t>(std::clamp(nearest_int((x[16 * j + l] + dm) / d), 0, 3));
        }
        pack_2bit(L, out.qs);
    }
}

void quantize_q3_k(const float* x, BlockQ3_K* y, int64_t n) {
    for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
        int8_t L[kQK_K];
        float sub_scales[kQK_K / 16];
        float max_scale = 0;  // signed: the scale of largest magnitude
        float amax = 0;
        for (int j = 0; j < kQK_K / 16; ++j) {
            sub_scales[j] = fit_symmetric_scale_refined(16, 4, x + 16 * j, L + 16 * j);
            if (std::fabs(sub_scales[j]) > amax) {
                amax = std::fabs(sub_scales[j]);
                max_scale = sub_scales[j];
            }
        }
        BlockQ3_K& out = y[b];
        std::fill(out.scales, out.scales + 12, uint8_t{0});
        if (max_scale != 0.0f) {
            const float iscale = -32.f / max_scale;
            for (int j = 0; j < kQK_K / 16; ++j) {
                // The reference narrows to int8 before clamping; the value is within +-32 anyway.
                const auto l8 = static_cast<int8_t>(nearest_int(iscale * sub_scales[j]));
                const int l = std::clamp<int>(l8, -32, 31) + 32;
                if (j < 8) {
                    out.scales[j] = static_cast<uint8_t>(l & 0xF);
                } else {
                    out.scales[j - 8] |= static_cast<uint8_t>((l & 0xF) << 4);
                }
                out.scales[j % 4 + 8] |= static_cast<uint8_t>((l >> 4) << (2 * (j / 4)));
            }
            out.d = fp32_to_fp16(1 / iscale);
        } else {
            out.d = fp32_to_fp16(0.f);
        }
        for (int j = 0; j < kQK_K / 16; ++j) {
            const float d = fp16_to_fp32(out.d) * static_cast<float>(q3k_scale(out.scales, j));
            if (d == 0.0f) continue;
            for (int l = 0; l < 16; ++l)
                L[16 * j + l] = static_cast<int8_t>(std::clamp(nearest_int(x[16 * j + l] / d), -4, 3) + 4);
        }
        // Bit 2 of element j's level goes to bit j/32 of hmask[j%32]; the low 2 bits to qs.
        std::fill(out.hmask, out.hmask + kQK_K / 8, uint8_t{0});
        uint8_t low[kQK_K];
        for (int j = 0; j < kQK_K; ++j) {
            if (L[j] > 3) out.hmask[j % 32] |= static_cast<uint8_t>(1 << (j / 32));
            low[j] = static_cast<uint8_t>(L[j] & 3);
        }
        pack_2bit(low, out.qs);
    }
}

void quantize_q4_k(const float* x, BlockQ4_K* y, int64_t n) {
    for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
        uint8_t L[kQK_K];
        BlockQ4_K& out = y[b];
        quantize_scale_min_superblock(x, 15, -1.f, 0.1f, 20, &out.d, &out.dmin, out.scales, L);
        // Byte l of each 32-byte group: element l in the low nibble, element l+32 in the high.
        for (int j = 0; j < kQK_K / 64; ++j)
            for (int l = 0; l < 32; ++l)
                out.qs[32 * j + l] = static_cast<uint8_t>(L[64 * j + l] | (L[64 * j + l + 32] << 4));
    }
}

void quantize_q5_k(const float* x, BlockQ5_K* y, int64_t n) {
    for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
        uint8_t L[kQK_K];
        BlockQ5_K& out = y[b];
        quantize_scale_min_superblock(x, 31, -0.5f, 0.1f, 15, &out.d, &out.dmin, out.scales, L);
        // Low nibbles as Q4_K; the 5th bit of element 64j+l is bit 2j of qh[l], of 64j+32+l bit 2j+1.
        std::fill(out.qh, out.qh + kQK_K / 8, uint8_t{0});
        for (int j = 0; j < kQK_K / 64; ++j) {
            for (int l = 0; l < 32; ++l) {
                const int lo = L[64 * j + l];
                const int hi = L[64 * j + l + 32];
                out.qs[32 * j + l] = static_cast<uint8_t>((lo & 0xF) | ((hi & 0xF) << 4));
                out.qh[l] |= static_cast<uint8_t>(((lo >> 4) << (2 * j)) | ((hi >> 4) << (2 * j + 1)));
            }
        }
    }
}

void quantize_q6_k(const float* x, BlockQ6_K* y, int64_t n) {
    for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
        int8_t L[kQK_K];
        float sub_scales[kQK_K / 16];
        float max_scale = 0;
        float max_abs_scale = 0;
        for (int j = 0; j < kQK_K / 16; ++j) {
            sub_scales[j] = fit_symmetric_scale(16, 32, x + 16 * j, L + 16 * j);
            if (std::fabs(sub_scales[j]) > max_abs_scale) {
                max_abs_scale = std::fabs(sub_scales[j]);
                max_scale = sub_scales[j];
            }
        }
        BlockQ6_K& out = y[b];
        if (max_abs_scale < 1e-15f) {
            std::memset(&out, 0, sizeof out);
            continue;
        }
        const float iscale = -128.f / max_scale;
        out.d = fp32_to_fp16(1 / iscale);
        for (int j = 0; j < kQK_K / 16; ++j)
            out.scales[j] = static_cast<int8_t>(std::min(127, nearest_int(iscale * sub_scales[j])));
        for (int j = 0; j < kQK_K / 16; ++j) {
            const float d = fp16_to_fp32(out.d) * static_cast<float>(out.scales[j]);
            if (d == 0.0f) continue;
            for (int l = 0; l < 16; ++l)
                L[16 * j + l] = static_cast<int8_t>(std::clamp(nearest_int(x[16 * j + l] / d), -32, 31) + 32);
        }
        // Per 128-element half: ql byte l holds elements l (low) and l+64 (high), byte l+32
        // holds l+32 and l+96; qh byte l holds the top 2 bits of l, l+32, l+64, l+96.
        for (int half = 0; half < 2; ++half) {
            const int8_t* Lh = L + 128 * half;
            uint8_t* ql = out.ql + 64 * half;
            uint8_t* qh = out.qh + 32 * half;
            for (int l = 0; l < 32; ++l) {
                ql[l] = static_cast<uint8_t>((Lh[l] & 0xF) | ((Lh[l + 64] & 0xF) << 4));
                ql[l + 32] = static_cast<uint8_t>((Lh[l + 32] & 0xF) | ((Lh[l + 96] & 0xF) << 4));
                qh[l] = static_cast<uint8_t>((Lh[l] >> 4) | ((Lh[l + 32] >> 4) << 2) |
                                             ((Lh[l + 64] >> 4) << 4) | ((Lh[l + 96] >> 4) << 6));
            }
        }
    }
}

// Activations of the K-quant dots: one f32 scale per 256 with the largest magnitude mapped to
// -127 (so levels stay within +-127), plus the sums over each 16 the dots use for offsets.
void quantize_q8_k(const float* x, BlockQ8_K* y, int64_t n) {
    for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
        BlockQ8_K& out = y[b];
        float max = 0;
        float amax = 0;
        for (int j = 0; j < kQK_K; ++j) {
            if (std::fabs(x[j]) > amax) {
                amax = std::fabs(x[j]);
                max = x[j];
            }
        }
        if (amax == 0.0f) {
            std::memset(&out, 0, sizeof out);
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < kQK_K; ++j) out.qs[j] = static_cast<int8_t>(std::min(127, nearest_int(iscale * x[j])));
        for (int j = 0; j < kQK_K / 16; ++j) {
            int sum = 0;
            for (int l = 0; l < 16; ++l) sum += out.qs[16 * j + l];
            out.bsums[j] = static_cast<int16_t>(sum);
        }
        out.d = 1 / iscale;
    }
}

void dequantize_q2_k(const BlockQ2_K* x, float* y, int64_t n) {
    for (int64_t b = 0; b < n / kQK_K; ++b) {
        const float d = fp16_to_fp32(x[b].d);
        const float dmin = fp16_to_fp32(x[b].dmin);
        // Element 128h + 32j + l: bits 2j of qs[32h + l], scale byte 8h + 2j + l/16.
        for (int h = 0; h < 2; ++h) {
            for (int j = 0; j < 4; ++j) {
                for (int l = 0; l < 32; ++l) {
                    const uint8_t sc = x[b].scales[8 * h + 2 * j + l / 16];
                    const int q = (x[b].qs[32 * h + l] >> (2 * j)) & 3;
                    *y++ = d * static_cast<float>(sc & 0xF) * static_cast<float>(q) - dmin * static_cast<float>(sc >> 4);
                }
            }
        }
    }
}

void dequantize_q3_k(const BlockQ3_K* x, float* y, int64_t n) {
    for (int64_t b = 0; b < n / kQK_K; ++b) {
        const float d = fp16_to_fp32(x[b].d);
        for (int h = 0; h < 2; ++h) {
            for (int j = 0; j < 4; ++j) {
                for (int l = 0; l < 32; ++l) {
                    const int sc = q3k_scale(x[b].scales, 8 * h + 2 * j + l / 16);
                    const int low = (x[b].qs[32 * h + l] >> (2 * j)) & 3;
                    const bool high = (x[b].hmask[l] >> (4 * h + j)) & 1;
                    *y++ = d * static_cast<float>(sc) * static_cast<float>(low - (high ? 0 : 4));
                }
            }
        }
    }
}

void dequantize_q4_k(const BlockQ4_K* x, float* y, int64_t n) {
    for (int64_t b = 0; b < n / kQK_K; ++b) {
        const float d = fp16_to_fp32(x[b].d);
        const float dmin = fp16_to_fp32(x[b].dmin);
        for (int j = 0; j < kQK_K / 32; ++j) {
            uint8_t sc, m;
            unpack_scale_min_k4(j, x[b].scales, &sc, &m);
            const float ds = d * sc;
            const float dm = dmin * m;
            const uint8_t* q = x[b].qs + 32 * (j / 2);
            const int shift = 4 * (j % 2);
            for (int l = 0; l < 32; ++l) *y++ = ds * static_cast<float>((q[l] >> shift) & 0xF) - dm;
        }
    }
}

void dequantize_q5_k(const BlockQ5_K* x, float* y, int64_t n) {
    for (int64_t b = 0; b < n / kQK_K; ++b) {
        const float d = fp16_to_fp32(x[b].d);
        const float dmin = fp16_to_fp32(x[b].dmin);
        for (int j = 0; j < kQK_K / 32; ++j) {
            uint8_t sc, m;
            unpack_scale_min_k4(j, x[b].scales, &sc, &m);
            const float ds = d * sc;
            const float dm = dmin * m;
            const uint8_t* q = x[b].qs + 32 * (j / 2);
            const int shift = 4 * (j % 2);
            for (int l = 0; l < 32; ++l) {
                const int level = ((q[l] >> shift) & 0xF) | (((x[b].qh[l] >> j) & 1) << 4);
                *y++ = ds * static_cast<float>(level) - dm;
            }
        }
    }
}

void dequantize_q6_k(const BlockQ6_K* x, float* y, int64_t n) {
    for (int64_t b = 0; b < n / kQK_K; ++b) {
        const float d = fp16_to_fp32(x[b].d);
        for (int half = 0; half < 2; ++half) {
            const uint8_t* ql = x[b].ql + 64 * half;
            const uint8_t* qh = x[b].qh + 32 * half;
            const int8_t* sc = x[b].scales + 8 * half;
            // Row r (0..3) of 32: low nibbles from ql[l + 32*(r%2)], shifted by 4*(r/2); high
            // bits from qh[l] >> 2r; scale index 2r + l/16.
            for (int r = 0; r < 4; ++r) {
                for (int l = 0; l < 32; ++l) {
                    const int low = (ql[l + 32 * (r % 2)] >> (4 * (r / 2))) & 0xF;
                    const int q = (low | (((qh[l] >> (2 * r)) & 3) << 4)) - 32;
                    *y++ = d * static_cast<float>(sc[2 * r + l / 16]) * static_cast<float>(q);
                }
            }
        }
    }
}

void dequantize_q8_k(const BlockQ8_K* x, float* y, int64_t n) {
    for (int64_t b = 0; b < n / kQK_K; ++b)
        for (int j = 0; j < kQK_K; ++j) *y++ = x[b].d * static_cast<float>(x[b].qs[j]);
}

}  // namespace llmopt::kernels::detail
