// An independent, plain double-precision forward pass used as the model's reference in tests.
#include "reference_forward.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "llmopt/format/gguf.h"
#include "llmopt/kernels/quant.h"

namespace llmopt::test {
namespace {

using Matrix = std::vector<double>;  // row-major

struct Tensor {
    std::vector<double> v;
    int64_t rows = 1, cols = 0;
};

Tensor load(const GgufFile& f, const std::string& name) {
    const GgufTensorInfo* t = f.find_tensor(name);
    Tensor out;
    if (!t) return out;
    out.cols = t->dims[0];
    out.rows = t->n_elements() / out.cols;
    std::vector<float> row(out.cols);
    const size_t stride = row_bytes(t->type, out.cols);
    for (int64_t r = 0; r < out.rows; ++r) {
        kernels::dequantize_row(t->type, t->data + r * stride, row.data(), out.cols);
        out.v.insert(out.v.end(), row.begin(), row.end());
    }
    return out;
}

// y (n, rows) = x (n, cols) · Wᵀ, for W's slice starting at row `first`.
Matrix mul(const Matrix& x, int64_t n, const Tensor& w, int64_t rows, int64_t first = 0) {
    Matrix y(n * rows);
    for (int64_t t = 0; t < n; ++t)
        for (int64_t r = 0; r < rows; ++r) {
            double s = 0;
            for (int64_t c = 0; c < w.cols; ++c) s += x[t * w.cols + c] * w.v[(first + r) * w.cols + c];
            y[t * rows + r] = s;
        }
    return y;
}

Matrix rms_norm(const Matrix& x, int64_t n, const Tensor& w, double eps) {
    const int64_t d = w.cols;
    Matrix y(x.size());
    for (int64_t t = 0; t < n; ++t) {
        double ss = 0;
        for (int64_t i = 0; i < d; ++i) ss += x[t * d + i] * x[t * d + i];
        const double scale = 1.0 / std::sqrt(ss / d + eps);
        for (int64_t i = 0; i < d; ++i) y[t * d + i] = x[t * d + i] * scale * w.v[i];
    }
    return y;
}

void rope(Matrix& x, int64_t n, int64_t heads, int64_t hd, int64_t rope_dim, double base, bool neox) {
    for (int64_t t = 0; t < n; ++t)
        for (int64_t h = 0; h < heads; ++h)
            for (int64_t i = 0; i < rope_dim / 2; ++i) {
                const double theta = t * std::pow(base, -2.0 * i / rope_dim);
                double* v = &x[(t * heads + h) * hd];
                const int64_t a = neox ? i : 2 * i, b = neox ? i + rope_dim / 2 : 2 * i + 1;
                const double x0 = v[a], x1 = v[b];
                v[a] = x0 * std::cos(theta) - x1 * std::sin(theta);
                v[b] = x0 * std::sin(theta) + x1 * std::cos(theta);
            }
}

double silu(double v) { return v / (1 + std::exp(-v)); }

}  // namespace

std::vector<double> reference_logits(const GgufFile& f, const std::vector<int32_t>& tokens) {
    const std::string arch = *f.get_string("general.architecture");
    const std::string a = arch + ".";
    const int64_t dim = *f.get_int(a + "embedding_length"), L = *f.get_int(a + "block_count");
    const int64_t H = *f.get_int(a + "attention.head_count"), KH = *f.get_int(a + "attention.head_count_kv");
    const int64_t hd = dim / H, rope_dim = f.get_int(a + "rope.dimension_count").value_or(hd);
    const int64_t E = f.get_int(a + "expert_count").value_or(0), K = f.get_int(a + "expert_used_count").value_or(0);
    const double eps = f.get_float(a + "attention.layer_norm_rms_epsilon").value_or(1e-5);
    const double base = f.get_float(a + "rope.freq_base").value_or(10000.0);
    const bool neox = arch == "qwen2";
    const int64_t n = static_cast<int64_t>(tokens.size());

    const Tensor emb = load(f, "token_embd.weight");
    Matrix x;
    for (int32_t tok : tokens) x.insert(x.end(), emb.v.begin() + tok * dim, emb.v.begin() + (tok + 1) * dim);

    for (int64_t l = 0; l < L; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        Matrix xn = rms_norm(x, n, load(f, p + "attn_norm.weight"), eps);
        Matrix q = mul(xn, n, load(f, p + "attn_q.weight"), H * hd);
        Matrix k = mul(xn, n, load(f, p + "attn_k.weight"), KH * hd);
        Matrix v = mul(xn, n, load(f, p + "attn_v.weight"), KH * hd);
        for (auto [m, name, width] : {std::tuple{&q, "attn_q.bias", H * hd}, {&k, "attn_k.bias", KH * hd}, {&v, "attn_v.bias", KH * hd}}) {
            const Tensor bias = load(f, p + name);
            if (!bias.v.empty())
                for (int64_t t = 0; t < n; ++t)
                    for (int64_t i = 0; i < width; ++i) (*m)[t * width + i] += bias.v[i];
        }
        rope(q, n, H, hd, rope_dim, base, neox);
        rope(k, n, KH, hd, rope_dim, base, neox);
        Matrix att(n * H * hd, 0.0);
        for (int64_t t = 0; t < n; ++t)
            for (int64_t h = 0; h < H; ++h) {
                const int64_t kh = h / (H / KH);
                std::vector<double> s(t + 1);
                for (int64_t u = 0; u <= t; ++u) {
                    double d = 0;
                    for (int64_t i = 0; i < hd; ++i) d += q[(t * H + h) * hd + i] * k[(u * KH + kh) * hd + i];
                    s[u] = d / std::sqrt(double(hd));
                }
                const double mx = *std::max_element(s.begin(), s.end());
                double sum = 0;
                for (double& e : s) sum += (e = std::exp(e - mx));
                for (int64_t u = 0; u <= t; ++u)
                    for (int64_t i = 0; i < hd; ++i) att[(t * H + h) * hd + i] += s[u] / sum * v[(u * KH + kh) * hd + i];
            }
        const Matrix o = mul(att, n, load(f, p + "attn_output.weight"), dim);
        for (size_t i = 0; i < x.size(); ++i) x[i] += o[i];

        xn = rms_norm(x, n, load(f, p + "ffn_norm.weight"), eps);
        Matrix ffn_out(n * dim, 0.0);
        auto expert = [&](const Tensor& g, const Tensor& u, const Tensor& d, int64_t e, int64_t t, double weight) {
            const int64_t ff = d.cols;
            Matrix row(xn.begin() + t * dim, xn.begin() + (t + 1) * dim);
            const Matrix gv = mul(row, 1, g, ff, e * ff), uv = mul(row, 1, u, ff, e * ff);
            Matrix hv(ff);
            for (int64_t i = 0; i < ff; ++i) hv[i] = silu(gv[i]) * uv[i];
            const Matrix dv = mul(hv, 1, d, dim, e * dim);
            for (int64_t i = 0; i < dim; ++i) ffn_out[t * dim + i] += weight * dv[i];
        };
        if (E > 0) {
            const Tensor router = load(f, p + "ffn_gate_inp.weight");
            const Tensor g = load(f, p + "ffn_gate_exps.weight"), u = load(f, p + "ffn_up_exps.weight"),
                         d = load(f, p + "ffn_down_exps.weight");
            const Matrix logits = mul(xn, n, router, E);
            for (int64_t t = 0; t < n; ++t) {
                std::vector<int64_t> order(E);
                std::iota(order.begin(), order.end(), 0);
                std::sort(order.begin(), order.end(), [&](int64_t i, int64_t j) { return logits[t * E + i] > logits[t * E + j]; });
                double sum = 0;
                for (int64_t j = 0; j < K; ++j) sum += std::exp(logits[t * E + order[j]] - logits[t * E + order[0]]);
                for (int64_t j = 0; j < K; ++j)
                    expert(g, u, d, order[j], t, std::exp(logits[t * E + order[j]] - logits[t * E + order[0]]) / sum);
            }
        } else {
            const Tensor g = load(f, p + "ffn_gate.weight"), u = load(f, p + "ffn_up.weight"), d = load(f, p + "ffn_down.weight");
            for (int64_t t = 0; t < n; ++t) expert(g, u, d, 0, t, 1.0);
        }
        for (size_t i = 0; i < x.size(); ++i) x[i] += ffn_out[i];
    }
    const Matrix xn = rms_norm(x, n, load(f, "output_norm.weight"), eps);
    const Tensor out = f.find_tensor("output.weight") ? load(f, "output.weight") : emb;
    return mul(xn, n, out, out.rows);
}

}  // namespace llmopt::test
