// Random-weight models with a real architecture's shape, written as GGUF (for tests,
// benchmarks and planning without downloads).
#pragma once

#include <cstdint>
#include <string>

#include "llmopt/tensor/dtype.h"

namespace llmopt {

struct SynthSpec {
    std::string arch = "llama";  // "llama" or "qwen2"
    int32_t n_layers = 2;
    int32_t dim = 64;
    int32_t ffn_dim = 128;
    int32_t n_heads = 4;
    int32_t n_kv_heads = 2;
    int32_t n_vocab = 512;
    int32_t n_experts = 0;  // > 0: Mixtral-style MoE FFN
    int32_t n_experts_used = 0;
    int32_t n_ctx = 2048;
    float rope_theta = 10000.0f;
    bool tied_output = false;
    bool qkv_bias = false;   // qwen2 always has it
    DType type = DType::kF32;  // type of the 2-D weights (norms stay f32)
    float stddev = 0.02f;
    uint64_t seed = 0;
    std::string vocab_from{};  // a GGUF whose tokenizer.* keys (and vocab size) are copied
};

// The shape of a published model: tinyllama-1.1b, llama-3.2-1b, qwen2.5-0.5b, llama-3.1-8b,
// mixtral-tiny (a small Mixtral-style MoE). Throws InputError listing the names when unknown.
SynthSpec synth_shape(const std::string& name);
const char* synth_shape_names();

// Writes the model; throws InputError for an inconsistent spec.
void write_synthetic_model(const SynthSpec& spec, const std::string& path);

}  // namespace llmopt
