// Public entry points of quant.h: argument checks and the choice of kernel per type and CPU.
#include <algorithm>
#include <array>
#include <cstring>
#include <string>

#include "llmopt/kernels/quant.h"
#include "llmopt/util/error.h"
#include "quant_blocks.h"

namespace llmopt::kernels {
namespace {

using namespace detail;

void check_row(DType type, int64_t n, const char* what) {
    const int64_t block = info(type).block_elems;
    if (n < 0 || n % block != 0) {
        throw Error(std::string(what) + ": a " + std::string(dtype_name(type)) + " row needs a multiple of " +
                    std::to_string(block) + " elements, got " + std::to_string(n));
    }
}

[[noreturn]] void unsupported(DType type, const char* what) {
    throw Error(std::string(what) + ": unsupported type id " + std::to_string(static_cast<uint32_t>(type)));
}

// Dot kernels indexed by ggml type id, with the block size the row length must be a multiple of.
constexpr size_t kTypeIds = static_cast<size_t>(DType::kBF16) + 1;
struct DotEntry {
    DotFn fn = nullptr;
    int64_t block = 1;
    Dot8Fn fn8 = nullptr;  // eight rows at once, where the type has such a kernel
};
using DotTable = std::array<DotEntry, kTypeIds>;

DotTable make_table(bool simd) {
    DotTable t{};
    auto set = [&](DType type, DotFn scalar_fn, DotFn simd_fn, int64_t block) {
        t[static_cast<size_t>(type)] = {simd ? simd_fn : scalar_fn, block};
    };
    set(DType::kF32, scalar::dot_f32, avx2::dot_f32, 1);
    set(DType::kF16, scalar::dot_f16, avx2::dot_f16, 1);
    set(DType::kBF16, scalar::dot_bf16, avx2::dot_bf16, 1);
    set(DType::kQ4_0, scalar::dot_q4_0, avx2::dot_q4_0, kQK);
    set(DType::kQ4_1, scalar::dot_q4_1, avx2::dot_q4_1, kQK);
    set(DType::kQ5_0, scalar::dot_q5_0, avx2::dot_q5_0, kQK);
    set(DType::kQ5_1, scalar::dot_q5_1, avx2::dot_q5_1, kQK);
    set(DType::kQ8_0, scalar::dot_q8_0, avx2::dot_q8_0, kQK);
    // Every K-quant has an AVX2 kernel; none falls back to the scalar path on AVX2 machines.
    set(DType::kQ2_K, scalar::dot_q2_k, avx2::dot_q2_k, kQK_K);
    set(DType::kQ3_K, scalar::dot_q3_k, avx2::dot_q3_k, kQK_K);
    set(DType::kQ4_K, scalar::dot_q4_k, avx2::dot_q4_k, kQK_K);
    set(DType::kQ5_K, scalar::dot_q5_k, avx2::dot_q5_k, kQK_K);
    set(DType::kQ6_K, scalar::dot_q6_k, avx2::dot_q6_k, kQK_K);
    if (simd) {
        auto set8 = [&](DType type, Dot8Fn fn8) { t[static_cast<size_t>(type)].fn8 = fn8; };
        set8(DType::kF32, avx2::dot8_f32);
        set8(DType::kF16, avx2::dot8_f16);
        set8(DType::kBF16, avx2::dot8_bf16);
        set8(DType::kQ4_0, avx2::dot8_q4_0);
        set8(DType::kQ4_1, avx2::dot8_q4_1);
        set8(DType::kQ5_0, avx2::dot8_q5_0);
        set8(DType::kQ5_1, avx2::dot8_q5_1);
        set8(DType::kQ8_0, avx2::dot8_q8_0);
    }
    return t;
}

const DotEntry& dot_entry(const DotTable& table, DType weight, int64_t n) {
    const auto id = static_cast<size_t>(weight);
    if (id >= table.size() || table[id].fn == nullptr) unsupported(weight, "vec_dot");
    const DotEntry& e = table[id];
    // Hot path: one table read and a division by a power of two; the message only on error.
    if (n < 0 || n % e.block != 0) check_row(weight, n, "vec_dot");
    return e;
}

template <typename T>
const T* as(const void* p) {
    return static_cast<const T*>(p);
}
template <typename T>
T* as(void* p) {
    return static_cast<T*>(p);
}

}  // namespace

bool cpu_has_avx2() {
    static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                            __builtin_cpu_supports("f16c");
    return has;
}

void quantize_row(DType type, const float* x, void* y, int64_t n) {
    check_row(type, n, "quantize_row");
    switch (type) {
        case DType::kF32: std::memcpy(y, x, static_cast<size_t>(n) * sizeof(float)); return;
        case DType::kF16: std::transform(x, x + n, as<uint16_t>(y), fp32_to_fp16); return;
        case DType::kBF16: std::transform(x, x + n, as<uint16_t>(y), fp32_to_bf16); return;
        case DType::kQ4_0: quantize_q4_0(x, as<BlockQ4_0>(y), n); return;
        case DType::kQ4_1: quantize_q4_1(x, as<BlockQ4_1>(y), n); return;
        case DType::kQ5_0: quantize_q5_0(x, as<BlockQ5_0>(y), n); return;
        case DType::kQ5_1: quantize_q5_1(x, as<BlockQ5_1>(y), n); return;
        case DType::kQ8_0: quantize_q8_0(x, as<BlockQ8_0>(y), n); return;
        case DType::kQ8_1: quantize_q8_1(x, as<BlockQ8_1>(y), n); return;
        case DType::kQ2_K: quantize_q2_k(x, as<BlockQ2_K>(y), n); return;
        case DType::kQ3_K: quantize_q3_k(x, as<BlockQ3_K>(y), n); return;
        case DType::kQ4_K: quantize_q4_k(x, as<BlockQ4_K>(y), n); return;
        case DType::kQ5_K: quantize_q5_k(x, as<BlockQ5_K>(y), n); return;
        case DType::kQ6_K: quantize_q6_k(x, as<BlockQ6_K>(y), n); return;
        case DType::kQ8_K: quantize_q8_k(x, as<BlockQ8_K>(y), n); return;
        default: unsupported(type, "quantize_row");
    }
}

void dequantize_row(DType type, const void* x, float* y, int64_t n) {
    check_row(type, n, "dequantize_row");
    switch (type) {
        case DType::kF32: std::memcpy(y, x, static_cast<size_t>(n) * sizeof(float)); return;
        case DType::kF16: std::transform(as<uint16_t>(x), as<uint16_t>(x) + n, y, fp16_to_fp32); return;
        case DType::kBF16: std::transform(as<uint16_t>(x), as<uint16_t>(x) + n, y, bf16_to_fp32); return;
        case DType::kQ4_0: dequantize_q4_0(as<BlockQ4_0>(x), y, n); return;
        case DType::kQ4_1: dequantize_q4_1(as<BlockQ4_1>(x), y, n); return;
        case DType::kQ5_0: dequantize_q5_0(as<BlockQ5_0>(x), y, n); return;
        case DType::kQ5_1: dequantize_q5_1(as<BlockQ5_1>(x), y, n); return;
        case DType::kQ8_0: dequantize_q8_0(as<BlockQ8_0>(x), y, n); return;
        case DType::kQ8_1: dequantize_q8_1(as<BlockQ8_1>(x), y, n); return;
        case DType::kQ2_K: dequantize_q2_k(as<BlockQ2_K>(x), y, n); return;
        case DType::kQ3_K: dequantize_q3_k(as<BlockQ3_K>(x), y, n); return;
        case DType::kQ4_K: dequantize_q4_k(as<BlockQ4_K>(x), y, n); return;
        case DType::kQ5_K: dequantize_q5_k(as<BlockQ5_K>(x), y, n); return;
        case DType::kQ6_K: dequantize_q6_k(as<BlockQ6_K>(x), y, n); return;
        case DType::kQ8_K: dequantize_q8_k(as<BlockQ8_K>(x), y, n); return;
        default: unsupported(type, "dequantize_row");
    }
}

DType activation_type(DType weight) {
    switch (weight) {
        case DType::kF32:
        case DType::kF16:
        case DType::kBF16: return DType::kF32;
        case DType::kQ4_0:
        case DType::kQ5_0:
        case DType::kQ8_0: return DType::kQ8_0;
        case DType::kQ4_1:
        case DType::kQ5_1: return DType::kQ8_1;
        case DType::kQ2_K:
        case DType::kQ3_K:
        case DType::kQ4_K:
        case DType::kQ5_K:
        case DType::kQ6_K: return DType::kQ8_K;
        default: unsupported(weight, "activation_type");
    }
}

void quantize_activation(DType act_type, const float* x, void* y, int64_t n) {
    check_row(act_type, n, "quantize_activation");
    switch (act_type) {
        case DType::kF32: std::memcpy(y, x, static_cast<size_t>(n) * sizeof(float)); return;
        case DType::kQ8_0: quantize_q8_0_activation(x, as<BlockQ8_0>(y), n); return;
        case DType::kQ8_1: quantize_q8_1_activation(x, as<BlockQ8_1>(y), n); return;
        // The CPU backend's Q8_K activation quantizer is the reference one.
        case DType::kQ8_K: quantize_q8_k(x, as<BlockQ8_K>(y), n); return;
        default: unsupported(act_type, "quantize_activation");
    }
}

namespace {
const DotTable& fastest_table() {
    static const DotTable table = make_table(cpu_has_avx2());
    return table;
}
}  // namespace

float vec_dot(DType weight, int64_t n, const void* w, const void* a) {
    return dot_entry(fastest_table(), weight, n).fn(n, w, a);
}

void vec_dot8(DType weight, int64_t n, const void* const* w, const void* a, float* out) {
    const DotEntry& e = dot_entry(fastest_table(), weight, n);
    if (e.fn8 != nullptr) return e.fn8(n, w, a, out);
    for (int j = 0; j < 8; ++j) out[j] = e.fn(n, w[j], a);
}

float vec_dot_reference(DType weight, int64_t n, const void* w, const void* a) {
    static const DotTable table = make_table(false);
    return dot_entry(table, weight, n).fn(n, w, a);
}

}  // namespace llmopt::kernels
