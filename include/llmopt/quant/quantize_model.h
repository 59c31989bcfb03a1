// Round-to-nearest quantization of a whole GGUF model: every weight matrix to one target type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "llmopt/tensor/dtype.h"

namespace llmopt {

struct QuantizeOptions {
    int32_t threads = 0;  // threads quantizing rows of a tensor; <= 0: the OpenMP default
};

// What happened to one tensor of the input file.
struct TensorQuantization {
    std::string name;
    std::vector<int64_t> dims;  // ggml order: dims[0] is the row length
    DType from = DType::kF32;   // type in the input file
    DType to = DType::kF32;     // type written
    bool fallback = false;      // `to` differs from the target because the row length does not fit it
    size_t bytes_in = 0;
    size_t bytes_out = 0;
};

struct QuantizeReport {
    DType target = DType::kF32;
    uint32_t file_type = 0;  // general.file_type written (llama.cpp's LLAMA_FTYPE id)
    std::vector<TensorQuantization> tensors;  // in file order
    size_t bytes_in = 0;   // tensor data only
    size_t bytes_out = 0;
    double seconds = 0;
};

// Called before each tensor is converted: its index (0-based), the tensor count and its name.
using QuantizeProgress = std::function<void(size_t index, size_t count, const std::string& name)>;

// Reads the GGUF at in_path and writes one at out_path with the same metadata (plus
// general.file_type and general.quantization_version = 2) in which every weight matrix
// (".weight" tensors of 2 or 3 dims, except the MoE router) is converted to `target`, or to a
// fallback type where its row length is not a multiple of the target's block size; every other
// tensor (norms, biases, rope factors, the router) is written as F32. Throws InputError for a
// target that cannot be written and FormatError for an input tensor type that cannot be read.
QuantizeReport quantize_model(const std::string& in_path, const std::string& out_path, DType target,
                              const QuantizeOptions& options = {}, const QuantizeProgress& progress = {});

// True for the types quantize_model can write: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and
// Q2_K .. Q6_K (not the activation-only Q8_1 / Q8_K, nor integer types).
bool is_quantize_target(DType target);

// The type a weight matrix with rows of row_length elements gets when `target` is asked for:
// K-quants (blocks of 256) fall back to a 32-element type of similar size, and any block type
// falls back to F16 when the row is not a multiple of 32 either.
DType weight_type_for(DType target, int64_t row_length);

// llama.cpp's general.file_type id for a file whose weights are `target` (the _S variant for
// K-quants, since no mix is applied). Throws InputError for a type that is not a target.
uint32_t llama_file_type(DType target);

}  // namespace llmopt
