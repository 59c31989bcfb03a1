// Views of a model's weight matrices, used in place from the mapped file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "llmopt/model/config.h"
#include "llmopt/tensor/weight_matrix.h"

namespace llmopt {

class GgufFile;
class MappedFile;

struct LayerWeights {
    const float* attn_norm = nullptr;  // (dim)
    WeightMatrix wq, wk, wv, wo;       // (q_dim, dim) (kv_dim, dim) (kv_dim, dim) (dim, q_dim)
    const float* bq = nullptr;         // qwen2 biases: (q_dim) (kv_dim) (kv_dim); null if absent
    const float* bk = nullptr;
    const float* bv = nullptr;
    const float* ffn_norm = nullptr;   // (dim)
    WeightMatrix w_gate, w_up, w_down;  // dense: (ffn, dim) (ffn, dim) (dim, ffn)
    WeightMatrix router;                // MoE: (n_experts, dim)
    std::vector<WeightMatrix> expert_gate, expert_up, expert_down;  // MoE, one per expert
};

struct ModelWeights {
    WeightMatrix token_embd;  // (n_vocab, dim)
    std::vector<LayerWeights> layers;
    const float* output_norm = nullptr;  // (dim)
    WeightMatrix output;                 // (n_vocab, dim); token_embd when tied
    const float* rope_freq_factors = nullptr;  // (rope_dim / 2) or null
};

// A model's configuration and weights plus whatever owns their memory.
struct LoadedWeights {
    ModelConfig config;
    ModelWeights weights;
    std::shared_ptr<const GgufFile> gguf;      // GGUF models
    std::shared_ptr<const MappedFile> mapped;  // llama2.c models
    std::shared_ptr<uint8_t> regrouped;        // matrices regrouped for the matmul, if any
};

// Binds the GGUF's tensors by name, checking every shape; throws FormatError naming the tensor.
LoadedWeights load_gguf_weights(std::shared_ptr<const GgufFile> file);
// Moves every matrix the matmul reads faster regrouped (kernels/interleave.h) into memory of
// its own in that layout, and gives the file's pages of those tensors back. The results of the
// forward pass do not change.
void regroup_for_matmul(LoadedWeights& lw);
// llama2.c legacy checkpoint (float32): header of 7 int32, then the tensors in a fixed order.
LoadedWeights load_llama2c_weights(const std::string& path);

}  // namespace llmopt
