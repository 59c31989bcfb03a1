// Matmul fast paths vs the scalar reference, and bit-exact results whatever the batch or threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cstdlib>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "../src/kernels/gemm_kernels.h"
#include "../src/kernels/row_shares.h"
#include "llmopt/kernels/interleave.h"
#include "llmopt/kernels/matmul.h"
#include "llmopt/kernels/quant.h"
#include "llmopt/util/thread_pool.h"

namespace llmopt::kernels {
namespace {

constexpr double kU = FLT_EPSILON / 2;  // unit roundoff of float

const DType kTypes[] = {DType::kF32,  DType::kF16,  DType::kBF16, DType::kQ4_0, DType::kQ4_1,
                        DType::kQ5_0, DType::kQ5_1, DType::kQ8_0, DType::kQ2_K, DType::kQ3_K,
                        DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};

// Types whose matmul keeps vec_dot's own order (its outputs must equal vec_dot exactly); the
// others have kernels of their own, bounded against the reference below.
bool follows_vec_dot(DType t) {
    return t != DType::kF32 && t != DType::kF16 && t != DType::kBF16 && t != DType::kQ4_0 &&
           t != DType::kQ8_0;
}

std::string type_name(const ::testing::TestParamInfo<DType>& info) {
    return std::string(dtype_name(info.param));
}

std::vector<float> random_values(std::mt19937& rng, size_t count, float scale) {
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> v(count);
    for (float& x : v) x = normal(rng) * scale;
    return v;
}

// A random matrix of `type`; rows are built from a few shifted distributions so blocks differ.
struct Matrix {
    std::vector<uint8_t> bytes;
    WeightMatrix w;
};
Matrix random_matrix(DType type, int64_t rows, int64_t cols, uint32_t seed) {
    std::mt19937 rng(seed);
    Matrix m;
    m.bytes.resize(row_bytes(type, cols) * rows);
    for (int64_t r = 0; r < rows; ++r) {
        std::vector<float> row = random_values(rng, cols, 1.0f + float(r % 3));
        if (r % 4 == 1)
            for (float& v : row) v += 0.5f;
        quantize_row(type, row.data(), m.bytes.data() + r * row_bytes(type, cols), cols);
    }
    m.w = {type, rows, cols, m.bytes.data()};
    return m;
}

// Runs the matmul with sentinels around y: any write outside (n, rows) fails the test.
std::vector<float> run(const WeightMatrix& w, const std::vector<float>& x, int64_t n, int threads) {
    constexpr size_t kGuard = 64;
    constexpr float kSentinel = -12345.0f;
    std::vector<float> y(kGuard + size_t(n * w.rows) + kGuard, kSentinel);
    std::vector<uint8_t> scratch;
    ThreadPool& pool = ThreadPool::global();
    const int32_t before = pool.size();
    pool.resize(threads);
    matmul(w, x.data(), n, y.data() + kGuard, scratch);
    pool.resize(before);
    for (size_t i = 0; i < kGuard; ++i) {
        EXPECT_EQ(y[i], kSentinel) << "write before y";
        EXPECT_EQ(y[y.size() - 1 - i], kSentinel) << "write after y";
    }
    return {y.begin() + kGuard, y.end() - kGuard};
}

// Sum of |w_i * a_i| over the dequantized weights and the activation as the matmul sees it
// (quantized to activation_type): every term a kernel adds is bounded by it.
double magnitude(const WeightMatrix& w, int64_t r, const float* x) {
    const DType act = activation_type(w.type);
    std::vector<float> wv(w.cols), av(w.cols);
    dequantize_row(w.type, w.row(r), wv.data(), w.cols);
    std::vector<uint8_t> q(row_bytes(act, w.cols));
    quantize_activation(act, x, q.data(), w.cols);
    dequantize_row(act, q.data(), av.data(), w.cols);
    double m = 0;
    for (int64_t i = 0; i < w.cols; ++i) m += std::fabs(double(wv[i]) * av[i]);
    return m;
}

// Worst-case rounding of a kernel in units of u * magnitude (recursive summation errs by at
// most u times the sum of |partial sums|, each at most the magnitude):
//  Q4_0 / Q8_0: per block an exact integer dot times an exact scale product, one FMA chain of
//    cols/32 roundings.
//  Float types: lane chains of cols/8 FMAs (products exact), the 3-level horizontal sum and up
//    to 7 tail FMAs.
// The reference sums in double: 4 units cover its f32 scale products and the final rounding.
double kernel_rounding_units(DType type, int64_t cols) {
    const double reference = 4;
    if (type == DType::kQ4_0 || type == DType::kQ8_0) return double(cols) / 32 + reference;
    return double(cols) / 8 + 3 + 7 + reference;
}

class MatmulTest : public ::testing::TestWithParam<DType> {};

// Shapes that leave partial tiles everywhere: 37 rows (not a multiple of 4 or 8), a row length
// that is a whole number of super-blocks, and for the float types one with a ragged tail.
TEST_P(MatmulTest, MatchesReferenceWithinDerivedBound) {
    const DType type = GetParam();
    std::vector<int64_t> widths = {512};
    if (!is_quantized(type)) widths.push_back(100);
    for (const int64_t cols : widths) {
        const Matrix m = random_matrix(type, 37, cols, 1);
        std::mt19937 rng(2);
        const int64_t n = 7;
        const std::vector<float> x = random_values(rng, size_t(n * cols), 1.0f);
        const std::vector<float> fast = run(m.w, x, n, 2);
        std::vector<float> ref(size_t(n * m.w.rows));
        matmul_reference(m.w, x.data(), n, ref.data());
        const DType act = activation_type(type);
        std::vector<uint8_t> q(row_bytes(act, cols));
        for (int64_t t = 0; t < n; ++t) {
            quantize_activation(act, x.data() + t * cols, q.data(), cols);
            for (int64_t r = 0; r < m.w.rows; ++r) {
                const size_t i = size_t(t * m.w.rows + r);
                if (follows_vec_dot(type)) {
                    EXPECT_EQ(fast[i], vec_dot(type, cols, m.w.row(r), q.data()))
                        << "t " << t << " r " << r;
                } else {
                    const double tol = kernel_rounding_units(type, cols) * kU *
                                       magnitude(m.w, r, x.data() + t * cols);
                    EXPECT_NEAR(fast[i], ref[i], tol)
                        << "t " << t << " r " << r << " cols " << cols;
                }
            }
        }
    }
}

// Row t of a batch of n equals the same activation alone (n = 1), bit for bit, with 1 or 2
// threads: every output's order of operations depends only on the row length.
TEST_P(MatmulTest, BatchRowsEqualSingleRowsBitForBit) {
    const DType type = GetParam();
    // Float rows of 2180: with many activation rows, three column blocks (1024, 1024, 128)
    // and a ragged tail of 4.
    const int64_t cols = is_quantized(type) ? 512 : 2180;
    const Matrix m = random_matrix(type, 70, cols, 3);
    std::mt19937 rng(4);
    // Up to 64 rows half-precision weights are read directly (on Zen 1 up to 5), beyond through
    // f32 panels that the first tile over them widens; 130 rows end with a chunk of one row.
    const int64_t max_n = 130;
    const std::vector<float> x = random_values(rng, size_t(max_n * cols), 1.0f);
    std::vector<std::vector<float>> single(max_n);
    for (int64_t t = 0; t < max_n; ++t) {
        const std::vector<float> xt(x.begin() + t * cols, x.begin() + (t + 1) * cols);
        single[t] = run(m.w, xt, 1, 1);
    }
    for (const int64_t n : {2, 3, 4, 5, 7, 9, 16, 17, 64, 67, 70, 130}) {
        for (const int threads : {1, 2}) {
            const std::vector<float> y = run(m.w, x, n, threads);
            for (int64_t t = 0; t < n; ++t)
                EXPECT_TRUE(
                    std::equal(single[t].begin(), single[t].end(), y.begin() + t * m.w.rows))
                    << "n " << n << " threads " << threads << " row " << t;
        }
    }
}

// One activation row over a matrix large enough to be shared among threads (256 x 4096
// multiply-adds, the matmul's threshold): each thread prepares its own copy of the row, and
// the result is the one thread's, bit for bit.
TEST_P(MatmulTest, SingleRowSharedAmongThreadsEqualsOneThread) {
    const Matrix m = random_matrix(GetParam(), 256, 4096, 8);
    std::mt19937 rng(10);
    const std::vector<float> x = random_values(rng, 4096, 1.0f);
    const std::vector<float> one = run(m.w, x, 1, 1);
    EXPECT_EQ(run(m.w, x, 1, 2), one);
    EXPECT_EQ(run(m.w, x, 1, 3), one);
}

INSTANTIATE_TEST_SUITE_P(AllTypes, MatmulTest, ::testing::ValuesIn(kTypes), type_name);

// Many threads over few rows (long ones, so the matmul does use threads): ranges may be empty
// or end inside a tile.
TEST(Matmul, MoreThreadsThanTilesStillExact) {
    // 12 x 8192 x 11 multiply-adds: just above where the matmul starts using threads (2^20).
    const Matrix m = random_matrix(DType::kQ4_0, 12, 8192, 5);
    std::mt19937 rng(6);
    const std::vector<float> x = random_values(rng, 8192 * 11, 1.0f);
    const std::vector<float> one = run(m.w, x, 11, 1);
    EXPECT_EQ(run(m.w, x, 11, 7), one);
}

// One pass over several matrices sharing an input gives each matrix's own matmul bit for bit:
// regrouped Q4_0 shaped like a layer's q, k and v (the rows of all three shared among threads,
// ranges crossing from one matrix to the next), F32 with rows not in eights, and matrices whose
// kernels differ (multiplied one after the other). No write leaves its y.
TEST(Matmul, SharedInputEqualsSeparateMatmulsBitForBit) {
    struct Case {
        std::vector<DType> types;
        std::vector<int64_t> rows;
        int64_t cols;
    };
    // 1024 x 1152 multiply-adds per activation row: threaded from n = 1.
    const Case cases[] = {{{DType::kQ4_0, DType::kQ4_0, DType::kQ4_0}, {768, 128, 128}, 1152},
                          {{DType::kF32, DType::kF32}, {37, 11}, 100},
                          {{DType::kQ8_0, DType::kF16, DType::kQ8_0}, {64, 24, 40}, 256}};
    std::mt19937 rng(12);
    for (const Case& c : cases) {
        std::vector<Matrix> ms;
        std::vector<std::vector<uint8_t>> grouped(c.types.size());
        std::vector<WeightMatrix> ws;
        for (size_t i = 0; i < c.types.size(); ++i) {
            ms.push_back(random_matrix(c.types[i], c.rows[i], c.cols, uint32_t(20 + i)));
            grouped[i].resize(ms[i].bytes.size());
            ws.push_back(interleaving_pays(ms[i].w) ? interleave_rows8(ms[i].w, grouped[i].data())
                                                    : ms[i].w);
        }
        const std::vector<float> x = random_values(rng, size_t(9 * c.cols), 1.0f);
        for (const int64_t n : {1, 4, 9}) {
            for (const int threads : {1, 2, 3}) {
                constexpr float kSentinel = -12345.0f;
                std::vector<std::vector<float>> ys;
                std::vector<MatmulOutput> outputs;
                for (const WeightMatrix& w : ws) ys.emplace_back(size_t(n * w.rows) + 1, kSentinel);
                for (size_t i = 0; i < ws.size(); ++i) outputs.push_back({&ws[i], ys[i].data()});
                std::vector<uint8_t> scratch;
                ThreadPool& pool = ThreadPool::global();
                const int32_t before = pool.size();
                pool.resize(threads);
                matmul(outputs, x.data(), n, scratch);
                pool.resize(before);
                for (size_t i = 0; i < ws.size(); ++i) {
                    EXPECT_EQ(ys[i].back(), kSentinel) << "write after y " << i;
                    ys[i].pop_back();
                    EXPECT_EQ(ys[i], run(ws[i], x, n, 1))
                        << dtype_name(c.types[i]) << " matrix " << i << " n " << n << " threads "
                        << threads;
                }
            }
        }
    }
}

// The matmul's AVX2 activation quantizers write exactly quantize_activation's bytes: rows
// with ties (halves after scaling), an all-zero block, a block whose largest magnitude occurs
// with both signs, and non-finite values (handed to the scalar code).
TEST(Matmul, SimdActivationQuantizersAreByteIdentical) {
    if (!cpu_has_avx2()) GTEST_SKIP() << "no AVX2";
    std::mt19937 rng(7);
    const int64_t n = 1024;
    std::vector<std::vector<float>> rows;
    rows.push_back(random_values(rng, n, 1.0f));
    rows.push_back(random_values(rng, n, 1e-3f));
    std::vector<float> special = random_values(rng, n, 3.0f);
    std::fill(special.begin(), special.begin() + 256, 0.0f);  // zero blocks
    // Exact ties: amax 127 makes the scale 1, so the halves round to even.
    for (int i = 256; i < 512; ++i) special[i] = i % 32 == 0 ? 127.0f : float(i % 32 - 16) + 0.5f;
    special[520] = 9.0f;
    special[530] = -9.0f;  // equal magnitudes, both signs
    special[700] = INFINITY;
    special[900] = NAN;
    rows.push_back(special);
    for (const auto& [act, fn] : {std::pair{DType::kQ8_0, &gemm::avx2::quantize_q8_0_activation},
                                  std::pair{DType::kQ8_K, &gemm::avx2::quantize_q8_k_activation}}) {
        for (size_t i = 0; i < rows.size(); ++i) {
            std::vector<uint8_t> ref(row_bytes(act, n)), simd(row_bytes(act, n));
            quantize_activation(act, rows[i].data(), ref.data(), n);
            fn(rows[i].data(), simd.data(), n);
            EXPECT_EQ(simd, ref) << dtype_name(act) << " row " << i;
        }
    }
}

class RowGroups8Test : public ::testing::TestWithParam<DType> {};

// A matrix of one of the regrouped types (a few Q8_0 quants at -128, which quantize_row never
// writes but a file may hold) with rows of 1152 columns, 9 quads (K-quants: 1280, 5 super-blocks).
Matrix regroupable_matrix(DType type, int64_t rows, uint32_t seed) {
    const bool k_quant = type == DType::kQ4_K || type == DType::kQ6_K;
    Matrix m = random_matrix(type, rows, k_quant ? 1280 : 1152, seed);
    if (type == DType::kQ8_0)
        for (int64_t r = 1; r < rows; r += 5) m.bytes[r * m.w.row_stride() + 2 + r % 32] = 0x80;
    return m;
}

// A matrix regrouped 8 rows at a time gives the row-major matrix's results bit for bit, for
// every batch size and thread count; its rows read back as the original bytes; the reference
// reads it too.
TEST_P(RowGroups8Test, EqualsRowMajorBitForBit) {
    const Matrix m = regroupable_matrix(GetParam(), 48, 8);
    if (!interleaving_pays(m.w)) GTEST_SKIP() << "no regrouped kernel on this CPU";
    std::vector<uint8_t> grouped(m.bytes.size());
    const WeightMatrix g = interleave_rows8(m.w, grouped.data());
    EXPECT_NE(grouped, m.bytes);
    EXPECT_FALSE(interleaving_pays(g));
    std::vector<uint8_t> row(m.w.row_stride());
    for (int64_t r = 0; r < m.w.rows; ++r) {
        copy_row(g, r, row.data());
        EXPECT_TRUE(std::equal(row.begin(), row.end(), m.w.row(r))) << "row " << r;
    }
    std::mt19937 rng(9);
    const int64_t max_n = 66;
    const std::vector<float> x = random_values(rng, size_t(max_n * m.w.cols), 1.0f);
    // From 20 rows (48 x 1152 x 20 multiply-adds) the matmul uses threads.
    for (const int64_t n : {1, 2, 3, 4, 5, 8, 13, 20, 66}) {
        const std::vector<float> expected = run(m.w, x, n, 1);
        for (const int threads : {1, 2, 3})
            EXPECT_EQ(run(g, x, n, threads), expected) << "n " << n << " threads " << threads;
    }
    std::vector<float> ref_rows(size_t(2 * m.w.rows)), ref_grouped(ref_rows.size());
    matmul_reference(m.w, x.data(), 2, ref_rows.data());
    matmul_reference(g, x.data(), 2, ref_grouped.data());
    EXPECT_EQ(ref_grouped, ref_rows);
}

INSTANTIATE_TEST_SUITE_P(Types, RowGroups8Test,
                         ::testing::Values(DType::kQ4_0, DType::kQ8_0, DType::kQ4_K, DType::kQ6_K,
                                           DType::kF16, DType::kBF16),
                         type_name);

// The AVX2 and VNNI kernels of the regrouped layout compute the same integers, hence the same
// outputs; matmul picks one set, so the others are run here directly on prepared activations.
void expect_rowgroups8_set_equals_avx2(const gemm::avx2::RowGroups8Kernels& set) {
    struct Kernels {
        DType type;
        gemm::RowRangeFn avx2, other;
    };
    const gemm::avx2::RowGroups8Kernels& avx2 = gemm::avx2::kRowGroups8Avx2;
    for (const Kernels& k :
         {Kernels{DType::kQ4_0, avx2.q4_0, set.q4_0}, Kernels{DType::kQ8_0, avx2.q8_0, set.q8_0},
          Kernels{DType::kQ4_K, avx2.q4_k, set.q4_k}, Kernels{DType::kQ6_K, avx2.q6_k, set.q6_k}}) {
        const Matrix m = regroupable_matrix(k.type, 16, 10);
        std::vector<uint8_t> grouped(m.bytes.size());
        const WeightMatrix g = interleave_rows8(m.w, grouped.data());
        std::mt19937 rng(11);
        const int64_t n = 6, blocks = g.cols / 32;
        const std::vector<float> x = random_values(rng, size_t(n * g.cols), 1.0f);
        const DType act = activation_type(k.type);
        const size_t stride = row_bytes(act, g.cols);
        std::vector<uint8_t> rows(stride * n);
        for (int64_t t = 0; t < n; ++t)
            quantize_activation(act, x.data() + t * g.cols, rows.data() + t * stride, g.cols);
        std::vector<float> scales(size_t(2 * blocks * 4));
        std::vector<int32_t> offsets(scales.size());
        for (int64_t first = 0; act == DType::kQ8_0 && first < n; first += 4)
            gemm::fill_group_tables(
                rows.data() + first * stride, stride, std::min<int64_t>(4, n - first), g.cols,
                scales.data() + first / 4 * blocks * 4, offsets.data() + first / 4 * blocks * 4);
        gemm::Activations a;
        a.n = n;
        a.rows = rows.data();
        a.row_stride = stride;
        a.group_scales = scales.data();
        a.group_offsets = offsets.data();
        std::vector<float> y_avx2(size_t(n * g.rows)), y_other(y_avx2.size());
        k.avx2(g, a, 0, g.rows, y_avx2.data(), nullptr);
        k.other(g, a, 0, g.rows, y_other.data(), nullptr);
        EXPECT_EQ(y_other, y_avx2) << dtype_name(k.type);
        EXPECT_EQ(y_avx2, run(m.w, x, n, 1)) << dtype_name(k.type);
    }
}

TEST(Matmul, RowGroups8AvxVnniEqualsAvx2) {
    if (!gemm::avx2::cpu_has_avx_vnni()) GTEST_SKIP() << "no AVX-VNNI";
    expect_rowgroups8_set_equals_avx2(gemm::avx2::kRowGroups8AvxVnni);
}

TEST(Matmul, RowGroups8Avx512VnniEqualsAvx2) {
    if (!gemm::avx2::cpu_has_avx512_vnni()) GTEST_SKIP() << "no AVX512-VNNI";
    expect_rowgroups8_set_equals_avx2(gemm::avx2::kRowGroups8Avx512Vnni);
}

// The 512-bit float tiles compute the 256-bit tiles' lanes in the same order, so the two sets
// give the same bits; matmul picks one, so both are run here directly: row-major rows with a
// ragged tail and three column blocks, regrouped half-precision rows read in place, and a
// second chunk of activation rows (past 129).
TEST(Matmul, FloatTiles512EqualTiles256BitForBit) {
    if (!gemm::avx2::cpu_has_avx512_float()) GTEST_SKIP() << "no AVX-512F/DQ";
    const gemm::avx2::FloatKernels& narrow = gemm::avx2::kFloatTiles256;
    const gemm::avx2::FloatKernels& wide = gemm::avx2::kFloatTiles512;
    for (const DType type : {DType::kF32, DType::kF16, DType::kBF16}) {
        const auto pick = [&](const gemm::avx2::FloatKernels& k) {
            return type == DType::kF32 ? k.f32 : type == DType::kF16 ? k.f16 : k.bf16;
        };
        const Matrix row_major = random_matrix(type, 70, 2180, 12);
        std::vector<WeightMatrix> matrices = {row_major.w};
        const Matrix regroupable = regroupable_matrix(type, 48, 13);
        std::vector<uint8_t> grouped(regroupable.bytes.size());
        if (interleaving_pays(regroupable.w))  // F16, BF16
            matrices.push_back(interleave_rows8(regroupable.w, grouped.data()));
        for (const WeightMatrix& w : matrices) {
            std::mt19937 rng(14);
            const int64_t max_n = 131;
            const std::vector<float> x = random_values(rng, size_t(max_n * w.cols), 1.0f);
            std::vector<uint8_t> workspace(gemm::avx2::float_workspace_bytes(w.cols));
            for (const int64_t n : {2, 5, 9, 16, 67, 131}) {
                gemm::Activations a;
                a.n = n;
                a.x = x.data();
                a.x_stride = w.cols;
                std::vector<float> y_narrow(size_t(n * w.rows)), y_wide(y_narrow.size());
                pick(narrow)(w, a, 0, w.rows, y_narrow.data(), workspace.data());
                pick(wide)(w, a, 0, w.rows, y_wide.data(), workspace.data());
                EXPECT_EQ(y_wide, y_narrow) << dtype_name(type) << " cols " << w.cols << " n " << n;
            }
        }
    }
}

TEST(Matmul, Int8DotInstructionsNameTheSetInUse) {
    if (std::getenv("LLMOPT_NO_VNNI") != nullptr) GTEST_SKIP() << "LLMOPT_NO_VNNI picks the set";
    if (!cpu_has_avx2()) {
        EXPECT_STREQ(int8_dot_instructions(), "scalar");
        return;
    }
    const char* expected = gemm::avx2::cpu_has_avx_vnni()      ? "avx-vnni"
                           : gemm::avx2::cpu_has_avx512_vnni() ? "avx512-vnni"
                                                               : "avx2";
    EXPECT_STREQ(int8_dot_instructions(), expected);
    EXPECT_EQ(gemm::avx2::rowgroups8_kernels().name, int8_dot_instructions());
}

TEST(Matmul, RowGroups8OnlyForShapesItCovers) {
    EXPECT_FALSE(interleaving_pays(random_matrix(DType::kQ4_0, 12, 128, 1).w));  // rows % 8
    EXPECT_FALSE(interleaving_pays(random_matrix(DType::kQ4_0, 8, 96, 1).w));    // 3 blocks
    EXPECT_FALSE(interleaving_pays(random_matrix(DType::kQ4_K, 12, 256, 1).w));  // rows % 8
    EXPECT_FALSE(interleaving_pays(random_matrix(DType::kQ5_K, 8, 256, 1).w));
    EXPECT_FALSE(interleaving_pays(random_matrix(DType::kF16, 12, 64, 1).w));  // rows % 8
    EXPECT_FALSE(interleaving_pays(random_matrix(DType::kF16, 8, 100, 1).w));  // cols % 8
    EXPECT_FALSE(interleaving_pays(random_matrix(DType::kF32, 8, 64, 1).w));
}

// Claims from `claimers` threads (of `threads` shares; the others never claim, as when the
// pool was busy and the caller ran alone): the claimed ranges, in order.
std::vector<std::pair<int64_t, int64_t>> claimed_rows(int64_t rows, int32_t threads,
                                                      int32_t claimers) {
    RowShares shares(rows, threads, 16, 8);
    std::vector<std::vector<std::pair<int64_t, int64_t>>> got(claimers);
    std::vector<std::thread> workers;
    for (int32_t id = 0; id < claimers; ++id)
        workers.emplace_back([&, id] {
            for (int64_t b, e; shares.claim(id, b, e);) {
                got[id].emplace_back(b, e);
                if (id == 0) std::this_thread::yield();  // uneven speeds: the others steal
            }
        });
    for (auto& w : workers) w.join();
    std::vector<std::pair<int64_t, int64_t>> all;
    for (const auto& g : got) all.insert(all.end(), g.begin(), g.end());
    std::sort(all.begin(), all.end());
    return all;
}

// Every row is claimed exactly once, in ranges that start on a grain (8) and end on one or at
// the last row, whether every thread claims or only the first.
TEST(RowShares, EveryRowOnceOnGrainsWhoeverClaims) {
    for (const int64_t rows : {8, 100, 1000, 4099})
        for (const int32_t threads : {1, 2, 3, 5})
            for (const int32_t claimers : {1, threads}) {
                int64_t next = 0;
                for (const auto& [b, e] : claimed_rows(rows, threads, claimers)) {
                    EXPECT_EQ(b, next) << rows << " rows, " << threads << " threads";
                    EXPECT_LT(b, e);
                    EXPECT_EQ(b % 8, 0);
                    EXPECT_TRUE(e % 8 == 0 || e == rows);
                    next = e;
                }
                EXPECT_EQ(next, rows) << rows << " rows, " << threads << " threads";
            }
}

}  // namespace
}  // namespace llmopt::kernels
