// Hyper-parameters of a decoder model, read from the file's keys (never hard-coded).
#pragma once

#include <cstdint>
#include <string>

namespace llmopt {

class GgufFile;

enum class Architecture { kLlama, kQwen2 };

// kNormal rotates adjacent pairs (2i, 2i+1) (llama.cpp's layout after its Q/K permutation);
// kNeox rotates (i, i + rope_dim/2) (Qwen2 and other Hugging Face-layout models).
enum class RopeStyle { kNormal, kNeox };

struct ModelConfig {
    Architecture arch = Architecture::kLlama;
    std::string arch_name = "llama";
    int32_t n_vocab = 0;
    int32_t dim = 0;         // embedding width
    int32_t n_layers = 0;
    int32_t n_heads = 0;
    int32_t n_kv_heads = 0;  // < n_heads: GQA; 1: MQA
    int32_t head_dim = 0;
    int32_t ffn_dim = 0;     // per expert for MoE
    int32_t n_experts = 0;   // 0: dense FFN
    int32_t n_experts_used = 0;
    int32_t n_ctx_train = 0;
    float rms_eps = 1e-5f;
    float rope_theta = 10000.0f;
    int32_t rope_dim = 0;         // leading dims of each head that RoPE rotates
    float rope_freq_scale = 1.0f;  // linear scaling: positions are multiplied by this
    RopeStyle rope_style = RopeStyle::kNormal;

    int32_t q_dim() const { return n_heads * head_dim; }
    int32_t kv_dim() const { return n_kv_heads * head_dim; }
    // Throws FormatError naming the first inconsistent value.
    void validate() const;
};

// Reads `<arch>.*` keys; throws FormatError for an unsupported architecture or missing key.
ModelConfig read_config(const GgufFile& file);

}  // namespace llmopt
