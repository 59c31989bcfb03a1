// Scalar reference dot products for every weight type: plain loops, accumulated in double.
#include <cstdint>

#include "quant_blocks.h"

// Each block's integer dot is exact; its scale products are formed in float as the SIMD
// kernels form them, and the sum over blocks is kept in double. The result is then the
// kernels' intended value up to their own float rounding, which the tests bound.

namespace llmopt::kernels::scalar {
namespace {

// Levels of one legacy block: element j (< 16) in the low nibble of qs[j], j + 16 in the high
// one; bit j of qh (Q5 types) adds 16.
int nibble(const uint8_t* qs, int j) { return j < kQK / 2 ? qs[j] & 0xF : qs[j - kQK / 2] >> 4; }
int fifth_bit(const uint8_t* qh, int j) { return static_cast<int>((load_u32(qh) >> j) & 1) << 4; }

// One K-quant super-block decoded to levels (offsets applied) with integer scale and min per
// 16 elements; value = d * scale * level - dmin * min.
struct DecodedK {
    int level[kQK_K];
    int scale[kQK_K / 16];
    int min[kQK_K / 16];
    float d;
    float dmin;
};

// sum over super-blocks of a.d * (d * sum(scale * level . a) - dmin * sum(min * bsum)).
template <typename Block, void (*Decode)(const Block&, DecodedK*)>
float dot_k(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const Block*>(w);
    const auto* y = static_cast<const BlockQ8_K*>(a);
    double sum = 0;
    for (int64_t b = 0; b < n / kQK_K; ++b) {
        DecodedK k;
        Decode(x[b], &k);
        int64_t isum = 0;
        int64_t imin = 0;
        for (int g = 0; g < kQK_K / 16; ++g) {
            int64_t group = 0;
            for (int l = 0; l < 16; ++l) group += k.level[16 * g + l] * y[b].qs[16 * g + l];
            isum += k.scale[g] * group;
            imin += k.min[g] * y[b].bsums[g];
        }
        sum += static_cast<double>(y[b].d * k.d) * static_cast<double>(isum);
        sum -= static_cast<double>(y[b].d * k.dmin) * static_cast<double>(imin);
    }
    return static_cast<float>(sum);
}

void decode(const BlockQ2_K& x, DecodedK* k) {
    for (int e = 0; e < kQK_K; ++e) {
        const int h = e / 128, r = (e % 128) / 32, l = e % 32;
        k->level[e] = (x.qs[32 * h + l] >> (2 * r)) & 3;
    }
    for (int g = 0; g < 16; ++g) {
        k->scale[g] = x.scales[g] & 0xF;
        k->min[g] = x.scales[g] >> 4;
    }
    k->d = fp16_to_fp32(x.d);
    k->dmin = fp16_to_fp32(x.dmin);
}

void decode(const BlockQ3_K& x, DecodedK* k) {
    for (int e = 0; e < kQK_K; ++e) {
        const int h = e / 128, r = (e % 128) / 32, l = e % 32;
        const int low = (x.qs[32 * h + l] >> (2 * r)) & 3;
        const int high = (x.hmask[e % 32] >> (e / 32)) & 1;
        k->level[e] = low + 4 * high - 4;
    }
    for (int g = 0; g < 16; ++g) {
        k->scale[g] = q3k_scale(x.scales, g);
        k->min[g] = 0;
    }
    k->d = fp16_to_fp32(x.d);
    k->dmin = 0;
}

// Q4_K / Q5_K: sub-block j (32 elements) is nibble j%2 of qs[32 * (j/2) + l], plus bit j of
// qh[l] as a fifth bit for Q5_K.
void decode_scales_mins_k4(const uint8_t* packed, DecodedK* k) {
    for (int j = 0; j < 8; ++j) {
        uint8_t sc, m;
        unpack_scale_min_k4(j, packed, &sc, &m);
        k->scale[2 * j] = k->scale[2 * j + 1] = sc;
        k->min[2 * j] = k->min[2 * j + 1] = m;
    }
}

void decode(const BlockQ4_K& x, DecodedK* k) {
    for (int e = 0; e < kQK_K; ++e) {
        const int j = e / 32, l = e % 32;
        k->level[e] = (x.qs[32 * (j / 2) + l] >> (4 * (j % 2))) & 0xF;
    }
    decode_scales_mins_k4(x.scales, k);
    k->d = fp16_to_fp32(x.d);
    k->dmin = fp16_to_fp32(x.dmin);
}

void decode(const BlockQ5_K& x, DecodedK* k) {
    for (int e = 0; e < kQK_K; ++e) {
        const int j = e / 32, l = e % 32;
        const int low = (x.qs[32 * (j / 2) + l] >> (4 * (j % 2))) & 0xF;
        k->level[e] = low | (((x.qh[l] >> j) & 1) << 4);
    }
    decode_scales_mins_k4(x.scales, k);
    k->d = fp16_to_fp32(x.d);
    k->dmin = fp16_to_fp32(x.dmin);
}

void decode(const BlockQ6_K& x, DecodedK* k) {
    for (int e = 0; e < kQK_K; ++e) {
        const int h = e / 128, r = (e % 128) / 32, l = e % 32;
        const int low = (x.ql[64 * h + 32 * (r % 2) + l] >> (4 * (r / 2))) & 0xF;
        const int high = (x.qh[32 * h + l] >> (2 * r)) & 3;
        k->level[e] = (low | (high << 4)) - 32;
    }
    for (int g = 0; g < 16; ++g) {
        k->scale[g] = x.scales[g];
        k->min[g] = 0;
    }
    k->d = fp16_to_fp32(x.d);
    k->dmin = 0;
}

// Legacy blocks: level(j) is the weight's integer level with its offset applied.
template <typename WBlock, typename ABlock, int (*Level)(const WBlock&, int)>
float dot_legacy(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const WBlock*>(w);
    const auto* y = static_cast<const ABlock*>(a);
    double sum = 0;
    for (int64_t b = 0; b < n / kQK; ++b) {
        int isum = 0;
        for (int j = 0; j < kQK; ++j) isum += Level(x[b], j) * y[b].qs[j];
        sum += static_cast<double>(fp16_to_fp32(x[b].d) * fp16_to_fp32(y[b].d)) * isum;
        // Q4_1 / Q5_1: the min times the activation block's stored f16 sum (d_a * sum q_a).
        if constexpr (requires { x[b].m; })
            sum += static_cast<double>(fp16_to_fp32(x[b].m) * fp16_to_fp32(y[b].s));
    }
    return static_cast<float>(sum);
}

int level(const BlockQ4_0& x, int j) { return nibble(x.qs, j) - 8; }
int level(const BlockQ4_1& x, int j) { return nibble(x.qs, j); }
int level(const BlockQ5_0& x, int j) { return (nibble(x.qs, j) | fifth_bit(x.qh, j)) - 16; }
int level(const BlockQ5_1& x, int j) { return nibble(x.qs, j) | fifth_bit(x.qh, j); }
int level(const BlockQ8_0& x, int j) { return x.qs[j]; }

template <float (*Widen)(uint16_t)>
float dot_half_row(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const uint16_t*>(w);
    const auto* y = static_cast<const float*>(a);
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(Widen(x[i])) * y[i];
    return static_cast<float>(sum);
}

}  // namespace

float dot_f32(int64_t n, const void* w, const void* a) {
    const auto* x = static_cast<const float*>(w);
    const auto* y = static_cast<const float*>(a);
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * y[i];
    return static_cast<float>(sum);
}
float dot_f16(int64_t n, const void* w, const void* a) { return dot_half_row<fp16_to_fp32>(n, w, a); }
float dot_bf16(int64_t n, const void* w, const void* a) { return dot_half_row<bf16_to_fp32>(n, w, a); }

float dot_q4_0(int64_t n, const void* w, const void* a) { return dot_legacy<BlockQ4_0, BlockQ8_0, level>(n, w, a); }
float dot_q4_1(int64_t n, const void* w, const void* a) { return dot_legacy<BlockQ4_1, BlockQ8_1, level>(n, w, a); }
float dot_q5_0(int64_t n, const void* w, const void* a) { return dot_legacy<BlockQ5_0, BlockQ8_0, level>(n, w, a); }
float dot_q5_1(int64_t n, const void* w, const void* a) { return dot_legacy<BlockQ5_1, BlockQ8_1, level>(n, w, a); }
float dot_q8_0(int64_t n, const void* w, const void* a) { return dot_legacy<BlockQ8_0, BlockQ8_0, level>(n, w, a); }

float dot_q2_k(int64_t n, const void* w, const void* a) { return dot_k<BlockQ2_K, decode>(n, w, a); }
float dot_q3_k(int64_t n, const void* w, const void* a) { return dot_k<BlockQ3_K, decode>(n, w, a); }
float dot_q4_k(int64_t n, const void* w, const void* a) { return dot_k<BlockQ4_K, decode>(n, w, a); }
float dot_q5_k(int64_t n, const void* w, const void* a) { return dot_k<BlockQ5_K, decode>(n, w, a); }
float dot_q6_k(int64_t n, const void* w, const void* a) { return dot_k<BlockQ6_K, decode>(n, w, a); }

}  // namespace llmopt::kernels::scalar
