// Binds GGUF tensors to the model's weight views by name, checking every shape.
#include "llmopt/format/gguf.h"
#include "llmopt/model/weights.h"
#include "llmopt/util/error.h"

namespace llmopt {
namespace {

class Binder {
public:
    explicit Binder(const GgufFile& f) : f_(f) {}

    const GgufTensorInfo* find(const std::string& name) const { return f_.find_tensor(name); }

    const GgufTensorInfo& require(const std::string& name) const {
        const GgufTensorInfo* t = find(name);
        if (!t) throw FormatError(f_.name() + ": missing tensor '" + name + "'");
        return *t;
    }

    WeightMatrix matrix(const std::string& name, int64_t rows, int64_t cols) const {
        return matrix_of(require(name), rows, cols);
    }

    WeightMatrix matrix_of(const GgufTensorInfo& t, int64_t rows, int64_t cols) const {
        if (t.dims.size() != 2 || t.dims[0] != cols || t.dims[1] != rows)
            throw FormatError(f_.name() + ": tensor '" + t.name + "' has shape " + shape(t) +
                              ", expected [" + std::to_string(cols) + ", " + std::to_string(rows) + "]");
        return {t.type, rows, cols, t.data};
    }

    const float* vector(const std::string& name, int64_t n, bool required = true) const {
        const GgufTensorInfo* t = find(name);
        if (!t) {
            if (required) throw FormatError(f_.name() + ": missing tensor '" + name + "'");
            return nullptr;
        }
        if (t->type != DType::kF32 || t->n_elements() != n)
            throw FormatError(f_.name() + ": tensor '" + name + "' must be f32 of " + std::to_string(n) +
                              " elements, is " + std::string(dtype_name(t->type)) + " " + shape(*t));
        if (reinterpret_cast<uintptr_t>(t->data) % alignof(float) != 0)
            throw FormatError(f_.name() + ": tensor '" + name + "' is misaligned");
        return reinterpret_cast<const float*>(t->data);
    }

    // Slices a merged expert tensor [cols, rows, n_experts] into one matrix per expert.
    std::vector<WeightMatrix> experts(const std::string& name, int64_t n, int64_t rows, int64_t cols) const {
        const GgufTensorInfo& t = require(name);
        if (t.dims.size() != 3 || t.dims[0] != cols || t.dims[1] != rows || t.dims[2] != n)
            throw FormatError(f_.name() + ": tensor '" + name + "' has shape " + shape(t) + ", expected [" +
                              std::to_string(cols) + ", " + std::to_string(rows) + ", " + std::to_string(n) + "]");
        std::vector<WeightMatrix> out;
        const size_t bytes_per_expert = row_bytes(t.type, cols) * static_cast<size_t>(rows);
        for (int64_t e = 0; e < n; ++e) out.push_back({t.type, rows, cols, t.data + e * bytes_per_expert});
        return out;
    }

private:
    static std::string shape(const GgufTensorInfo& t) {
        std::string s = "[";
        for (size_t i = 0; i < t.dims.size(); ++i) s += (i ? ", " : "") + std::to_string(t.dims[i]);
        return s + "]";
    }
    const GgufFile& f_;
};

}  // namespace

LoadedWeights load_gguf_weights(std::shared_ptr<const GgufFile> file) {
    LoadedWeights lw;
    lw.config = read_config(*file);
    lw.gguf = file;
    const ModelConfig& c = lw.config;
    const Binder b(*file);
    ModelWeights& w = lw.weights;
    w.token_embd = b.matrix("token_embd.weight", c.n_vocab, c.dim);
    w.output_norm = b.vector("output_norm.weight", c.dim);
    w.output = b.find("output.weight") ? b.matrix("output.weight", c.n_vocab, c.dim) : w.token_embd;
    w.rope_freq_factors = b.vector("rope_freqs.weight", c.rope_dim / 2, false);
    for (int32_t l = 0; l < c.n_layers; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        LayerWeights L;
        L.attn_norm = b.vector(p + "attn_norm.weight", c.dim);
        L.wq = b.matrix(p + "attn_q.weight", c.q_dim(), c.dim);
        L.wk = b.matrix(p + "attn_k.weight", c.kv_dim(), c.dim);
        L.wv = b.matrix(p + "attn_v.weight", c.kv_dim(), c.dim);
        L.wo = b.matrix(p + "attn_output.weight", c.dim, c.q_dim());
        L.bq = b.vector(p + "attn_q.bias", c.q_dim(), false);
        L.bk = b.vector(p + "attn_k.bias", c.kv_dim(), false);
        L.bv = b.vector(p + "attn_v.bias", c.kv_dim(), false);
        L.ffn_norm = b.vector(p + "ffn_norm.weight", c.dim);
        if (c.n_experts > 0) {
            L.router = b.matrix(p + "ffn_gate_inp.weight", c.n_experts, c.dim);
            L.expert_gate = b.experts(p + "ffn_gate_exps.weight", c.n_experts, c.ffn_dim, c.dim);
            L.expert_up = b.experts(p + "ffn_up_exps.weight", c.n_experts, c.ffn_dim, c.dim);
            L.expert_down = b.experts(p + "ffn_down_exps.weight", c.n_experts, c.dim, c.ffn_dim);
        } else {
            L.w_gate = b.matrix(p + "ffn_gate.weight", c.ffn_dim, c.dim);
            L.w_up = b.matrix(p + "ffn_up.weight", c.ffn_dim, c.dim);
            L.w_down = b.matrix(p + "ffn_down.weight", c.dim, c.ffn_dim);
        }
        w.layers.push_back(std::move(L));
    }
    return lw;
}

}  // namespace llmopt
