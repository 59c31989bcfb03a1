// Matrix products: activations prepared once per call, rows split among threads, kernel per type.
#include "llmopt/kernels/matmul.h"

#include <algorithm>

#include "gemm_kernels.h"
#include "llmopt/kernels/interleave.h"
#include "llmopt/kernels/quant.h"
#include "llmopt/util/thread_pool.h"
#include "row_shares.h"

namespace llmopt::kernels {
namespace {

// Types without a SIMD kernel (and CPUs without AVX2): one vec_dot per output, whose order
// depends only on w.cols. Rows are the outer loop so a weight row stays in L1 while it meets
// every activation row.
void rows_vec_dot(const WeightMatrix& w, const gemm::Activations& a, int64_t r_begin, int64_t r_end,
                  float* y, void*) {
    for (int64_t r = r_begin; r < r_end; ++r) {
        const uint8_t* wr = w.row(r);
        for (int64_t t = 0; t < a.n; ++t)
            y[t * w.rows + r] =
                vec_dot(w.type, w.cols, wr,
                        a.rows ? a.row(t) : reinterpret_cast<const uint8_t*>(a.x_row(t)));
    }
}

gemm::Kernel kernel_for(const WeightMatrix& w) {
    // Only interleave_rows8 makes the other layout, and only where these kernels (and the
    // float kernels below, which read both layouts) run.
    if (w.layout == WeightLayout::kRowGroups8) {
        const gemm::avx2::RowGroups8Kernels& k = gemm::avx2::rowgroups8_kernels();
        switch (w.type) {
            case DType::kQ4_0:
                return {k.q4_0, true, nullptr};
            case DType::kQ8_0:
                return {k.q8_0, true, nullptr};
            case DType::kQ4_K:
                return {k.q4_k, false, nullptr};
            case DType::kQ6_K:
                return {k.q6_k, false, nullptr};
            default:
                break;  // F16 / BF16: the float kernels read both layouts
        }
    }
    if (cpu_has_avx2()) {
        switch (w.type) {
            case DType::kQ4_0:
                return {gemm::avx2::rows_q4_0, true, nullptr};
            case DType::kQ8_0:
                return {gemm::avx2::rows_q8_0, true, nullptr};
            case DType::kQ4_K:
                return {gemm::avx2::rows_q4_k, false, nullptr};
            case DType::kQ5_K:
                return {gemm::avx2::rows_q5_k, false, nullptr};
            case DType::kQ6_K:
                return {gemm::avx2::rows_q6_k, false, nullptr};
            case DType::kF32:
                return {gemm::avx2::float_kernels().f32, false, gemm::avx2::float_workspace_bytes};
            case DType::kF16:
                return {gemm::avx2::float_kernels().f16, false, gemm::avx2::float_workspace_bytes};
            case DType::kBF16:
                return {gemm::avx2::float_kernels().bf16, false, gemm::avx2::float_workspace_bytes};
            default:
                break;
        }
    }
    return {rows_vec_dot, false, nullptr};
}

using QuantizeFn = void (*)(DType act, const float* x, void* y, int64_t n);

void quantize_simd(DType act, const float* x, void* y, int64_t n) {
    if (act == DType::kQ8_0) return gemm::avx2::quantize_q8_0_activation(x, y, n);
    if (act == DType::kQ8_K) return gemm::avx2::quantize_q8_k_activation(x, y, n);
    quantize_activation(act, x, y, n);
}

QuantizeFn quantizer_for(DType act) {
    return cpu_has_avx2() && (act == DType::kQ8_0 || act == DType::kQ8_K) ? quantize_simd
                                                                          : quantize_activation;
}

int64_t ceil_div(int64_t a, int64_t b) {
    return (a + b - 1) / b;
}

constexpr size_t kAlign = 64;
size_t align_up(size_t v) {
    return (v + kAlign - 1) / kAlign * kAlign;
}

// Output rows are handed out in multiples of this, so every thread's range starts on a tile
// boundary of every kernel (the kernels would be correct anyway; this keeps tiles full).
constexpr int64_t kRowGrain = 8;

// Rows rounded up to whole grains.
int64_t whole_grains(int64_t rows) {
    return ceil_div(rows, kRowGrain) * kRowGrain;
}

// Chunks a thread's share is claimed in: small enough that the last chunks left when the
// first thread is done are short, large enough that each claim's lock and kernel call cost
// nothing against the rows it computes.
constexpr int64_t kChunksPerThread = 16;

// Where the prepared activations live in scratch, and how they are laid out.
struct Layout {
    bool copy_x = false;     // f32 activations copied to aligned rows
    int64_t x_stride = 0;    // floats between rows of the copy (or of x)
    size_t act_stride = 0;   // bytes between prepared rows
    size_t rows_bytes = 0;   // prepared rows
    size_t table_bytes = 0;  // each of the two group tables
    size_t area_bytes = 0;   // one copy of everything the kernels read
};

Layout layout_for(const gemm::Kernel& kernel, DType act, int64_t n, int64_t cols) {
    Layout l;
    const bool float_act = act == DType::kF32;
    // A batch of f32 activations is copied to rows starting on 64-byte boundaries; one row is
    // read in place (its copy would cost as much as the loads it saves).
    l.copy_x = float_act && n > 1;
    l.x_stride = l.copy_x ? (cols + 15) / 16 * 16 : cols;
    l.act_stride = float_act ? (l.copy_x ? sizeof(float) * l.x_stride : 0) : row_bytes(act, cols);
    l.rows_bytes = align_up(l.act_stride * n);
    l.table_bytes =
        kernel.group_tables ? align_up(sizeof(float) * ((n + 3) / 4) * (cols / 32) * 4) : 0;
    l.area_bytes = l.rows_bytes + 2 * l.table_bytes;
    return l;
}

// Prepares activation rows [t_begin, t_end) (whole groups of 4 when the kernel wants group
// tables) into `area` and returns the kernels' view of all n rows there.
gemm::Activations prepare(const gemm::Kernel& kernel, DType act, QuantizeFn quantize,
                          const Layout& l, const float* x, int64_t n, int64_t cols, uint8_t* area,
                          int64_t t_begin, int64_t t_end) {
    gemm::Activations a;
    a.n = n;
    a.x = l.copy_x ? reinterpret_cast<const float*>(area) : x;
    a.x_stride = l.x_stride;
    if (act != DType::kF32) {
        a.rows = area;
        a.row_stride = l.act_stride;
    }
    auto* scales = reinterpret_cast<float*>(area + l.rows_bytes);
    auto* offsets = reinterpret_cast<int32_t*>(area + l.rows_bytes + l.table_bytes);
    if (kernel.group_tables) {
        a.group_scales = scales;
        a.group_offsets = offsets;
    }
    for (int64_t t = t_begin; t < t_end; ++t) {
        if (act != DType::kF32)
            quantize(act, x + t * cols, area + t * l.act_stride, cols);
        else if (l.copy_x)
            std::copy_n(x + t * cols, cols, reinterpret_cast<float*>(area + t * l.act_stride));
    }
    if (kernel.group_tables) {
        const int64_t blocks = cols / 32;
        for (int64_t first = t_begin; first < t_end; first += 4)
            gemm::fill_group_tables(a.row(first), l.act_stride, std::min<int64_t>(4, n - first),
                                    cols, scales + first / 4 * blocks * 4,
                                    offsets + first / 4 * blocks * 4);
    }
    return a;
}

}  // namespace

void matmul(const WeightMatrix& w, const float* x, int64_t n, float* y,
            std::vector<uint8_t>& scratch) {
    const MatmulOutput out{&w, y};
    matmul(std::span(&out, 1), x, n, scratch);
}

void matmul(std::span<const MatmulOutput> outputs, const float* x, int64_t n,
            std::vector<uint8_t>& scratch) {
    if (n <= 0 || outputs.empty()) return;
    const WeightMatrix& first = *outputs[0].w;
    const gemm::Kernel kernel = kernel_for(first);
    // One pass needs one kernel and one prepared activation for all: otherwise one at a time.
    const bool shared = std::all_of(outputs.begin(), outputs.end(), [&](const MatmulOutput& o) {
        return o.w->type == first.type && o.w->cols == first.cols &&
               kernel_for(*o.w).fn == kernel.fn;
    });
    if (!shared) {
        for (const MatmulOutput& o : outputs) matmul(std::span(&o, 1), x, n, scratch);
        return;
    }
    const DType act = activation_type(first.type);
    const QuantizeFn quantize = quantizer_for(act);
    const int64_t cols = first.cols;
    int64_t rows = 0;
    for (const MatmulOutput& o : outputs) rows += o.w->rows;
    // Below this many multiply-adds, waking the other threads costs more than it saves: a
    // sleeping worker takes tens of microseconds to wake, and longer when a server's HTTP
    // threads share the cores (stories260K's 512 x 64 output layer for 16 sequences now stays
    // on one thread: with attention's threshold raised too, its server went from 15.9k to
    // 20.2k generated tokens/s, docs/PERFORMANCE.md).
    constexpr int64_t kMinParallelWork = 1 << 20;
    ThreadPool& pool = ThreadPool::global();
    const int32_t threads =
        rows * cols * n >= kMinParallelWork ? std::min(pool.size(), RowShares::kMaxThreads) : 1;
    // One activation row (decode) is prepared by every thread for itself: a few microseconds
    // of duplicated work instead of a barrier, which costs a whole time slice whenever the
    // cores are shared and a thread is descheduled.
    const bool private_rows = n == 1;

    // scratch: the prepared activations (one copy per thread when private) | one workspace
    // per thread
    const Layout l = layout_for(kernel, act, n, cols);
    const size_t area_bytes = align_up(l.area_bytes);
    const size_t work_bytes = kernel.workspace_bytes ? align_up(kernel.workspace_bytes(cols)) : 0;
    const size_t total = area_bytes * (private_rows ? threads : 1) + work_bytes * threads + kAlign;
    if (scratch.size() < total) scratch.resize(total);
    uint8_t* base =
        reinterpret_cast<uint8_t*>(align_up(reinterpret_cast<uintptr_t>(scratch.data())));
    uint8_t* workspaces = base + area_bytes * (private_rows ? threads : 1);

    // The outputs' rows, each output padded to whole grains, numbered across the outputs in
    // order: every share and chunk then starts on a grain of its output.
    int64_t padded_rows = 0;
    for (const MatmulOutput& o : outputs) padded_rows += whole_grains(o.w->rows);
    // One thread takes its share whole: nobody is left to balance against.
    const int64_t chunk_grains = padded_rows / kRowGrain / (int64_t(threads) * kChunksPerThread);
    const int64_t chunk =
        threads == 1 ? padded_rows : std::max<int64_t>(1, chunk_grains) * kRowGrain;
    RowShares shares(padded_rows, threads, chunk, kRowGrain);
    pool.run(threads, [&](int32_t id, int32_t nt) {
        gemm::Activations a;
        if (private_rows) {
            a = prepare(kernel, act, quantize, l, x, n, cols, base + area_bytes * id, 0, n);
        } else {
            // Groups of 4 rows are handed out whole, so each group's table is filled by the
            // thread that quantized its rows.
            const int64_t groups = (n + 3) / 4;
            const int64_t g_begin = groups * id / nt, g_end = groups * (id + 1) / nt;
            a = prepare(kernel, act, quantize, l, x, n, cols, base, std::min(n, 4 * g_begin),
                        std::min(n, 4 * g_end));
            pool.barrier(nt);
        }
        for (int64_t begin, end; shares.claim(id, begin, end);) {
            int64_t output_start = 0;  // of outputs[o] in the padded numbering
            for (const MatmulOutput& o : outputs) {
                const int64_t lo = std::max(begin, output_start) - output_start;
                const int64_t hi = std::min(end - output_start, o.w->rows);
                if (lo < hi) kernel.fn(*o.w, a, lo, hi, o.y, workspaces + work_bytes * id);
                output_start += whole_grains(o.w->rows);
            }
        }
    });
}

void matmul_reference(const WeightMatrix& w, const float* x, int64_t n, float* y) {
    const DType act = activation_type(w.type);
    const size_t act_stride = row_bytes(act, w.cols);
    std::vector<uint8_t> a(act_stride), row(w.row_stride());
    for (int64_t t = 0; t < n; ++t) {
        quantize_activation(act, x + t * w.cols, a.data(), w.cols);
        for (int64_t r = 0; r < w.rows; ++r) {
            copy_row(w, r, row.data());
            y[t * w.rows + r] = vec_dot_reference(w.type, w.cols, row.data(), a.data());
        }
    }
}

const char* int8_dot_instructions() {
    // Matrices are regrouped only on AVX2 CPUs (interleaving_pays).
    return cpu_has_avx2() ? gemm::avx2::rowgroups8_kernels().name : "scalar";
}

const char* float_tile_width() {
    return cpu_has_avx2() ? gemm::avx2::float_kernels().name : "scalar";
}

void dequantize_matrix_row(const WeightMatrix& w, int64_t r, float* out) {
    if (w.layout == WeightLayout::kRows) return dequantize_row(w.type, w.row(r), out, w.cols);
    std::vector<uint8_t> row(w.row_stride());
    copy_row(w, r, row.data());
    dequantize_row(w.type, row.data(), out, w.cols);
}

}  // namespace llmopt::kernels
