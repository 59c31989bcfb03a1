// Regrouping a loaded model's matrices for the matmul kernels.
#include <sys/mman.h>

#include <new>
#include <vector>

#include "llmopt/format/gguf.h"
#include "llmopt/kernels/interleave.h"
#include "llmopt/model/weights.h"

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

// Anonymous memory in 2 MB pages where the kernel grants them: a fresh allocation of gigabytes
// takes a fault per page (4 KB pages: F16 tinyllama regrouped in 1.6 s), and decode streams it
// with fewer TLB misses.
std::shared_ptr<uint8_t> allocate_large(size_t bytes) {
    constexpr size_t kHuge = size_t(2) << 20;
    const size_t size = (bytes + kHuge - 1) / kHuge * kHuge;
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    ::madvise(p, size, MADV_HUGEPAGE);
    return {static_cast<uint8_t*>(p), [size](uint8_t* q) { ::munmap(q, size); }};
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
    lw.regrouped = allocate_large(total);
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
