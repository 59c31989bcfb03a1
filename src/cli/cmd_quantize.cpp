// `llmopt quantize`: round-to-nearest quantization of a GGUF model to one weight type.
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <optional>
#include <string>

#include "cli_support.h"
#include "commands.h"
#include "llmopt/quant/quantize_model.h"
#include "llmopt/util/error.h"

namespace llmopt::cli {
namespace {

constexpr const char* kTargetList = "f32 f16 bf16 q4_0 q4_1 q5_0 q5_1 q8_0 q2_K q3_K q4_K q5_K q6_K";

// "q4_K", "Q4_K" and llama.cpp's "Q4_K_S" (the same file here: no mix is applied).
std::optional<DType> parse_target(std::string name) {
    if (name.size() > 4 && (name.ends_with("_S") || name.ends_with("_s")) && (name[2] == '_'))
        name.resize(name.size() - 2);
    const auto type = parse_dtype(name);
    if (!type || !is_quantize_target(*type)) return std::nullopt;
    return type;
}

std::string shape_of(const std::vector<int64_t>& dims) {
    std::string s;
    for (size_t i = 0; i < dims.size(); ++i) s += (i ? " x " : "") + std::to_string(dims[i]);
    return s;
}

std::string type_name(DType t) { return std::string(dtype_name(t)); }

void print_text(const QuantizeReport& r) {
    std::printf("%-36s %-20s %-6s    %-6s %12s\n", "tensor", "shape", "from", "to", "bytes");
    for (const TensorQuantization& t : r.tensors)
        std::printf("%-36s %-20s %-6s -> %-6s %12zu%s\n", t.name.c_str(), shape_of(t.dims).c_str(),
                    type_name(t.from).c_str(), type_name(t.to).c_str(), t.bytes_out,
                    t.fallback ? "  (fallback: row length)" : "");
    std::printf("\ntarget %s (general.file_type %u): %.3f MiB -> %.3f MiB (%.1f%%) in %.2f s\n",
                type_name(r.target).c_str(), r.file_type, r.bytes_in / 1048576.0, r.bytes_out / 1048576.0,
                r.bytes_in ? 100.0 * double(r.bytes_out) / double(r.bytes_in) : 0.0, r.seconds);
}

void print_json(const QuantizeReport& r) {
    nlohmann::ordered_json j;
    j["target"] = type_name(r.target);
    j["file_type"] = r.file_type;
    j["bytes_in"] = r.bytes_in;
    j["bytes_out"] = r.bytes_out;
    j["seconds"] = r.seconds;
    j["tensors"] = nlohmann::ordered_json::array();
    for (const TensorQuantization& t : r.tensors)
        j["tensors"].push_back({{"name", t.name},
                                {"dims", t.dims},
                                {"from", type_name(t.from)},
                                {"to", type_name(t.to)},
                                {"fallback", t.fallback},
                                {"bytes_in", t.bytes_in},
                                {"bytes_out", t.bytes_out}});
    std::cout << j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
}

}  // namespace

int run_quantize(int argc, char** argv) {
    CLI::App app(
        "Quantize every weight matrix of a GGUF model to TYPE by round-to-nearest. Norms and biases stay "
        "f32; a matrix whose rows are not whole blocks of TYPE gets a nearby type (K-quants: q4_0/q5_0/q5_1/"
        "q8_0; 32-blocks: f16).",
        "llmopt quantize");
    std::string in_path, out_path, type_name;
    bool json = false;
    QuantizeOptions options;
    app.add_option("input", in_path, "GGUF model to read")->required();
    app.add_option("output", out_path, "GGUF file to write")->required();
    app.add_option("type", type_name, std::string("target type: ") + kTargetList + " (Q4_K_S etc. also accepted)")
        ->required()
        ->check(CLI::Validator(
            [](std::string& s) {
                return parse_target(s) ? std::string() : "unknown type '" + s + "' (one of: " + kTargetList + ")";
            },
            "TYPE"));
    app.add_option("-t,--threads", options.threads, "threads (default: all cores)")->check(CLI::Range(0, 1024));
    app.add_flag("--json", json, "print the report as JSON");
    return guarded(app, argc, argv, [&] {
        const DType target = *parse_target(type_name);
        // Progress redraws one line on a terminal and writes one line per tensor to a log.
        const bool tty = isatty(STDERR_FILENO) != 0;
        auto progress = [&](size_t i, size_t n, const std::string& name) {
            std::fprintf(stderr, tty ? "\r\033[K[%zu/%zu] %s" : "[%zu/%zu] %s\n", i + 1, n, name.c_str());
            std::fflush(stderr);
        };
        const QuantizeReport report = quantize_model(in_path, out_path, target, options, progress);
        if (tty) std::fprintf(stderr, "\r\033[K");
        std::fprintf(stderr, "wrote %s\n", out_path.c_str());
        if (json)
            print_json(report);
        else
            print_text(report);
        return 0;
    });
}

}  // namespace llmopt::cli
