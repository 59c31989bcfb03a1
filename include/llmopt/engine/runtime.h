// A model with its tokenizer, loaded from the paths a user gives.
#pragma once

#include <memory>
#include <string>

#include "llmopt/model/model.h"
#include "llmopt/tokenizer/tokenizer.h"

namespace llmopt {

struct Runtime {
    std::unique_ptr<Model> model;
    std::unique_ptr<Tokenizer> tokenizer;
};

// tokenizer_path empty: the GGUF's own vocabulary (required for llama2.c checkpoints).
Runtime load_runtime(const std::string& model_path, const std::string& tokenizer_path = "");

// Sets the number of threads the kernels use (<= 0: all cores).
void set_threads(int32_t n);

}  // namespace llmopt
