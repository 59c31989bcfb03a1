// Shared front-end plumbing: error reporting, flag parsing with CLI11, common model flags.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <string>

#include "llmopt/engine/sampler.h"
#include "llmopt/model/config.h"
#include "llmopt/tensor/dtype.h"

namespace llmopt::cli {

// Runs `body`, turning library errors into one line on stderr and exit code 1, and CLI11
// parse errors into its message and exit code 2 (0 for --help).
int guarded(CLI::App& app, int argc, char** argv, const std::function<int()>& body);

struct ModelFlags {
    std::string model;
    std::string tokenizer;
    int32_t threads = 0;
    int32_t n_ctx = 0;  // 0: the model's training context, at most 4096
};
void add_model_flags(CLI::App& app, ModelFlags& flags);
// The context a command runs with: -c when given, else the model's training context, at most 4096.
int32_t context_size(const ModelFlags& flags, const ModelConfig& config);
void add_sampling_flags(CLI::App& app, SamplingParams& params);

// The KV cache element type a --kv-type flag names: f32, f16 or q8_0; throws InputError.
DType parse_kv_type(const std::string& name);

// Reads a whole file (or "-" for stdin); throws InputError naming the path.
std::string read_text(const std::string& path);

}  // namespace llmopt::cli
