// Element types of weights and activations, with ggml's type ids and block layouts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace llmopt {

// Values are ggml's type ids, as stored in GGUF tensor infos.
enum class DType : uint32_t {
    kF32 = 0,
    kF16 = 1,
    kQ4_0 = 2,
    kQ4_1 = 3,
    kQ5_0 = 6,
    kQ5_1 = 7,
    kQ8_0 = 8,
    kQ8_1 = 9,
    kQ2_K = 10,
    kQ3_K = 11,
    kQ4_K = 12,
    kQ5_K = 13,
    kQ6_K = 14,
    kQ8_K = 15,
    kI8 = 24,
    kI16 = 25,
    kI32 = 26,
    kBF16 = 30,
};

struct DTypeInfo {
    std::string_view name;  // ggml spelling: "f32", "q4_0", "q4_K"
    int64_t block_elems;    // elements per block (1 for plain types)
    int64_t block_bytes;    // bytes per block
};

// Layout of a supported type; nullopt for ids this engine does not know.
std::optional<DTypeInfo> dtype_info(uint32_t id);
const DTypeInfo& info(DType type);
inline std::string_view dtype_name(DType type) { return info(type).name; }

// Parses "q4_0", "Q4_K", "f16" ... (case-insensitive); nullopt when unknown.
std::optional<DType> parse_dtype(std::string_view name);

// Bytes of a row of n elements; n must be a multiple of the block size.
inline size_t row_bytes(DType type, int64_t n) {
    const DTypeInfo& i = info(type);
    return static_cast<size_t>(n / i.block_elems * i.block_bytes);
}

inline bool is_quantized(DType t) { return info(t).block_elems > 1; }

}  // namespace llmopt
