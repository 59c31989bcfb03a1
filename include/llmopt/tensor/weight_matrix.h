// A weight matrix used in place: rows of (possibly block-quantized) elements.
#pragma once

#include <cstddef>
#include <cstdint>

#include "llmopt/tensor/dtype.h"

namespace llmopt {

// How a matrix's bytes are arranged. kRows: row after row, as in GGUF. kRowGroups8: the same
// blocks regrouped so that 8 consecutive rows are read as one stream (kernels/interleave.h);
// only the matmul reads such a matrix, through kernels that know the layout.
enum class WeightLayout : uint8_t { kRows, kRowGroups8 };

// A matrix of `rows` output features, each a row of `cols` elements of `type`.
struct WeightMatrix {
    DType type = DType::kF32;
    int64_t rows = 0;
    int64_t cols = 0;
    const uint8_t* data = nullptr;
    WeightLayout layout = WeightLayout::kRows;

    size_t row_stride() const { return row_bytes(type, cols); }
    // Row r's bytes; kRows layout only.
    const uint8_t* row(int64_t r) const { return data + static_cast<size_t>(r) * row_stride(); }
    bool empty() const { return data == nullptr; }
};

}  // namespace llmopt
