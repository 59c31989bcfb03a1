// Round-to-nearest quantization of a GGUF model, tensor by tensor, rows in parallel.
#include "llmopt/quant/quantize_model.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <string_view>

#include "llmopt/format/gguf.h"
#include "llmopt/kernels/quant.h"
#include "llmopt/util/error.h"

namespace llmopt {
namespace {

// llama.cpp's quantization format version for the block layouts written here.
constexpr uint32_t kQuantizationVersion = 2;

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Weight matrices are converted; everything else is kept at full precision. The MoE router
// stays F32 as llama.cpp keeps it: it is tiny, and rounding it flips which experts are chosen.
bool is_weight_matrix(const GgufTensorInfo& t) {
    return ends_with(t.name, ".weight") && (t.dims.size() == 2 || t.dims.size() == 3) &&
           !ends_with(t.name, "ffn_gate_inp.weight");
}

// Types whose rows dequantize_row can read.
bool is_readable(DType t) {
    switch (t) {
        case DType::kI8:
        case DType::kI16:
        case DType::kI32: return false;
        default: return true;
    }
}

bool fits(DType type, int64_t row_length) { return row_length % info(type).block_elems == 0; }

// Converts every row of `t` to `to`: dequantize to f32, then quantize_row (rows in parallel).
std::vector<uint8_t> convert_rows(const GgufTensorInfo& t, DType to, int32_t threads) {
    const int64_t cols = t.dims.empty() ? 1 : t.dims[0];
    const int64_t rows = t.n_rows();
    const size_t in_stride = row_bytes(t.type, cols);
    const size_t out_stride = row_bytes(to, cols);
    std::vector<uint8_t> out(out_stride * static_cast<size_t>(rows));
    if (t.type == to) {
        // Same type: copy, so that re-quantizing never rounds a second time.
        std::copy_n(t.data, out.size(), out.data());
        return out;
    }
    const int n_threads = threads > 0 ? threads : omp_get_max_threads();
#pragma omp parallel num_threads(n_threads)
    {
        std::vector<float> row(static_cast<size_t>(cols));  // (cols) one row in f32
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; ++r) {
            kernels::dequantize_row(t.type, t.data + static_cast<size_t>(r) * in_stride, row.data(), cols);
            kernels::quantize_row(to, row.data(), out.data() + static_cast<size_t>(r) * out_stride, cols);
        }
    }
    return out;
}

}  // namespace

bool is_quantize_target(DType target) {
    switch (target) {
        case DType::kF32:
        case DType::kF16:
        case DType::kBF16:
        case DType::kQ4_0:
        case DType::kQ4_1:
        case DType::kQ5_0:
        case DType::kQ5_1:
        case DType::kQ8_0:
        case DType::kQ2_K:
        case DType::kQ3_K:
        case DType::kQ4_K:
        case DType::kQ5_K:
        case DType::kQ6_K: return true;
        default: return false;
    }
}

DType weight_type_for(DType target, int64_t row_length) {
    if (!is_quantize_target(target))
        throw InputError("cannot quantize to " + std::string(dtype_name(target)));
    if (fits(target, row_length)) return target;
    // llama.cpp's table for rows that are not whole 256-blocks, with Q4_0 standing in for the
    // IQ4_NL it uses under Q2_K / Q3_K (this engine has no IQ4_NL).
    DType fallback = DType::kF16;
    switch (target) {
        case DType::kQ2_K:
        case DType::kQ3_K: fallback = DType::kQ4_0; break;
        case DType::kQ4_K: fallback = DType::kQ5_0; break;
        case DType::kQ5_K: fallback = DType::kQ5_1; break;
        case DType::kQ6_K: fallback = DType::kQ8_0; break;
        default: break;
    }
    return fits(fallback, row_length) ? fallback : DType::kF16;
}

uint32_t llama_file_type(DType target) {
    switch (target) {
        case DType::kF32: return 0;
        case DType::kF16: return 1;
        case DType::kQ4_0: return 2;
        case DType::kQ4_1: return 3;
        case DType::kQ8_0: return 7;
        case DType::kQ5_0: return 8;
        case DType::kQ5_1: return 9;
        case DType::kQ2_K: return 10;
        case DType::kQ3_K: return 11;  // Q3_K_S
        case DType::kQ4_K: return 14;  // Q4_K_S
        case DType::kQ5_K: return 16;  // Q5_K_S
        case DType::kQ6_K: return 18;
        case DType::kBF16: return 32;
        default: throw InputError("cannot quantize to " + std::string(dtype_name(target)));
    }
}

QuantizeReport quantize_model(const std::string& in_path, const std::string& out_path, DType target,
                              const QuantizeOptions& options, const QuantizeProgress& progress) {
    const auto t0 = std::chrono::steady_clock::now();
    QuantizeReport report;
    report.target = target;
    report.file_type = llama_file_type(target);  // also rejects targets that cannot be written

    const GgufFile in(in_path);
    // Check every tensor before any work, so a bad input fails fast and names its tensor.
    for (const GgufTensorInfo& t : in.tensors())
        if (!is_readable(t.type))
            throw FormatError(in_path + ": tensor '" + t.name + "' has type " + std::string(dtype_name(t.type)) +
                              ", which cannot be converted");

    GgufWriter out;
    out.copy_metadata(in);
    out.set_u32("general.file_type", report.file_type);
    out.set_u32("general.quantization_version", kQuantizationVersion);

    const size_t count = in.tensors().size();
    for (size_t i = 0; i < count; ++i) {
        const GgufTensorInfo& t = in.tensors()[i];
        if (progress) progress(i, count, t.name);
        TensorQuantization q;
        q.name = t.name;
        q.dims = t.dims;
        q.from = t.type;
        const int64_t row_length = t.dims.empty() ? 1 : t.dims[0];
        if (is_weight_matrix(t)) {
            q.to = weight_type_for(target, row_length);
            q.fallback = q.to != target;
        } else {
            // Norms and biases are read as F32 by the model, and cost nothing to keep exact.
            q.to = DType::kF32;
        }
        const std::vector<uint8_t> bytes = convert_rows(t, q.to, options.threads);
        q.bytes_in = t.nbytes;
        q.bytes_out = bytes.size();
        out.add_tensor(t.name, q.to, t.dims, bytes.data(), bytes.size());
        report.bytes_in += q.bytes_in;
        report.bytes_out += q.bytes_out;
        report.tensors.push_back(std::move(q));
    }
    out.write(out_path);
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return report;
}

}  // namespace llmopt
