// Regrouping a loaded model's matrices for the matmul kernels.
#include <vector>

#include "llmopt/format/gguf.h"
#include "llmopt/kernels/interleave.h"
#include "llmopt/model/weights.h"
#include "llmopt/util/large_pages.h"

namespace llmopt {
namespace {

constexpr size_t kAlign = 64;
size_t align_up(size_t v) {
    return (v + kAlign - 1) / kAlign * kAlign;
}

// Every matrix the forward pass multiplies by. The output matrix is left out when it is the
// token embedding, whose rows are also read one at a time.
std::vector<WeightMatrix*> matmul_weights(ModelWeights& w) {
    std::vector<WeightMatrix*> out;
    for (LayerWeights& L : w.layers) {
        for (WeightMatrix* m : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down, &L.router})
            out.push_back(m);
        for (auto* experts : {&L.expert_gate, &L.expert_up, &L.expert_down})
            for (WeightMatrix& m : *experts) out.push_back(&m);
    }
    if (w.output.data != w.token_embd.data) out.push_back(&w.output);
    return out;
}

}  // namespace

void regroup_for_matmul(LoadedWeights& lw) {
    std::vector<WeightMatrix*> chosen;
    size_t total = 0;
    for (WeightMatrix* m : matmul_weights(lw.weights)) {
        if (m->empty() || !kernels::interleaving_pays(*m)) continue;
        chosen.push_back(m);
        total += align_up(m->row_stride() * size_t(m->rows));
    }
    if (chosen.empty()) return;
    lw.regrouped = allocate_large_pages(total);
    uint8_t* memory = lw.regrouped.get();
    for (WeightMatrix* m : chosen) {
        const size_t bytes = m->row_stride() * size_t(m->rows);
        const uint8_t* original = m->data;
        *m = kernels::interleave_rows8(*m, memory);
        if (lw.gguf) lw.gguf->release(original, bytes);
        memory += align_up(bytes);
    }
}

}  // namespace llmopt
