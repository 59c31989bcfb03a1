// AVX2 quantizers of matmul activation rows (Q8_0, Q8_K), byte-identical to the scalar ones.
#include <cfloat>
#include <cmath>
#include <cstring>

#include "gemm_kernels.h"
#include "quant_avx2.h"
#include "quant_blocks.h"

// The scalar quantizers cost a few nanoseconds per element, which at prefill is several percent
// of a matmul that spends well under one per multiply-add of the same row. These do the same
// float operations in the same order per element (a max is exact whatever the order; x * id is
// one rounded product; cvtps rounds to nearest even like nearest_int), so the bytes are equal
// for every finite input; a block holding an infinity or NaN goes to the scalar quantizer.

namespace llmopt::kernels::gemm::avx2 {
namespace {

using namespace ::llmopt::kernels::avx2;

LLMOPT_AVX2 inline __m256 abs8(__m256 v) {
    return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
}

// Lanes that are infinite or NaN in v (the unordered compare catches NaN), or-ed into bad.
LLMOPT_AVX2 inline __m256 flag_nonfinite(__m256 abs_v, __m256 bad) {
    return _mm256_or_ps(bad, _mm256_cmp_ps(abs_v, _mm256_set1_ps(FLT_MAX), _CMP_NLE_UQ));
}

LLMOPT_AVX2 inline float hmax(__m256 v) {
    __m128 x = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_max_ps(x, _mm_movehl_ps(x, x));
    x = _mm_max_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
}

// 32 rounded int32 (four vectors of 8) -> 32 int8 in element order.
LLMOPT_AVX2 inline __m256i pack32(__m256i a, __m256i b, __m256i c, __m256i d) {
    const __m256i ab = _mm256_packs_epi32(a, b);  // per lane: a0-3 b0-3 | a4-7 b4-7
    const __m256i cd = _mm256_packs_epi32(c, d);
    const __m256i bytes =
        _mm256_packs_epi16(ab, cd);  // lane 0: a0-3 b0-3 c0-3 d0-3, lane 1: the 4-7s
    return _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// round(x[0 ... 31] * scale) as 32 int8.
LLMOPT_AVX2 inline __m256i round32(const float* x, __m256 scale) {
    __m256i q[4];
    for (int g = 0; g < 4; ++g)
        q[g] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * g), scale));
    return pack32(q[0], q[1], q[2], q[3]);
}

}  // namespace

LLMOPT_AVX2 void quantize_q8_0_activation(const float* x, void* out, int64_t n) {
    auto* y = static_cast<BlockQ8_0*>(out);
    for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
        __m256 m = _mm256_setzero_ps(), bad = _mm256_setzero_ps();
        for (int g = 0; g < 4; ++g) {
            const __m256 a = abs8(_mm256_loadu_ps(x + 8 * g));
            m = _mm256_max_ps(m, a);
            bad = flag_nonfinite(a, bad);
        }
        const float amax = hmax(m);
        if (_mm256_movemask_ps(bad) != 0) {
            detail::quantize_q8_0_activation(x, &y[b], kQK);
            continue;
        }
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        y[b].d = fp32_to_fp16(amax / 127.0f);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[b].qs), round32(x, _mm256_set1_ps(id)));
    }
}

LLMOPT_AVX2 void quantize_q8_k_activation(const float* x, void* out, int64_t n) {
    auto* y = static_cast<BlockQ8_K*>(out);
    for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
        BlockQ8_K& o = y[b];
        __m256 m = _mm256_setzero_ps(), bad = _mm256_setzero_ps();
        for (int i = 0; i < kQK_K; i += 8) {
            const __m256 a = abs8(_mm256_loadu_ps(x + i));
            m = _mm256_max_ps(m, a);
            bad = flag_nonfinite(a, bad);
        }
        const float amax = hmax(m);
        if (_mm256_movemask_ps(bad) != 0) {
            detail::quantize_q8_k(x, &o, kQK_K);
            continue;
        }
        if (amax == 0.0f) {
            std::memset(&o, 0, sizeof o);
            continue;
        }
        // The reference keeps the first element of largest magnitude, with its sign.
        int first = 0;
        while (std::fabs(x[first]) != amax) ++first;
        const float iscale = -127.f / x[first];
        const __m256 scale = _mm256_set1_ps(iscale);
        // The reference's min(127, q) is the int8 saturation of the packs in round32.
        for (int i = 0; i < kQK_K; i += 32)
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(o.qs + i), round32(x + i, scale));
        // bsums: 16-element sums, two per 32 bytes (maddubs by ones, then pairs of int16).
        for (int i = 0; i < kQK_K; i += 64) {
            const __m256i s0 = _mm256_maddubs_epi16(_mm256_set1_epi8(1), load256(o.qs + i));
            const __m256i s1 = _mm256_maddubs_epi16(_mm256_set1_epi8(1), load256(o.qs + i + 32));
            // hadd twice leaves per lane the 8-element sums; once more gives 16-element sums.
            const __m256i h = _mm256_hadd_epi16(_mm256_hadd_epi16(s0, s1), _mm256_setzero_si256());
            const __m256i h16 = _mm256_hadd_epi16(h, _mm256_setzero_si256());
            // lane 0: [s0 elems 0-15, s1 elems 0-15], lane 1: [s0 16-31, s1 16-31]
            const int16_t* v = reinterpret_cast<const int16_t*>(&h16);
            o.bsums[i / 16 + 0] = v[0];
            o.bsums[i / 16 + 1] = v[8];
            o.bsums[i / 16 + 2] = v[1];
            o.bsums[i / 16 + 3] = v[9];
        }
        o.d = 1 / iscale;
    }
}

}  // namespace llmopt::kernels::gemm::avx2
