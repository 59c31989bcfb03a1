// `llmopt inspect`: a model file's metadata, tensors and parameter count.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>
#include <map>

#include "cli_support.h"
#include "commands.h"
#include "llmopt/format/gguf.h"
#include "llmopt/model/model.h"

namespace llmopt::cli {
namespace {

std::string describe(const GgufValue& v) {
    auto quote = [](const std::string& s) { return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); };
    if (v.type == GgufType::kString) return quote(v.string.size() > 200 ? v.string.substr(0, 200) + "..." : v.string);
    if (!v.is_array()) {
        if (v.type == GgufType::kFloat32 || v.type == GgufType::kFloat64) return std::to_string(v.number);
        return std::to_string(v.integer);
    }
    std::string s = "[" + std::to_string(v.array_size()) + " items: ";
    for (size_t i = 0; i < std::min<size_t>(v.array_size(), 4); ++i)
        s += (i ? ", " : "") + (v.array_type == GgufType::kString ? quote(v.strings[i]) : std::to_string(v.numbers[i]));
    return s + (v.array_size() > 4 ? ", ...]" : "]");
}

}  // namespace

int run_inspect(int argc, char** argv) {
    CLI::App app("Print a model file's metadata, tensor list with types and sizes, and parameter count.", "llmopt inspect");
    std::string path;
    bool json = false;
    app.add_option("model", path, "GGUF file")->required();
    app.add_flag("--json", json, "machine-readable output");
    return guarded(app, argc, argv, [&] {
        const GgufFile f(path);
        int64_t params = 0;
        size_t bytes = 0;
        std::map<std::string, int> type_counts;
        for (const auto& t : f.tensors()) {
            params += t.n_elements();
            bytes += t.nbytes;
            ++type_counts[std::string(dtype_name(t.type))];
        }
        if (json) {
            nlohmann::json j;
            j["version"] = f.version();
            j["n_params"] = params;
            j["tensor_bytes"] = bytes;
            for (const auto& [k, v] : f.metadata()) j["metadata"][k] = describe(v);
            for (const auto& t : f.tensors())
                j["tensors"].push_back({{"name", t.name}, {"type", dtype_name(t.type)}, {"dims", t.dims}, {"bytes", t.nbytes}});
            std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
            return 0;
        }
        std::printf("file: %s\nGGUF version %u, %zu metadata keys, %zu tensors\n\n", path.c_str(), f.version(),
                    f.metadata().size(), f.tensors().size());
        for (const auto& [k, v] : f.metadata()) std::printf("  %-44s %s\n", k.c_str(), describe(v).c_str());
        std::printf("\n  %-36s %-6s %-24s %12s\n", "tensor", "type", "shape", "bytes");
        for (const auto& t : f.tensors()) {
            std::string shape;
            for (size_t i = 0; i < t.dims.size(); ++i) shape += (i ? " x " : "") + std::to_string(t.dims[i]);
            std::printf("  %-36s %-6s %-24s %12zu\n", t.name.c_str(), std::string(dtype_name(t.type)).c_str(), shape.c_str(), t.nbytes);
        }
        std::printf("\nparameters: %lld (%.3f M), tensor data: %.2f MiB, types:", static_cast<long long>(params),
                    params / 1e6, bytes / 1048576.0);
        for (const auto& [name, n] : type_counts) std::printf(" %s x%d", name.c_str(), n);
        std::printf("\n");
        return 0;
    });
}

}  // namespace llmopt::cli
