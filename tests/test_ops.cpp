// Element-wise kernels against libm and their scalar references: the vector exp, the SiLU gate
// built on it, the rotary rotation.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "llmopt/kernels/ops.h"
#include "llmopt/kernels/quant.h"
#include "llmopt/kernels/simd_exp.h"

namespace llmopt::kernels {
namespace {

__attribute__((target("avx2,fma"))) std::vector<float> exp8_all(const std::vector<float>& x) {
    std::vector<float> out(x.size());
    for (size_t i = 0; i < x.size(); i += 8) _mm256_storeu_ps(&out[i], exp8(_mm256_loadu_ps(&x[i])));
    return out;
}

TEST(Exp8, MatchesLibmWithinTwoUlpAcrossTheRange) {
    if (!cpu_has_avx2()) GTEST_SKIP() << "no AVX2";
    std::vector<float> x;
    for (float v = -87.0f; v <= 88.0f; v += 0.0137f) x.push_back(v);
    x.resize(x.size() / 8 * 8);
    const std::vector<float> y = exp8_all(x);
    for (size_t i = 0; i < x.size(); ++i) {
        const double want = std::exp(double(x[i]));
        ASSERT_LE(std::abs(y[i] - want) / want, 2.5e-7) << "x = " << x[i];
    }
}

TEST(Exp8, ExactAtZeroAndZeroBelowTheNormalRange) {
    if (!cpu_has_avx2()) GTEST_SKIP() << "no AVX2";
    const std::vector<float> y = exp8_all({0.0f, -88.0f, -100.0f, -INFINITY, 1.0f, -1.0f, 0.5f, -0.5f});
    EXPECT_EQ(y[0], 1.0f);
    EXPECT_EQ(y[1], 0.0f);
    EXPECT_EQ(y[2], 0.0f);
    EXPECT_EQ(y[3], 0.0f);
}

TEST(SiluMul, MatchesTheFormulaAndDoesNotDependOnWhereAValueFalls) {
    std::mt19937 rng(7);
    std::normal_distribution<float> normal(0.0f, 3.0f);
    const int64_t n = 1003;  // a tail that is not a multiple of 8
    std::vector<float> gate(n), up(n);
    for (auto& v : gate) v = normal(rng);
    for (auto& v : up) v = normal(rng);
    std::vector<float> all = gate;
    silu_mul(all.data(), up.data(), n);
    for (int64_t i = 0; i < n; ++i) {
        const double g = gate[i], want = g / (1.0 + std::exp(-g)) * up[i];
        EXPECT_NEAR(all[i], want, 1e-6 * std::abs(want) + 1e-30) << i;
        float one = gate[i];
        silu_mul(&one, &up[i], 1);
        EXPECT_EQ(one, all[i]) << i;  // bit for bit, alone or in the middle of an array
    }
}

// Both pairings, a partial rotary dimension (rope_dim < head_dim: the rest of each head stays as
// it is), the fast rotation against the scalar reference, bit for bit.
TEST(RopeRotate, EqualsTheScalarReferenceBitForBit) {
    std::mt19937 rng(11);
    std::normal_distribution<float> normal(0.0f, 2.0f);
    for (const bool neox : {false, true})
        for (const int32_t rope_dim : {16, 64}) {
            const int32_t head_dim = 64, n_heads = 5;
            const std::vector<double> inv_freq = rope_inverse_frequencies(10000.0f, rope_dim);
            const RopeParams p{head_dim, rope_dim, inv_freq.data(), 1.0f, neox, nullptr};
            std::vector<float> cos(rope_dim / 2), sin(rope_dim / 2);
            rope_angles(1234, p, cos.data(), sin.data());
            std::vector<float> fast(size_t(n_heads) * head_dim);
            for (auto& v : fast) v = normal(rng);
            std::vector<float> reference = fast;
            rope_rotate(fast.data(), n_heads, cos.data(), sin.data(), p);
            rope_rotate_scalar(reference.data(), n_heads, cos.data(), sin.data(), p);
            for (size_t i = 0; i < fast.size(); ++i)
                ASSERT_EQ(fast[i], reference[i]) << "neox " << neox << " rope_dim " << rope_dim << " at " << i;
        }
}

}  // namespace
}  // namespace llmopt::kernels
