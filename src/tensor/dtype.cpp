// Element types with ggml's ids and block sizes.
#include "llmopt/tensor/dtype.h"

#include <algorithm>
#include <array>
#include <cctype>

#include "llmopt/util/error.h"

namespace llmopt {
namespace {

struct Entry {
    DType type;
    DTypeInfo info;
};

constexpr std::array kTypes = {
    Entry{DType::kF32, {"f32", 1, 4}},       Entry{DType::kF16, {"f16", 1, 2}},
    Entry{DType::kBF16, {"bf16", 1, 2}},     Entry{DType::kQ4_0, {"q4_0", 32, 18}},
    Entry{DType::kQ4_1, {"q4_1", 32, 20}},   Entry{DType::kQ5_0, {"q5_0", 32, 22}},
    Entry{DType::kQ5_1, {"q5_1", 32, 24}},   Entry{DType::kQ8_0, {"q8_0", 32, 34}},
    Entry{DType::kQ8_1, {"q8_1", 32, 36}},   Entry{DType::kQ2_K, {"q2_K", 256, 84}},
    Entry{DType::kQ3_K, {"q3_K", 256, 110}}, Entry{DType::kQ4_K, {"q4_K", 256, 144}},
    Entry{DType::kQ5_K, {"q5_K", 256, 176}}, Entry{DType::kQ6_K, {"q6_K", 256, 210}},
    Entry{DType::kQ8_K, {"q8_K", 256, 292}}, Entry{DType::kI8, {"i8", 1, 1}},
    Entry{DType::kI16, {"i16", 1, 2}},       Entry{DType::kI32, {"i32", 1, 4}},
};

// kTypes by ggml id: info() sits under row_stride(), which the kernels call per tile.
constexpr size_t kIds = 31;
constexpr std::array<const DTypeInfo*, kIds> kById = [] {
    std::array<const DTypeInfo*, kIds> by_id{};
    for (const Entry& e : kTypes) by_id[static_cast<uint32_t>(e.type)] = &e.info;
    return by_id;
}();

const DTypeInfo* find(uint32_t id) { return id < kIds ? kById[id] : nullptr; }

bool equal_ignoring_case(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

}  // namespace

std::optional<DTypeInfo> dtype_info(uint32_t id) {
    if (const DTypeInfo* i = find(id)) return *i;
    return std::nullopt;
}

const DTypeInfo& info(DType type) {
    if (const DTypeInfo* i = find(static_cast<uint32_t>(type))) return *i;
    throw Error("unknown dtype id " + std::to_string(static_cast<uint32_t>(type)));
}

std::optional<DType> parse_dtype(std::string_view name) {
    for (const Entry& e : kTypes)
        if (equal_ignoring_case(e.info.name, name)) return e.type;
    return std::nullopt;
}

}  // namespace llmopt
