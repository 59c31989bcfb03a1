// A weight matrix used in place: rows of (possibly block-quantized) elements.
#pragma once

#include <cstddef>
#include <cstdint>

#include "llmopt/tensor/dtype.h"

namespace llmopt {

// A row-major matrix of `rows` output features, each a row of `cols` elements of `type`.
struct WeightMatrix {
    DType type = DType::kF32;
    int64_t rows = 0;
    int64_t cols = 0;
    const uint8_t* data = nullptr;

    size_t row_stride() const { return row_bytes(type, cols); }
    const uint8_t* row(int64_t r) const { return data + static_cast<size_t>(r) * row_stride(); }
    bool empty() const { return data == nullptr; }
};

}  // namespace llmopt
