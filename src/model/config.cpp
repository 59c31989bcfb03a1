// Reads and checks model hyper-parameters from GGUF keys.
#include "llmopt/model/config.h"

#include "llmopt/format/gguf.h"
#include "llmopt/util/error.h"

namespace llmopt {
namespace {

int32_t require_int(const GgufFile& f, const std::string& key) {
    auto v = f.get_int(key);
    if (!v) throw FormatError(f.name() + ": missing key '" + key + "'");
    if (*v < 0 || *v > (1 << 30)) throw FormatError(f.name() + ": key '" + key + "' out of range");
    return static_cast<int32_t>(*v);
}

int32_t optional_int(const GgufFile& f, const std::string& key, int32_t fallback) {
    return f.find(key) ? require_int(f, key) : fallback;
}

}  // namespace

void ModelConfig::validate() const {
    auto fail = [](const std::string& what) { throw FormatError("invalid model: " + what); };
    if (dim <= 0 || n_layers <= 0 || n_heads <= 0 || n_vocab <= 0 || ffn_dim <= 0)
        fail("dimensions must be positive");
    if (n_kv_heads <= 0 || n_heads % n_kv_heads != 0)
        fail("head_count " + std::to_string(n_heads) + " is not a multiple of head_count_kv " +
             std::to_string(n_kv_heads));
    if (head_dim <= 0 || head_dim % 2 != 0) fail("head dimension must be even");
    if (rope_dim <= 0 || rope_dim > head_dim || rope_dim % 2 != 0)
        fail("rope dimension " + std::to_string(rope_dim) + " must be even and <= head dimension");
    if (n_experts < 0 || n_experts_used < 0 || n_experts_used > n_experts)
        fail("expert_used_count exceeds expert_count");
    if (n_experts > 0 && n_experts_used == 0) fail("expert_used_count is 0");
    if (!(rms_eps > 0) || !(rope_theta > 0) || !(rope_freq_scale > 0)) fail("eps and rope base must be positive");
}

ModelConfig read_config(const GgufFile& f) {
    ModelConfig c;
    const auto arch = f.get_string("general.architecture");
    if (!arch) throw FormatError(f.name() + ": missing key 'general.architecture'");
    c.arch_name = *arch;
    if (*arch == "llama") {
        c.arch = Architecture::kLlama;
        c.rope_style = RopeStyle::kNormal;
    } else if (*arch == "qwen2") {
        c.arch = Architecture::kQwen2;
        c.rope_style = RopeStyle::kNeox;
    } else {
        throw FormatError(f.name() + ": unsupported architecture '" + *arch +
                          "' (supported: llama, qwen2)");
    }
    const std::string p = *arch + ".";
    c.dim = require_int(f, p + "embedding_length");
    c.n_layers = require_int(f, p + "block_count");
    c.n_heads = require_int(f, p + "attention.head_count");
    c.n_kv_heads = optional_int(f, p + "attention.head_count_kv", c.n_heads);
    c.ffn_dim = require_int(f, p + "feed_forward_length");
    c.n_ctx_train = require_int(f, p + "context_length");
    c.head_dim = optional_int(f, p + "attention.key_length", c.n_heads ? c.dim / c.n_heads : 0);
    c.rope_dim = optional_int(f, p + "rope.dimension_count", c.head_dim);
    c.n_experts = optional_int(f, p + "expert_count", 0);
    c.n_experts_used = optional_int(f, p + "expert_used_count", 0);
    c.rms_eps = static_cast<float>(f.get_float(p + "attention.layer_norm_rms_epsilon").value_or(1e-5));
    c.rope_theta = static_cast<float>(f.get_float(p + "rope.freq_base").value_or(10000.0));
    const std::string scaling = f.get_string(p + "rope.scaling.type").value_or("none");
    if (scaling == "linear") {
        c.rope_freq_scale = 1.0f / static_cast<float>(f.get_float(p + "rope.scaling.factor").value_or(1.0));
    } else if (auto scale = f.get_float(p + "rope.scale_linear")) {
        c.rope_freq_scale = 1.0f / static_cast<float>(*scale);
    } else if (scaling != "none") {
        throw FormatError(f.name() + ": RoPE scaling '" + scaling + "' is not supported");
    }
    if (const auto* tokens = f.get_strings("tokenizer.ggml.tokens")) c.n_vocab = static_cast<int32_t>(tokens->size());
    c.n_vocab = optional_int(f, p + "vocab_size", c.n_vocab);
    if (const GgufTensorInfo* emb = f.find_tensor("token_embd.weight"); emb && emb->dims.size() == 2)
        c.n_vocab = static_cast<int32_t>(emb->dims[1]);
    c.validate();
    return c;
}

}  // namespace llmopt
