// Block quantization kernels vs llama.cpp's reference vectors, and SIMD vs scalar reference.
#include "llmopt/kernels/quant.h"

#include <gtest/gtest.h>
#include <immintrin.h>

#include <bit>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "llmopt/tensor/fp16.h"
#include "llmopt/util/error.h"
#include "test_support.h"

namespace llmopt::kernels {
namespace {

using test::read_file;
using test::read_f32;
using test::shared_path;

constexpr int64_t kRows = 8;
constexpr int64_t kCols = 4096;
constexpr double kU = FLT_EPSILON / 2;  // unit roundoff of float

std::string quant_file(const std::string& name) { return shared_path("testdata/quant/" + name); }

const std::vector<float>& input() {
    static const std::vector<float> data = read_f32(quant_file("input.f32"));
    return data;
}

std::vector<uint8_t> bytes_of(const std::string& path) {
    const std::string s = read_file(path);
    return {s.begin(), s.end()};
}

// Byte ranges inside a block that hold the levels (quants): zeroing them leaves only the
// offset / min part of every element, used to bound rounding (see dot_magnitude).
struct LevelBytes {
    int begin;
    int end;
};

struct WeightType {
    DType type;
    const char* name;  // ggml spelling, as in the file names
    LevelBytes levels;
};

const WeightType kWeightTypes[] = {
    {DType::kQ4_0, "q4_0", {2, 18}},  {DType::kQ4_1, "q4_1", {4, 20}},   {DType::kQ5_0, "q5_0", {2, 22}},
    {DType::kQ5_1, "q5_1", {4, 24}},  {DType::kQ8_0, "q8_0", {2, 34}},   {DType::kQ2_K, "q2_K", {16, 80}},
    {DType::kQ3_K, "q3_K", {0, 96}},  {DType::kQ4_K, "q4_K", {16, 144}}, {DType::kQ5_K, "q5_K", {16, 176}},
    {DType::kQ6_K, "q6_K", {0, 192}},
};

std::string type_param_name(const ::testing::TestParamInfo<WeightType>& info) { return info.param.name; }

// Tab-separated table with a header line -> rows of name -> column -> text.
std::map<std::string, std::map<std::string, std::string>> read_tsv(const std::string& path) {
    std::istringstream lines(read_file(path));
    std::string line;
    std::getline(lines, line);
    std::vector<std::string> header;
    for (std::istringstream h(line); std::getline(h, line, '\t');) header.push_back(line);
    std::map<std::string, std::map<std::string, std::string>> rows;
    while (std::getline(lines, line)) {
        std::istringstream cells(line);
        std::map<std::string, std::string> row;
        std::string cell;
        for (size_t c = 0; c < header.size() && std::getline(cells, cell, '\t'); ++c) row[header[c]] = cell;
        if (!row.empty()) rows[row[header[0]]] = row;
    }
    return rows;
}

std::vector<float> dequantize(DType type, const uint8_t* row, int64_t n) {
    std::vector<float> out(static_cast<size_t>(n));
    dequantize_row(type, row, out.data(), n);
    return out;
}

// Bound on the magnitude of every term a dot kernel adds: sum_i (|w_i| + 2 |z_i|) |a_i| with
// w the dequantized weights, z their offset / min part and a the dequantized activations.
// A kernel may split w_i * a_i into a level part (w_i - z_i) a_i and an offset part z_i a_i
// (summed separately, e.g. through bsums); each is within (|w_i| + |z_i|) |a_i|. For Q8_1 the
// offset is m * s with s the f16-rounded block sum, up to 2^-11 larger: the 2 covers it.
double dot_magnitude(const WeightType& wt, const uint8_t* w, DType act, const void* a, int64_t n) {
    const std::vector<float> wv = dequantize(wt.type, w, n);
    std::vector<uint8_t> zeroed(w, w + row_bytes(wt.type, n));
    const int64_t block_bytes = info(wt.type).block_bytes;
    for (size_t b = 0; b < zeroed.size(); b += static_cast<size_t>(block_bytes))
        std::fill(zeroed.begin() + static_cast<ptrdiff_t>(b) + wt.levels.begin,
                  zeroed.begin() + static_cast<ptrdiff_t>(b) + wt.levels.end, uint8_t{0});
    const std::vector<float> zv = dequantize(wt.type, zeroed.data(), n);
    const std::vector<float> av = dequantize(act, static_cast<const uint8_t*>(a), n);
    double m = 0;
    for (int64_t i = 0; i < n; ++i) m += (std::fabs(wv[i]) + 2 * std::fabs(zv[i])) * std::fabs(av[i]);
    return m;
}

// Worst-case rounding of the SIMD kernels, in units of u * magnitude. Recursive summation
// errs by at most u * sum |partial sums| <= (adds on the longest chain) * u * sum |terms|, and
// every term is an exact integer block sum times a scale product:
//  32-element types: d_w * d_a is exact (two f16 significands fit in f32), the FMA rounds
//    once; two accumulator sets give each lane a chain of n/64 blocks; the horizontal sum
//    adds 4 levels, the Q4_1 / Q5_1 min chains (also n/64) 2 more adds.
//  K-quants: y.d * d_w and the int -> float conversion round once each, then one FMA per
//    super-block per lane (n/256), a 3-level horizontal sum and the final min subtraction.
//  Float rows: FMAs are exact products, 4 x 8 lanes give chains of n/32, the horizontal sum
//    5 levels and the scalar tail up to 7 FMAs.
double simd_rounding_units(DType type, int64_t n) {
    const double nd = static_cast<double>(n);
    switch (info(type).block_elems) {
        case 1: return nd / 32 + 5 + 7;
        case 32: return nd / 64 + 4 + 2;
        default: return nd / 256 + 2 + 3 + 1;
    }
}
// ggml's AVX2 kernels keep one accumulator per kernel: a chain of one FMA per block (n/32 or
// n/256) plus the same scale roundings and horizontal sum.
double ggml_rounding_units(DType type, int64_t n) {
    return static_cast<double>(n) / static_cast<double>(info(type).block_elems) + 6;
}
// The scalar reference sums in double: only the f32 scale products (<= 2 roundings) and
// the final conversion to f32 remain.
constexpr double kReferenceRoundingUnits = 4;

// ---------------------------------------------------------------------------------------------
// Weight types against llama.cpp's files.

class WeightTypeTest : public ::testing::TestWithParam<WeightType> {};

TEST_P(WeightTypeTest, QuantizeRowIsByteIdenticalToGgml) {
    const WeightType& wt = GetParam();
    const std::vector<uint8_t> expected = bytes_of(quant_file(std::string(wt.name) + ".bin"));
    const size_t rb = row_bytes(wt.type, kCols);
    ASSERT_EQ(expected.size(), rb * kRows);
    std::vector<uint8_t> got(expected.size());
    for (int64_t r = 0; r < kRows; ++r)
        quantize_row(wt.type, input().data() + r * kCols, got.data() + r * rb, kCols);
    size_t mismatches = 0;
    for (size_t i = 0; i < got.size(); ++i) {
        if (got[i] != expected[i] && mismatches++ < 5) {
            ADD_FAILURE() << wt.name << ": byte " << i << " (row " << i / rb << ", block "
                          << (i % rb) / info(wt.type).block_bytes << ", offset "
                          << (i % rb) % info(wt.type).block_bytes << "): got " << int(got[i])
                          << ", expected " << int(expected[i]);
        }
    }
    EXPECT_EQ(mismatches, 0u) << wt.name;
}

TEST_P(WeightTypeTest, DequantizeRowIsBitIdenticalToGgml) {
    const WeightType& wt = GetParam();
    const std::vector<uint8_t> packed = bytes_of(quant_file(std::string(wt.name) + ".bin"));
    const std::vector<float> expected = read_f32(quant_file(std::string(wt.name) + ".dequant.f32"));
    ASSERT_EQ(expected.size(), static_cast<size_t>(kRows * kCols));
    const size_t rb = row_bytes(wt.type, kCols);
    size_t mismatches = 0;
    for (int64_t r = 0; r < kRows; ++r) {
        const std::vector<float> got = dequantize(wt.type, packed.data() + r * rb, kCols);
        for (int64_t i = 0; i < kCols; ++i) {
            const float e = expected[static_cast<size_t>(r * kCols + i)];
            if (std::bit_cast<uint32_t>(got[i]) != std::bit_cast<uint32_t>(e) && mismatches++ < 5)
                ADD_FAILURE() << wt.name << " row " << r << " col " << i << ": " << got[i] << " vs " << e;
        }
    }
    EXPECT_EQ(mismatches, 0u);
}

TEST_P(WeightTypeTest, RoundTripErrorMatchesTable) {
    const WeightType& wt = GetParam();
    const auto table = read_tsv(quant_file("errors.tsv"));
    ASSERT_TRUE(table.count(wt.name));
    const auto& row = table.at(wt.name);
    EXPECT_EQ(std::stoll(row.at("row_bytes")), static_cast<long long>(row_bytes(wt.type, kCols)));

    std::vector<uint8_t> packed(row_bytes(wt.type, kCols));
    double sum_sq = 0, max_err = 0;
    for (int64_t r = 0; r < kRows; ++r) {
        const float* x = input().data() + r * kCols;
        quantize_row(wt.type, x, packed.data(), kCols);
        const std::vector<float> y = dequantize(wt.type, packed.data(), kCols);
        for (int64_t i = 0; i < kCols; ++i) {
            const double e = static_cast<double>(y[i]) - x[i];
            sum_sq += e * e;
            max_err = std::max(max_err, std::fabs(e));
        }
    }
    const double rmse = std::sqrt(sum_sq / (kRows * kCols));
    // The table prints 9 significant digits.
    EXPECT_NEAR(rmse, std::stod(row.at("rmse")), 1e-8 * rmse) << wt.name;
    EXPECT_NEAR(max_err, std::stod(row.at("max_abs_err")), 1e-8 * max_err) << wt.name;
}

// ggml's dot of weight row 0 with activation row 1 (dots.tsv), and the exact formula value.
TEST_P(WeightTypeTest, VecDotMatchesGgml) {
    const WeightType& wt = GetParam();
    const auto dots = read_tsv(quant_file("dots.tsv"));
    ASSERT_TRUE(dots.count(wt.name));
    const auto& row = dots.at(wt.name);
    const DType act = activation_type(wt.type);
    // File names spell the activation types in lower case; dots.tsv uses ggml's "q8_K".
    const std::string act_name = act == DType::kQ8_0 ? "q8_0" : act == DType::kQ8_1 ? "q8_1" : "q8_k";
    ASSERT_EQ(row.at("vec_dot_type"), std::string(dtype_name(act)));

    const std::vector<uint8_t> w = bytes_of(quant_file(std::string(wt.name) + ".bin"));
    const std::vector<uint8_t> a = bytes_of(quant_file(act_name + ".act.row1.bin"));
    ASSERT_EQ(a.size(), row_bytes(act, kCols));
    const double ggml = std::stod(row.at("value"));
    const double formula = std::stod(row.at("formula_dot_f64"));
    const double mag = dot_magnitude(wt, w.data(), act, a.data(), kCols);

    const float ref = vec_dot_reference(wt.type, kCols, w.data(), a.data());
    const float fast = vec_dot(wt.type, kCols, w.data(), a.data());
    RecordProperty("ref_err_units", std::to_string(std::fabs(ref - formula) / (kU * mag)));
    RecordProperty("simd_err_units", std::to_string(std::fabs(fast - formula) / (kU * mag)));
    RecordProperty("ggml_err_units", std::to_string(std::fabs(ggml - formula) / (kU * mag)));
    RecordProperty("magnitude", std::to_string(mag));
    // formula_dot_f64 was summed from f32 dequantized weights, each off by <= u |w_i|: 1 more unit.
    EXPECT_NEAR(ref, formula, (kReferenceRoundingUnits + 1) * kU * mag) << wt.name;
    EXPECT_NEAR(fast, formula, (simd_rounding_units(wt.type, kCols) + 1) * kU * mag) << wt.name;
    EXPECT_NEAR(fast, ggml,
                (simd_rounding_units(wt.type, kCols) + ggml_rounding_units(wt.type, kCols)) * kU * mag)
        << wt.name;
}

INSTANTIATE_TEST_SUITE_P(Ggml, WeightTypeTest, ::testing::ValuesIn(kWeightTypes), type_param_name);

// ---------------------------------------------------------------------------------------------
// The type table.

TEST(DTypeTable, GgmlIdsAndLayouts) {
    ASSERT_TRUE(dtype_info(2));
    EXPECT_EQ(dtype_info(2)->name, "q4_0");
    EXPECT_EQ(dtype_info(2)->block_elems, 32);
    EXPECT_EQ(dtype_info(2)->block_bytes, 18);
    EXPECT_EQ(info(DType::kBF16).name, "bf16");
    EXPECT_EQ(info(DType::kQ6_K).block_bytes, 210);
    for (uint32_t id : {4u, 5u, 16u, 23u, 27u, 29u, 31u, 1000u}) EXPECT_FALSE(dtype_info(id)) << id;
    EXPECT_THROW(info(static_cast<DType>(31)), Error);
    for (const char* name : {"f32", "f16", "bf16", "q4_0", "q8_0", "q4_K", "q6_K", "i32"})
        EXPECT_EQ(info(*parse_dtype(name)).name, name);
}

// ---------------------------------------------------------------------------------------------
// Activations.

TEST(QuantActivation, TypesPerWeight) {
    EXPECT_EQ(activation_type(DType::kF32), DType::kF32);
    EXPECT_EQ(activation_type(DType::kF16), DType::kF32);
    EXPECT_EQ(activation_type(DType::kBF16), DType::kF32);
    for (DType t : {DType::kQ4_0, DType::kQ5_0, DType::kQ8_0}) EXPECT_EQ(activation_type(t), DType::kQ8_0);
    for (DType t : {DType::kQ4_1, DType::kQ5_1}) EXPECT_EQ(activation_type(t), DType::kQ8_1);
    for (DType t : {DType::kQ2_K, DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K})
        EXPECT_EQ(activation_type(t), DType::kQ8_K);
    EXPECT_THROW(activation_type(DType::kQ8_K), Error);
    EXPECT_THROW(activation_type(DType::kI32), Error);
}

TEST(QuantActivation, ByteIdenticalToGgml) {
    const struct {
        DType type;
        int row;
        const char* file;
    } cases[] = {
        {DType::kQ8_0, 0, "q8_0.act.bin"}, {DType::kQ8_0, 1, "q8_0.act.row1.bin"},
        {DType::kQ8_1, 1, "q8_1.act.row1.bin"}, {DType::kQ8_K, 0, "q8_k.act.bin"},
        {DType::kQ8_K, 1, "q8_k.act.row1.bin"},
    };
    for (const auto& c : cases) {
        const std::vector<uint8_t> expected = bytes_of(quant_file(c.file));
        std::vector<uint8_t> got(row_bytes(c.type, kCols));
        ASSERT_EQ(got.size(), expected.size()) << c.file;
        quantize_activation(c.type, input().data() + c.row * kCols, got.data(), kCols);
        EXPECT_TRUE(got == expected) << c.file;
    }
}

// The weight flavour of Q8_0 rounds ties away from zero, the activation flavour to even.
TEST(QuantActivation, Q8_0TiesDifferFromWeightFlavour) {
    std::vector<float> x(32, 0.0f);
    x[0] = 127.0f;  // scale 1
    x[1] = 2.5f;
    std::vector<uint8_t> weight(34), activation(34);
    quantize_row(DType::kQ8_0, x.data(), weight.data(), 32);
    quantize_activation(DType::kQ8_0, x.data(), activation.data(), 32);
    EXPECT_EQ(static_cast<int8_t>(weight[2 + 1]), 3);
    EXPECT_EQ(static_cast<int8_t>(activation[2 + 1]), 2);
}

TEST(QuantActivation, F32IsACopy) {
    std::vector<float> out(kCols);
    quantize_activation(DType::kF32, input().data(), out.data(), kCols);
    EXPECT_EQ(0, std::memcmp(out.data(), input().data(), kCols * sizeof(float)));
}

// ---------------------------------------------------------------------------------------------
// SIMD kernels vs the scalar reference on random rows.

// Gaussian values with a few 20-sigma outliers and a per-row shift, as in the reference data.
std::vector<float> random_row(std::mt19937& rng, int64_t n, float shift) {
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::uniform_int_distribution<int> pick(0, 96);
    std::vector<float> x(static_cast<size_t>(n));
    for (float& v : x) v = normal(rng) * (pick(rng) == 0 ? 20.0f : 1.0f) + shift;
    return x;
}

class RandomRowTest : public ::testing::TestWithParam<WeightType> {};

TEST_P(RandomRowTest, MatchesReferenceOnRandomRows) {
    const WeightType& wt = GetParam();
    const DType act = activation_type(wt.type);
    std::mt19937 rng(1234);
    for (int64_t n : {256, 512, 1024, 4096, 11008}) {
        for (int trial = 0; trial < 6; ++trial) {
            const float shift = trial % 3 == 2 ? 1.5f : 0.0f;
            const std::vector<float> x = random_row(rng, n, shift);
            const std::vector<float> y = random_row(rng, n, 0.0f);
            std::vector<uint8_t> w(row_bytes(wt.type, n)), a(row_bytes(act, n));
            quantize_row(wt.type, x.data(), w.data(), n);
            quantize_activation(act, y.data(), a.data(), n);
            const double mag = dot_magnitude(wt, w.data(), act, a.data(), n);
            const float ref = vec_dot_reference(wt.type, n, w.data(), a.data());
            const float fast = vec_dot(wt.type, n, w.data(), a.data());
            EXPECT_NEAR(fast, ref, (simd_rounding_units(wt.type, n) + kReferenceRoundingUnits) * kU * mag)
                << wt.name << " n=" << n << " trial " << trial;
        }
    }
}

// Rows off the 32-byte grid give the same bits: the kernels use unaligned loads and a fixed
// order. (Blocks still need their natural 2-byte alignment, 4 for Q8_K.)
TEST_P(RandomRowTest, IndependentOfAlignment) {
    const WeightType& wt = GetParam();
    const DType act = activation_type(wt.type);
    std::mt19937 rng(99);
    const int64_t n = 2048;
    const std::vector<float> x = random_row(rng, n, 0.5f), y = random_row(rng, n, 0.0f);
    std::vector<uint8_t> w(row_bytes(wt.type, n) + 2), a(row_bytes(act, n) + 4);
    quantize_row(wt.type, x.data(), w.data(), n);
    quantize_activation(act, y.data(), a.data(), n);
    const float aligned = vec_dot(wt.type, n, w.data(), a.data());
    std::memmove(w.data() + 2, w.data(), w.size() - 2);
    std::memmove(a.data() + 4, a.data(), a.size() - 4);
    const float shifted = vec_dot(wt.type, n, w.data() + 2, a.data() + 4);
    EXPECT_EQ(std::bit_cast<uint32_t>(aligned), std::bit_cast<uint32_t>(shifted));
}

INSTANTIATE_TEST_SUITE_P(AllTypes, RandomRowTest, ::testing::ValuesIn(kWeightTypes), type_param_name);

// Q4_1 / Q5_1 take the min term from the activation's stored f16 sum s, not from its levels:
// with all weight levels 0 the dot is exactly sum over blocks of m_w * s_a, whatever s holds.
TEST(SimdQ8_1, MinTermUsesStoredSum) {
    std::mt19937 rng(11);
    const int64_t n = 1024;
    for (DType type : {DType::kQ4_1, DType::kQ5_1}) {
        const std::vector<float> x = random_row(rng, n, 2.0f), y = random_row(rng, n, 0.0f);
        std::vector<uint8_t> w(row_bytes(type, n)), a(row_bytes(DType::kQ8_1, n));
        quantize_row(type, x.data(), w.data(), n);
        quantize_activation(DType::kQ8_1, y.data(), a.data(), n);
        const size_t wb = static_cast<size_t>(info(type).block_bytes);
        double expected = 0, mag = 0;
        for (int64_t b = 0; b < n / 32; ++b) {
            uint8_t* wblock = w.data() + b * wb;
            uint8_t* ablock = a.data() + b * 36;
            std::fill(wblock + 4, wblock + wb, uint8_t{0});   // levels (and 5th bits) to 0
            const uint16_t s = fp32_to_fp16(static_cast<float>(b % 7) - 3.25f);  // unrelated to qs
            std::memcpy(ablock + 2, &s, 2);
            const double term = static_cast<double>(load_fp16(wblock + 2)) * fp16_to_fp32(s);
            expected += term;
            mag += std::fabs(term);
        }
        // Each term is one f32 product (1 rounding) summed along chains of n/64 + 2 adds.
        const double tol = (static_cast<double>(n) / 64 + 4) * kU * mag;
        EXPECT_NEAR(vec_dot(type, n, w.data(), a.data()), expected, tol) << dtype_name(type);
        EXPECT_NEAR(vec_dot_reference(type, n, w.data(), a.data()), expected, 2 * kU * mag) << dtype_name(type);
    }
}

TEST(SimdFloat, MatchesReference) {
    std::mt19937 rng(7);
    for (DType type : {DType::kF32, DType::kF16, DType::kBF16}) {
        for (int64_t n : {1, 7, 8, 31, 33, 100, 4096, 4101}) {
            const std::vector<float> x = random_row(rng, n, 0.0f), y = random_row(rng, n, 0.0f);
            std::vector<uint8_t> w(row_bytes(type, n));
            quantize_row(type, x.data(), w.data(), n);
            const std::vector<float> wv = dequantize(type, w.data(), n);
            double mag = 0;
            for (int64_t i = 0; i < n; ++i) mag += std::fabs(static_cast<double>(wv[i]) * y[i]);
            const float ref = vec_dot_reference(type, n, w.data(), y.data());
            const float fast = vec_dot(type, n, w.data(), y.data());
            EXPECT_NEAR(fast, ref, (simd_rounding_units(type, n) + kReferenceRoundingUnits) * kU * mag)
                << dtype_name(type) << " n=" << n;
        }
    }
}

// Eight rows in one call give each row's vec_dot bits, for every type (those without an
// eight-row kernel loop over vec_dot), float rows with and without a tail past a multiple of 8.
TEST(VecDot8, EightRowsAtOnceEqualEachRowsDot) {
    std::mt19937 rng(5);
    for (DType type : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ4_0, DType::kQ4_1, DType::kQ5_0,
                       DType::kQ5_1, DType::kQ8_0, DType::kQ2_K, DType::kQ3_K, DType::kQ4_K, DType::kQ5_K,
                       DType::kQ6_K}) {
        const DType act = activation_type(type);
        const int64_t block = info(type).block_elems;
        const auto lengths = block == 1 ? std::vector<int64_t>{5, 8, 64, 69, 200} : std::vector<int64_t>{block, 2 * block, 3 * block, 8 * block};
        for (int64_t n : lengths) {
            const size_t bytes = row_bytes(type, n);
            std::vector<uint8_t> w(8 * bytes), a(row_bytes(act, n));
            const void* rows[8];
            for (int j = 0; j < 8; ++j) {
                quantize_row(type, random_row(rng, n, j % 3 == 2 ? 1.5f : 0.0f).data(), w.data() + j * bytes, n);
                rows[j] = w.data() + j * bytes;
            }
            quantize_activation(act, random_row(rng, n, 0.0f).data(), a.data(), n);
            float eight[8];
            vec_dot8(type, n, rows, a.data(), eight);
            for (int j = 0; j < 8; ++j)
                EXPECT_EQ(std::bit_cast<uint32_t>(eight[j]), std::bit_cast<uint32_t>(vec_dot(type, n, rows[j], a.data())))
                    << dtype_name(type) << " n=" << n << " row " << j;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Round-trip error bounds on random data.

// Worst f16 rounding of a stored scale: half an ulp, or half the subnormal spacing 2^-24.
double f16_error(double d) { return std::max(std::fabs(d) * std::ldexp(1.0, -11), std::ldexp(1.0, -25)); }

// Per-block bound of |x - dequant(quant(x))|, from how each type picks its scale:
//  Q8_0: d = amax/127, rounding to nearest: d/2, plus up to 127 times the f16 error of d.
//  Q4_0 / Q5_0: d = -max/8 (/16); the extreme opposite max's sign lands on +8 (+16) and is
//    clamped to 7 (15): one full step d; plus 8 (16) f16 errors of d.
//  Q4_1 / Q5_1: d = (max-min)/15 (/31), min stored as f16: d/2 + 15 (31) f16(d) + f16(min).
//  K-quants: levels follow a fitted (and 6- or 4-bit quantized) scale per 16 or 32 elements,
//    which may clip a group's extremes; bounded by `k_steps` times the super-block's natural
//    step (range over the level count), with k_steps set from the level count below.
double block_bound(DType type, const float* x, int n) {
    double amax = 0, max = 0, lo = x[0], hi = x[0];
    for (int i = 0; i < n; ++i) {
        if (std::fabs(x[i]) > amax) {
            amax = std::fabs(x[i]);
            max = x[i];
        }
        lo = std::min<double>(lo, x[i]);
        hi = std::max<double>(hi, x[i]);
    }
    const double slack = 8 * kU * amax;  // float arithmetic in quantize and dequantize
    switch (type) {
        case DType::kQ8_0: return amax / 254 + 127 * f16_error(amax / 127) + slack;
        case DType::kQ4_0: return amax / 8 + 8 * f16_error(max / 8) + slack;
        case DType::kQ5_0: return amax / 16 + 16 * f16_error(max / 16) + slack;
        case DType::kQ4_1: return (hi - lo) / 30 + 15 * f16_error((hi - lo) / 15) + f16_error(lo) + slack;
        case DType::kQ5_1: return (hi - lo) / 62 + 31 * f16_error((hi - lo) / 31) + f16_error(lo) + slack;
        case DType::kQ2_K: return 1.0 * (hi - std::min(lo, 0.0)) / 3 + slack;
        case DType::kQ3_K: return 1.0 * amax / 4 + slack;
        case DType::kQ4_K: return 1.0 * (hi - std::min(lo, 0.0)) / 15 + slack;
        case DType::kQ5_K: return 1.0 * (hi - std::min(lo, 0.0)) / 31 + slack;
        case DType::kQ6_K: return 1.0 * amax / 32 + slack;
        default: return 0;
    }
}

TEST_P(RandomRowTest, RoundTripWithinBound) {
    const WeightType& wt = GetParam();
    const int block = static_cast<int>(info(wt.type).block_elems);
    std::mt19937 rng(5);
    const int64_t n = 8192;
    double worst = 0;
    for (float shift : {0.0f, 3.0f}) {
        const std::vector<float> x = random_row(rng, n, shift);
        std::vector<uint8_t> packed(row_bytes(wt.type, n));
        quantize_row(wt.type, x.data(), packed.data(), n);
        const std::vector<float> y = dequantize(wt.type, packed.data(), n);
        for (int64_t b = 0; b < n / block; ++b) {
            const double bound = block_bound(wt.type, x.data() + b * block, block);
            for (int64_t i = b * block; i < (b + 1) * block; ++i) {
                const double err = std::fabs(static_cast<double>(y[i]) - x[i]);
                worst = std::max(worst, err / bound);
                ASSERT_LE(err, bound) << wt.name << " element " << i << " x=" << x[i] << " y=" << y[i];
            }
        }
    }
    RecordProperty("worst_error_over_bound", std::to_string(worst));
}

// ---------------------------------------------------------------------------------------------
// Conversions and argument checks.

TEST(Fp16, ExhaustiveRoundTrip) {
    for (uint32_t h = 0; h < 65536; ++h) {
        const float f = fp16_to_fp32(static_cast<uint16_t>(h));
        const uint16_t back = fp32_to_fp16(f);
        const bool is_nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0;
        if (is_nan) {
            ASSERT_TRUE(std::isnan(f)) << h;
            ASSERT_EQ(back & 0x7c00, 0x7c00) << h;
            ASSERT_NE(back & 0x3ff, 0) << h;
        } else {
            ASSERT_EQ(back, h) << h;
        }
    }
}

__attribute__((target("f16c"))) float hardware_fp16_to_fp32(uint16_t h) { return _cvtsh_ss(h); }
__attribute__((target("f16c"))) uint16_t hardware_fp32_to_fp16(float f) {
    return static_cast<uint16_t>(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT));
}

TEST(Fp16, AgreesWithF16c) {
    if (!cpu_has_avx2()) GTEST_SKIP() << "no F16C";
    for (uint32_t h = 0; h < 65536; ++h) {
        const float want = hardware_fp16_to_fp32(static_cast<uint16_t>(h));
        const float got = fp16_to_fp32(static_cast<uint16_t>(h));
        if (std::isnan(want)) continue;
        ASSERT_EQ(std::bit_cast<uint32_t>(got), std::bit_cast<uint32_t>(want)) << h;
    }
    std::mt19937 rng(3);
    std::uniform_int_distribution<uint32_t> bits;
    for (int i = 0; i < 1000000; ++i) {
        // Random bit patterns cover every exponent, including the subnormal and overflow ranges.
        const float f = std::bit_cast<float>(bits(rng));
        if (std::isnan(f)) continue;
        ASSERT_EQ(fp32_to_fp16(f), hardware_fp32_to_fp16(f)) << f;
    }
}

TEST(Fp16, KnownRoundings) {
    EXPECT_EQ(fp32_to_fp16(1.0f), 0x3c00);
    EXPECT_EQ(fp32_to_fp16(-2.0f), 0xc000);
    EXPECT_EQ(fp32_to_fp16(65504.0f), 0x7bff);
    EXPECT_EQ(fp32_to_fp16(65519.0f), 0x7bff);                   // below the midpoint to 2^16
    EXPECT_EQ(fp32_to_fp16(65520.0f), 0x7c00);                   // tie rounds to even: inf
    EXPECT_EQ(fp32_to_fp16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);      // tie to even (down)
    EXPECT_EQ(fp32_to_fp16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);  // tie to even (up)
    EXPECT_EQ(fp32_to_fp16(std::ldexp(1.0f, -14)), 0x0400);      // smallest normal
    EXPECT_EQ(fp32_to_fp16(std::ldexp(1.0f, -24)), 0x0001);      // smallest subnormal
    EXPECT_EQ(fp32_to_fp16(std::ldexp(1.0f, -25)), 0x0000);      // tie to even: zero
    EXPECT_EQ(fp32_to_fp16(std::ldexp(1.5f, -25)), 0x0001);
    EXPECT_EQ(fp32_to_fp16(std::ldexp(1.0f, -26)), 0x0000);      // far below: zero, keeping the sign
    EXPECT_EQ(fp32_to_fp16(-std::ldexp(1.0f, -36)), 0x8000);
    EXPECT_EQ(fp32_to_fp16(-0.0f), 0x8000);
    EXPECT_EQ(fp32_to_fp16(INFINITY), 0x7c00);
    EXPECT_EQ(fp32_to_bf16(1.0f), 0x3f80);
    EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x3f808000u)), 0x3f80);  // tie to even (down)
    EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x3f818000u)), 0x3f82);  // tie to even (up)
    EXPECT_TRUE(std::isnan(bf16_to_fp32(fp32_to_bf16(NAN))));
}

TEST(QuantArgs, RowsNotABlockMultipleThrow) {
    std::vector<float> x(172, 1.0f);
    std::vector<uint8_t> out(4096);
    EXPECT_THROW(quantize_row(DType::kQ4_0, x.data(), out.data(), 172), Error);
    EXPECT_THROW(quantize_row(DType::kQ4_K, x.data(), out.data(), 160), Error);
    EXPECT_THROW(dequantize_row(DType::kQ8_0, out.data(), x.data(), 40), Error);
    EXPECT_THROW(quantize_activation(DType::kQ8_K, x.data(), out.data(), 128), Error);
    EXPECT_THROW(vec_dot(DType::kQ6_K, 128, out.data(), out.data()), Error);
    EXPECT_THROW(vec_dot(DType::kQ8_1, 32, out.data(), out.data()), Error);
    EXPECT_NO_THROW(quantize_row(DType::kF16, x.data(), out.data(), 172));
}

}  // namespace
}  // namespace llmopt::kernels
