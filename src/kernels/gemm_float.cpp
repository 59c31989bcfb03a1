// Matmul kernels for F32, F16 and BF16 weights with f32 activations: tiles of FMAs, on 256-bit
// (AVX2) or 512-bit (AVX-512) registers with the same results.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "gemm_kernels.h"
#include "quant_avx2.h"
#include "quant_blocks.h"

// 512-bit code uses the maskz forms of intrinsics with every lane set where GCC 12's plain
// forms warn of their undefined pass-through operand; they compile to the same instructions.
#define LLMOPT_AVX512 __attribute__((target("avx2,fma,f16c,avx512f,avx512dq")))

// Every output is computed the same way, whatever tile it falls in: lane l of one 8-lane
// accumulator takes the FMAs of elements l, l + 8, l + 16, ... of the first cols - cols % 8
// elements in order, the lanes are summed by the fixed tree of hsum, and the remaining
// elements are added by scalar FMAs. Products are exact inside the FMA, so the only roundings
// are the additions of each lane's chain.

namespace llmopt::kernels::gemm::avx2 {
namespace {

using namespace ::llmopt::kernels::avx2;

// Sources of 8 consecutive weights as f32 (p points at a row's first element), and for the
// 512-bit tiles 16 as f32 (two rows' 8 where the rows are regrouped).
struct F32Source {
    using Elem = float;
    LLMOPT_AVX2 static __m256 load8(const Elem* p, int64_t k) { return _mm256_loadu_ps(p + k); }
    LLMOPT_AVX512 static __m512 load16(const Elem* p) { return _mm512_loadu_ps(p); }
    static float load1(const Elem* p, int64_t k) { return p[k]; }
};
struct F16Source {
    using Elem = uint16_t;
    LLMOPT_AVX2 static __m256 load8(const Elem* p, int64_t k) {
        return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + k)));
    }
    LLMOPT_AVX512 static __m512 load16(const Elem* p) {
        return _mm512_maskz_cvtph_ps(0xFFFF,
                                     _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    }
    static float load1(const Elem* p, int64_t k) { return fp16_to_fp32(p[k]); }
};
struct BF16Source {
    using Elem = uint16_t;
    LLMOPT_AVX2 static __m256 load8(const Elem* p, int64_t k) {
        const __m256i wide =
            _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + k)));
        return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));  // bf16 is the top half of an f32
    }
    LLMOPT_AVX512 static __m512 load16(const Elem* p) {
        const __m512i wide = _mm512_maskz_cvtepu16_epi32(
            0xFFFF, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
        return _mm512_castsi512_ps(_mm512_maskz_slli_epi32(0xFFFF, wide, 16));
    }
    static float load1(const Elem* p, int64_t k) { return bf16_to_fp32(p[k]); }
};

// Where the weight rows start, with what that takes from the matrix looked up once per call
// (row_stride() looks the type up: per 8-row group it was a tenth of a small model's decode).
// In the kRowGroups8 layout a row's pointer is its first element in its group, and element k
// lies k * 8 elements further for k a multiple of 8 (see half_chunk_offset): kStep says which.
template <typename Src>
struct RowStarts {
    const uint8_t* data;
    size_t stride;
    int64_t rows;
    bool grouped;

    explicit RowStarts(const WeightMatrix& w)
        : data(w.data),
          stride(w.row_stride()),
          rows(w.rows),
          grouped(w.layout == WeightLayout::kRowGroups8) {}

    // Rows [r, r + kRows); rows past the end repeat the last one (their outputs are dropped).
    template <int kRows>
    LLMOPT_AVX2 void get(int64_t r, const typename Src::Elem** p) const {
        for (int i = 0; i < kRows; ++i) {
            const int64_t row = std::min(r + i, rows - 1);
            p[i] = reinterpret_cast<const typename Src::Elem*>(
                grouped ? data + row / kGroupRows * kGroupRows * stride +
                              half_chunk_offset(0, static_cast<int>(row % kGroupRows))
                        : data + row * stride);
        }
    }
};

// How far ahead a regrouped tile requests its stream: 8 KB of halves (decode F16: 9.2 -> 11.3
// t/s against the row-major tile; 2 KB ahead gave 10.5, 16 KB the same as 8).
constexpr int64_t kPrefetchElems = 4096;

// acc[i][c] += the FMAs of elements [k0, k1) of weight row w[i] and activation row x[c]
// (k0, k1 multiples of 8), in element order.
// Where `request` is set, the line at request + 16 (k - k0) is requested into L2 with step k
// (see ColumnSpan). kWritesPanel: each weight row's elements are also written, as f32, to
// panel_rows[i] + k.
template <typename Src, int kRows, int kCols, int kStep, bool kWritesPanel = false>
LLMOPT_AVX2 inline void accumulate(const typename Src::Elem* const* w, const float* const* x,
                                   int64_t k0, int64_t k1, const uint8_t* request,
                                   __m256 (&acc)[kRows][kCols],
                                   float* const* panel_rows = nullptr) {
    for (int64_t k = k0; k < k1; k += 8) {
        // A regrouped tile reads one stream; requesting it ahead keeps more of it in flight.
        if constexpr (kStep > 1) prefetch_span(w[0] + k * kStep + kPrefetchElems, 128);
        if (request) prefetch_span<_MM_HINT_T1>(request + 16 * (k - k0), 64);
        __m256 xv[kCols];
#pragma GCC unroll 4
        for (int c = 0; c < kCols; ++c) xv[c] = _mm256_loadu_ps(x[c] + k);
#pragma GCC unroll 8
        for (int i = 0; i < kRows; ++i) {
            const __m256 wv = Src::load8(w[i], k * kStep);
            if constexpr (kWritesPanel) _mm256_storeu_ps(panel_rows[i] + k, wv);
#pragma GCC unroll 4
            for (int c = 0; c < kCols; ++c) acc[i][c] = _mm256_fmadd_ps(wv, xv[c], acc[i][c]);
        }
    }
}

// The end of every output: the fixed horizontal sum, then the tail elements by scalar FMAs
// (read from the weights' own rows through TailSrc). Writes weight rows below `valid` only.
template <typename TailSrc, int kRows, int kCols>
LLMOPT_AVX2 void finish(const __m256 (&acc)[kRows][kCols], const WeightMatrix& w,
                        const Activations& a, int64_t t, int64_t r, int64_t valid, float* y) {
    const int64_t cols8 = w.cols - w.cols % 8;
    if (cols8 == w.cols && valid >= kRows) {  // the common case, kept short for small matrices
        // Eight sums at a time by hsum_each (the same additions as hsum's): the outputs of the
        // 8-row tile, or of the 4-row tiles for two activation rows at once.
        if constexpr (kRows == 8) {
            static_assert(kCols == 1, "the 8-row tile takes one activation row");
            const __m256 d[8] = {acc[0][0], acc[1][0], acc[2][0], acc[3][0],
                                 acc[4][0], acc[5][0], acc[6][0], acc[7][0]};
            _mm256_storeu_ps(y + t * w.rows + r, hsum_each(d));
        } else {
            static_assert(kRows == 4, "tiles have 4 or 8 weight rows");
            for (int c = 0; c < kCols; c += 2) {
                const int c1 = c + 1 < kCols ? c + 1 : c;
                const __m256 d[8] = {acc[0][c],  acc[1][c],  acc[2][c],  acc[3][c],
                                     acc[0][c1], acc[1][c1], acc[2][c1], acc[3][c1]};
                const __m256 sums = hsum_each(d);
                _mm_storeu_ps(y + (t + c) * w.rows + r, _mm256_castps256_ps128(sums));
                if (c1 != c)
                    _mm_storeu_ps(y + (t + c1) * w.rows + r, _mm256_extractf128_ps(sums, 1));
            }
        }
        return;
    }
    const typename TailSrc::Elem* tail[kRows];
    RowStarts<TailSrc>(w).template get<kRows>(r, tail);
    for (int c = 0; c < kCols; ++c) {
        const float* x = a.x_row(t + c);
        for (int i = 0; i < kRows && i < valid; ++i) {
            float sum = hsum(acc[i][c]);
            for (int64_t k = cols8; k < w.cols; ++k)
                sum = std::fma(TailSrc::load1(tail[i], k), x[k], sum);
            y[(t + c) * w.rows + r + i] = sum;
        }
    }
}

// The columns a tile takes in one call: elements [k0, k1) of the first cols - cols % 8. Spans
// that split a row carry the tile's accumulators from one call to the next in `saved` (12
// vectors), so every lane's chain is the one of a single pass; a span without it is the row.
// A tile given `request` asks for those bytes into L2 as it goes: a line per step of 8
// columns, the span's columns of 4 regrouped half-precision rows (see rows_batched).
// A tile given `panel_rows` (kWritesPanel) writes the weights it reads, as f32, to
// panel_rows[i] + k.
struct ColumnSpan {
    int64_t k0;
    int64_t k1;
    float* saved = nullptr;
    const uint8_t* request = nullptr;
    float* const* panel_rows = nullptr;
};

// One tile: weight rows [r, r + kRows) (read through `rows`, of type Src, kStep as in
// RowStarts) against activation rows [t, t + kCols), over the columns of `span`; the span
// that ends the row writes the outputs, with the tails from the weights' own rows (TailSrc).
template <typename Src, typename TailSrc, int kRows, int kCols, int kStep,
          bool kWritesPanel = false>
LLMOPT_AVX2 void tile(const WeightMatrix& w, const Activations& a,
                      const typename Src::Elem* const* rows, int64_t t, int64_t r, int64_t r_end,
                      float* y, const ColumnSpan& span) {
    const float* x[kCols];
    for (int c = 0; c < kCols; ++c) x[c] = a.x_row(t + c);
    __m256 acc[kRows][kCols];
    // Without `saved` the span is the whole row.
    if (!span.saved || span.k0 == 0) {
        for (auto& row : acc)
            for (auto& v : row) v = _mm256_setzero_ps();
    } else {
#pragma GCC unroll 8
        for (int i = 0; i < kRows; ++i)
#pragma GCC unroll 4
            for (int c = 0; c < kCols; ++c)
                acc[i][c] = _mm256_loadu_ps(span.saved + (i * kCols + c) * 8);
    }
    accumulate<Src, kRows, kCols, kStep, kWritesPanel>(rows, x, span.k0, span.k1, span.request,
                                                       acc, span.panel_rows);
    if (!span.saved || span.k1 == w.cols - w.cols % 8) {
        finish<TailSrc, kRows, kCols>(acc, w, a, t, r, std::min(r_end, w.rows) - r, y);
        return;
    }
#pragma GCC unroll 8
    for (int i = 0; i < kRows; ++i)
#pragma GCC unroll 4
        for (int c = 0; c < kCols; ++c)
            _mm256_storeu_ps(span.saved + (i * kCols + c) * 8, acc[i][c]);
}

// Floats of `saved` one tile of tiles_4_rows carries.
constexpr int64_t kSavedPerTile = 4 * 3 * 8;

// Activation rows [t0, t1) against one set of 4 weight rows, in 4 x 3 tiles (4 weight rows, 3
// activation rows: 12 accumulators, 3 activation registers and one weight register, the 16
// ymm registers; 7 loads per 12 FMAs). A span short of the whole row needs kSavedPerTile
// floats of `saved` per tile.
template <typename Src, typename TailSrc, int kStep>
LLMOPT_AVX2 void tiles_4_rows(const WeightMatrix& w, const Activations& a,
                              const typename Src::Elem* const* rows, int64_t t0, int64_t t1,
                              int64_t r, int64_t r_end, float* y, ColumnSpan span) {
    int64_t t = t0;
    for (; t + 3 <= t1; t += 3) {
        tile<Src, TailSrc, 4, 3, kStep>(w, a, rows, t, r, r_end, y, span);
        if (span.saved) span.saved += kSavedPerTile;
        span.request = nullptr;  // the first tile asks
    }
    if (t1 - t == 2) tile<Src, TailSrc, 4, 2, kStep>(w, a, rows, t, r, r_end, y, span);
    if (t1 - t == 1) tile<Src, TailSrc, 4, 1, kStep>(w, a, rows, t, r, r_end, y, span);
}

// tiles_4_rows over half-precision rows widened as they go: the first tile reads them in their
// own type and writes them to `panel` (4 rows of w.cols floats) as f32, where the others read
// them, so the conversions and stores run beside its FMAs rather than in a pass of their own
// before the tiles. `bench_matmul f16` on a Zen 1, three alternating pairs, tok/s: 12 rows
// 25.2, 24.7, 24.6 -> 26.4, 26.6, 26.8; 16 rows 26.8, 26.5, 26.5 -> 27.5, 27.7, 28.1; 128 rows
// 30.6, 32.4, 31.8 -> 31.6, 32.5, 32.2.
template <typename Src, int kStep>
LLMOPT_AVX2 void tiles_4_rows_widening(const WeightMatrix& w, const Activations& a,
                                       const typename Src::Elem* const* rows, float* panel,
                                       int64_t t0, int64_t t1, int64_t r, int64_t r_end, float* y,
                                       ColumnSpan span) {
    float* const panel_rows[4] = {panel, panel + w.cols, panel + 2 * w.cols,
                                  panel + 3 * w.cols};
    span.panel_rows = panel_rows;
    const int64_t first = std::min<int64_t>(3, t1 - t0);
    if (first == 3) tile<Src, Src, 4, 3, kStep, true>(w, a, rows, t0, r, r_end, y, span);
    if (first == 2) tile<Src, Src, 4, 2, kStep, true>(w, a, rows, t0, r, r_end, y, span);
    if (first == 1) tile<Src, Src, 4, 1, kStep, true>(w, a, rows, t0, r, r_end, y, span);
    if (t0 + first == t1) return;
    if (span.saved) span.saved += kSavedPerTile;
    span.request = nullptr;
    span.panel_rows = nullptr;
    tiles_4_rows<F32Source, Src, 1>(w, a, panel_rows, t0 + first, t1, r, r_end, y, span);
}

// Few activation rows: the tiles read the weights in their own type. The first tile of each 4
// rows brings them from memory while it computes; the others find them in L1 (16 KB of halves
// at 2048 columns). Row-major rows are read without software prefetch (prefetching the next
// tile measured 10% slower decode on F16); regrouped ones are one stream, prefetched in
// accumulate. One activation row takes 8 weight rows: 8 independent FMA chains to cover the
// latency.
template <typename Src, int kStep>
LLMOPT_AVX2 void rows_direct(const WeightMatrix& w, const Activations& a, int64_t r_begin,
                             int64_t r_end, float* y) {
    const int64_t cols8 = w.cols - w.cols % 8;
    const RowStarts<Src> starts(w);
    for (int64_t r = r_begin; r < r_end; r += a.n == 1 ? 8 : 4) {
        const typename Src::Elem* rows[8];
        if (a.n == 1) {
            starts.template get<8>(r, rows);
            tile<Src, Src, 8, 1, kStep>(w, a, rows, 0, r, r_end, y, {0, cols8});
        } else {
            starts.template get<4>(r, rows);
            tiles_4_rows<Src, Src, kStep>(w, a, rows, 0, a.n, r, r_end, y, {0, cols8});
        }
    }
}

// Many activation rows: half-precision rows are first widened to f32, 4 at a time (the panel,
// in the thread's workspace), so the conversion is paid once per 4 rows and chunk of
// activations rather than once per tile. Each chunk of activation rows reads every weight row
// of the range from memory once (to widen it), so chunks are long: 129 rows (43 tiles) take a
// 128-token prefill in one pass; 1 MB of activations at 2048 columns, served from L2/L3.
// Measured against chunks of 48: pp128 +18% on F16, pp512 unchanged (larger chunks gain
// nothing more).
constexpr int64_t kChunk = 129;
constexpr int64_t kChunkTiles = (kChunk + 2) / 3;

// The chunk's tiles take the columns a block of this many at a time: the block of all 129
// activation rows (516 KB) stays in L2 while the weight rows pass over it (for_each_panel_block),
// and the panel's block (16 KB) in L1. Whole rows (22.5 KB each in the FFN's down matrix) made
// every tile read its activations from L3: down 152-156 -> 172-176 GFLOP/s at pp128 (two threads).
constexpr int64_t kColumnBlock = 1024;

// The order in which the many-row paths visit their work: chunks of activation rows; in a
// chunk, groups of kGroupWeightRows weight rows; in a group, column blocks; in a block, the
// group's panels (kPanelRows weight rows each): visit(t0, t1, r, k0, k1, panel, more), panel
// counted from the group's first, `more` when the group's next panel follows in this block. A
// column block of the activations thus serves 64 weight rows before the next block; with one
// panel per block, a matrix of 5632 columns (tinyllama's FFN down) cycled all its 2.8 MB of
// activations through L3 for every panel. One thread, `bench_matmul f16 128 1` on a Xeon, FFN
// down: 512-bit tiles 95 -> 118-123 GFLOP/s, 256-bit tiles 59 -> 88.
constexpr int64_t kGroupWeightRows = 64;
// Floats of `saved` the tiles of a group carry: 8 per weight row and activation row.
constexpr int64_t kGroupSaved = kGroupWeightRows * kChunk * 8;

template <int kPanelRows, typename Visit>
inline void for_each_panel_block(int64_t n, int64_t r_begin, int64_t r_end, int64_t cols8,
                                 const Visit& visit) {
    for (int64_t t0 = 0; t0 < n; t0 += kChunk) {
        const int64_t t1 = std::min(n, t0 + kChunk);
        for (int64_t r0 = r_begin; r0 < r_end; r0 += kGroupWeightRows) {
            const int64_t r1 = std::min(r_end, r0 + kGroupWeightRows);
            int64_t k0 = 0;
            do {  // at least once: rows shorter than 8 are all tail
                const int64_t k1 = std::min(cols8, k0 + kColumnBlock);
                for (int64_t r = r0; r < r1; r += kPanelRows)
                    visit(t0, t1, r, k0, k1, (r - r0) / kPanelRows, r + kPanelRows < r1);
                k0 = k1;
            } while (k0 < cols8);
        }
    }
}

template <typename Src, bool kWiden, int kStep>
LLMOPT_AVX2 void rows_batched(const WeightMatrix& w, const Activations& a, int64_t r_begin,
                              int64_t r_end, float* y, void* workspace) {
    static_assert(kGroupSaved == kGroupWeightRows / 4 * kChunkTiles * kSavedPerTile);
    const int64_t cols8 = w.cols - w.cols % 8;
    auto* saved = static_cast<float*>(workspace);  // (16 panels, kChunkTiles, kSavedPerTile)
    float* panel = saved + kGroupSaved;            // (4, cols), half-precision types only
    const RowStarts<Src> starts(w);
    for_each_panel_block<4>(
        a.n, r_begin, r_end, cols8,
        [&](int64_t t0, int64_t t1, int64_t r, int64_t k0, int64_t k1, int64_t p,
            bool more) LLMOPT_AVX2 {
            const typename Src::Elem* rows[4];
            starts.template get<4>(r, rows);
            // The first tile over a panel requests the block's next panel (the other 4 rows of
            // a regrouped group, or the next group's first 4) into L2, so that widening it does
            // not wait on memory with the FMAs idle. tinyllama F16 on a Zen 1, three pairs:
            // tg32x16 23.6, 22.7, 24.3 -> 25.5, 25.8, 26.0 t/s; pp128 unchanged (31-34).
            const uint8_t* next_panel = nullptr;
            if constexpr (kWiden && kStep == kGroupRows) {
                if (more) {
                    const typename Src::Elem* next[1];
                    starts.template get<1>(r + 4, next);
                    next_panel = reinterpret_cast<const uint8_t*>(next[0] + k0 * kStep);
                }
            }
            const ColumnSpan span{k0, k1, saved + p * kChunkTiles * kSavedPerTile, next_panel};
            if constexpr (kWiden)
                tiles_4_rows_widening<Src, kStep>(w, a, rows, panel, t0, t1, r, r_end, y, span);
            else
                tiles_4_rows<Src, Src, kStep>(w, a, rows, t0, t1, r, r_end, y, span);
        });
}

// The 512-bit tiles (kFloatTiles512): each accumulator holds two weight rows' 8-lane
// accumulators side by side, [row 2p | row 2p + 1], against an activation row's 8 elements
// broadcast to both halves. They read 8 rows stored as the kRowGroups8 layout stores them (for
// each step of 8 elements, the 8 rows' elements in turn), so one load gives a row pair: the
// weights themselves where they are regrouped, else a panel widened to f32 in that order.
// Every lane takes the FMAs of its 256-bit tile counterpart in the same order, and the ends
// are handed to the same finish, 4 rows at a time.
// Tiles of 8 weight rows (4 pairs) x 4 activation rows: 16 accumulators, 4 panel loads and 4
// activation broadcasts per 16 FMAs. One thread, `bench_matmul f16 128 1`, GFLOP/s of the
// 2048-column shapes against 95-97 for the 256-bit 4 x 3 tiles: 4 rows x 6 (2 pairs) 104,
// 8 x 2 and 8 x 3 102-104, 8 x 4 134-137, 8 x 5 135-142, 8 x 6 61 (out of registers).
constexpr int kWideRows = 8;
constexpr int kWidePairs = kWideRows / 2;
constexpr int kWideCols = 4;
// Column blocks are kColumnBlock wide, as for the 256-bit tiles (the panel's block: 32 KB);
// 512, 256 and 2048 columns measured 5%, 15% and 10% slower.
// Floats of `saved` per activation row of a chunk.
constexpr int64_t kWideSavedPerRow = kWideRows * 8;

// The panel: for each step k (a multiple of 8) in [k0, k1), elements [k, k + 8) of the 8 rows
// in turn, at the step's place in the row.
template <typename Src, int kStep>
LLMOPT_AVX512 void widen_to_pairs(const typename Src::Elem* const* rows, int64_t k0, int64_t k1,
                                  float* panel) {
    for (int64_t k = k0; k < k1; k += 8)
        for (int i = 0; i < kWideRows; ++i)
            _mm256_storeu_ps(panel + kWideRows * k + 8 * i, Src::load8(rows[i], k * kStep));
}

// Writes the outputs of weight rows [r, r + 8) by finish, 4 rows at a time.
template <typename TailSrc, int kCols>
LLMOPT_AVX512 void wide_finish(const __m512 (&acc)[kWidePairs][kCols], const WeightMatrix& w,
                               const Activations& a, int64_t t, int64_t r, int64_t r_end,
                               float* y) {
    for (int half = 0; half < 2; ++half) {
        const int64_t r4 = r + 4 * half, valid = std::min(r_end, w.rows) - r4;
        if (valid <= 0) return;
        __m256 rows[4][kCols];
        for (int c = 0; c < kCols; ++c)
            for (int i = 0; i < 4; ++i)  // row 4 * half + i: half i % 2 of pair 2 * half + i / 2
                rows[i][c] = _mm512_maskz_extractf32x8_ps(0xFF, acc[2 * half + i / 2][c], i % 2);
        finish<TailSrc, 4, kCols>(rows, w, a, t, r4, valid, y);
    }
}

// What a tile requests ahead of the weights it reads: nothing (they are in cache), its own
// stream 8 KB on into L1 as accumulate does (it reads them from memory), or the next group of
// 8 rows into L2 at the place it reads in this one (see rows_direct_wide).
enum class Ahead { kNone, kOwn, kNextGroup };

// Weight rows [r, r + 8) from `group` (of type Src, grouped as above) against activation rows
// [t, t + kCols), over the columns of `span` (carried in span.saved as the 256-bit tiles do).
template <typename Src, typename TailSrc, int kCols, Ahead kAhead>
LLMOPT_AVX512 void wide_tile(const WeightMatrix& w, const Activations& a,
                             const typename Src::Elem* group, int64_t t, int64_t r, int64_t r_end,
                             float* y, const ColumnSpan& span) {
    const float* x[kCols];
    for (int c = 0; c < kCols; ++c) x[c] = a.x_row(t + c);
    const bool carried = span.saved && span.k0 > 0;
    __m512 acc[kWidePairs][kCols];
#pragma GCC unroll 4
    for (int p = 0; p < kWidePairs; ++p)
#pragma GCC unroll 4
        for (int c = 0; c < kCols; ++c)
            acc[p][c] =
                carried ? _mm512_loadu_ps(span.saved + (p * kCols + c) * 16) : _mm512_setzero_ps();
    for (int64_t k = span.k0; k < span.k1; k += 8) {
        const typename Src::Elem* step = group + kWideRows * k;
        if constexpr (kAhead == Ahead::kOwn) prefetch_span(step + kPrefetchElems, 128);
        if constexpr (kAhead == Ahead::kNextGroup)
            prefetch_span<_MM_HINT_T1>(step + kWideRows * w.cols, 128);
        __m512 wv[kWidePairs];
#pragma GCC unroll 4
        for (int p = 0; p < kWidePairs; ++p) wv[p] = Src::load16(step + 16 * p);
#pragma GCC unroll 4
        for (int c = 0; c < kCols; ++c) {
            const __m512 xv = _mm512_maskz_broadcast_f32x8(0xFFFF, _mm256_loadu_ps(x[c] + k));
#pragma GCC unroll 4
            for (int p = 0; p < kWidePairs; ++p) acc[p][c] = _mm512_fmadd_ps(wv[p], xv, acc[p][c]);
        }
    }
    if (!span.saved || span.k1 == w.cols - w.cols % 8)
        return wide_finish<TailSrc, kCols>(acc, w, a, t, r, r_end, y);
#pragma GCC unroll 4
    for (int p = 0; p < kWidePairs; ++p)
#pragma GCC unroll 4
        for (int c = 0; c < kCols; ++c)
            _mm512_storeu_ps(span.saved + (p * kCols + c) * 16, acc[p][c]);
}

// Activation rows [t0, t1) against weight rows [r, r + 8), in tiles of kWideCols; each tile's
// `saved` (when the span carries it) is kWideSavedPerRow per activation row past t0.
template <typename Src, typename TailSrc, Ahead kAhead, int kCols = kWideCols>
LLMOPT_AVX512 void wide_tiles_8_rows(const WeightMatrix& w, const Activations& a,
                                     const typename Src::Elem* group, int64_t t0, int64_t t1,
                                     int64_t r, int64_t r_end, float* y, const ColumnSpan& span) {
    int64_t t = t0;
    for (; t + kCols <= t1; t += kCols) {
        float* saved = span.saved ? span.saved + (t - t0) * kWideSavedPerRow : nullptr;
        wide_tile<Src, TailSrc, kCols, kAhead>(w, a, group, t, r, r_end, y,
                                               {span.k0, span.k1, saved});
    }
    if constexpr (kCols > 1) {  // the rest: at most one tile, of fewer rows
        if (t < t1) {
            float* saved = span.saved ? span.saved + (t - t0) * kWideSavedPerRow : nullptr;
            wide_tiles_8_rows<Src, TailSrc, kAhead, kCols - 1>(w, a, group, t, t1, r, r_end, y,
                                                               {span.k0, span.k1, saved});
        }
    }
}

// rows_batched with the 512-bit tiles: the same order, panels of 8 rows.
template <typename Src, int kStep>
LLMOPT_AVX512 void rows_batched_wide(const WeightMatrix& w, const Activations& a, int64_t r_begin,
                                     int64_t r_end, float* y, void* workspace) {
    static_assert(kGroupSaved == kGroupWeightRows / kWideRows * kChunk * kWideSavedPerRow);
    const int64_t cols8 = w.cols - w.cols % 8;
    auto* saved = static_cast<float*>(workspace);  // (8 panels, kChunk, kWideSavedPerRow)
    float* panel = saved + kGroupSaved;            // (cols8 / 8, 8, 8)
    const RowStarts<Src> starts(w);
    for_each_panel_block<kWideRows>(
        a.n, r_begin, r_end, cols8,
        [&](int64_t t0, int64_t t1, int64_t r, int64_t k0, int64_t k1, int64_t p,
            bool) LLMOPT_AVX512 {
            const typename Src::Elem* rows[kWideRows];
            starts.template get<kWideRows>(r, rows);
            widen_to_pairs<Src, kStep>(rows, k0, k1, panel);
            wide_tiles_8_rows<F32Source, Src, Ahead::kNone>(
                w, a, panel, t0, t1, r, r_end, y, {k0, k1, saved + p * kChunk * kWideSavedPerRow});
        });
}

// rows_direct with the 512-bit tiles, for regrouped weights (each 8-row group read in place).
// The first tile of a group streams it from memory; the second requests the next group into
// L2 while the others compute, so that the next group's first tile reads from L2.
template <typename Src>
LLMOPT_AVX512 void rows_direct_wide(const WeightMatrix& w, const Activations& a, int64_t r_begin,
                                    int64_t r_end, float* y) {
    const int64_t cols8 = w.cols - w.cols % 8;
    const RowStarts<Src> starts(w);
    for (int64_t r = r_begin; r < r_end; r += kWideRows) {  // r_begin starts a group
        const typename Src::Elem* rows[kWideRows];
        starts.template get<kWideRows>(r, rows);
        if (a.n <= kWideCols) {
            wide_tiles_8_rows<Src, Src, Ahead::kOwn>(w, a, rows[0], 0, a.n, r, r_end, y,
                                                     {0, cols8});
            continue;
        }
        wide_tile<Src, Src, kWideCols, Ahead::kOwn>(w, a, rows[0], 0, r, r_end, y, {0, cols8});
        const int64_t t2 = std::min<int64_t>(a.n, 2 * kWideCols);
        wide_tiles_8_rows<Src, Src, Ahead::kNextGroup>(w, a, rows[0], kWideCols, t2, r, r_end, y,
                                                       {0, cols8});
        wide_tiles_8_rows<Src, Src, Ahead::kNone>(w, a, rows[0], t2, a.n, r, r_end, y, {0, cols8});
    }
}

// Up to this many activation rows, half-precision weights are read by the tiles directly:
// widening a panel costs a conversion and a store per 8 weights, and with few tiles per panel
// that is not won back. Measured when the widening was a pass of its own, before the tiles:
// F16 tg32x16 38.5 -> 43.4 t/s, x4 16.6 -> 28.6, tg16x64 46.1 -> 51.8; pp64 and pp128 within
// the noise, pp512 lower. On Zen 1, where a 256-bit vcvtph2ps takes two of its 128-bit units,
// the conversion in every tile costs more than the FMAs it feeds, so the panel takes over
// above 5 rows there. `bench_matmul f16` on 2 cores reporting family 17h model 1, tok/s,
// direct -> panel: with the pass of its own, 12 rows 19.1, 21.5 -> 22.7, 22.7; 16 rows 20.2,
// 20.3 -> 24.2, 24.4; 32 rows 20.6, 21.1 -> 28.2, 28.5; 8 rows 20.1, 20.3 -> 18.6, 18.5. With
// the first tile widening (tiles_4_rows_widening), three pairs: 8 rows 20.5, 20.8, 20.7 ->
// 20.6, 22.5, 23.2; 7 rows 18.9, 19.0, 19.1 -> 19.9, 22.4, 22.7; 6 rows 21.5, 21.4, 21.5 ->
// 21.8, 21.9, 22.3; two pairs at 5 rows 20.5, 19.6 -> 19.4, 19.0 (kept direct).
inline int64_t direct_max_rows() {
    return kMachineKind == MachineKind::kAmdZen1 ? 5 : 64;
}

template <typename Src, bool kWiden, int kStep, bool kWide>
LLMOPT_AVX2 void rows_float_step(const WeightMatrix& w, const Activations& a, int64_t r_begin,
                                 int64_t r_end, float* y, void* workspace) {
    if (a.n < 4 || (kWiden && a.n <= direct_max_rows())) {
        // One activation row keeps the 8 x 1 tile: decode is bound by memory, not FMAs.
        if (kWide && kStep == kGroupRows && a.n > 1 && r_begin % kGroupRows == 0)
            return rows_direct_wide<Src>(w, a, r_begin, r_end, y);
        return rows_direct<Src, kStep>(w, a, r_begin, r_end, y);
    }
    if (kWide) return rows_batched_wide<Src, kStep>(w, a, r_begin, r_end, y, workspace);
    rows_batched<Src, kWiden, kStep>(w, a, r_begin, r_end, y, workspace);
}

template <typename Src, bool kWiden, bool kWide>
LLMOPT_AVX2 void rows_float(const WeightMatrix& w, const Activations& a, int64_t r_begin,
                            int64_t r_end, float* y, void* workspace) {
    if (w.layout == WeightLayout::kRowGroups8)
        return rows_float_step<Src, kWiden, kGroupRows, kWide>(w, a, r_begin, r_end, y, workspace);
    rows_float_step<Src, kWiden, 1, kWide>(w, a, r_begin, r_end, y, workspace);
}

}  // namespace

size_t float_workspace_bytes(int64_t cols) {
    // The panels: 4 rows of `cols`, or 8 rows' elements up to cols8 for the 512-bit tiles.
    return sizeof(float) * (kGroupSaved + kWideRows * static_cast<size_t>(cols));
}

const FloatKernels kFloatTiles256 = {"256-bit", rows_float<F32Source, false, false>,
                                     rows_float<F16Source, true, false>,
                                     rows_float<BF16Source, true, false>};
const FloatKernels kFloatTiles512 = {"512-bit", rows_float<F32Source, false, true>,
                                     rows_float<F16Source, true, true>,
                                     rows_float<BF16Source, true, true>};

bool cpu_has_avx512_float() {
    static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
    return has;
}

const FloatKernels& float_kernels() {
    static const FloatKernels& kernels = []() -> const FloatKernels& {
        const char* off = std::getenv("LLMOPT_NO_AVX512");
        if (off != nullptr && std::strcmp(off, "1") == 0) return kFloatTiles256;
        const bool wide = kMachineKind == MachineKind::kIntel && cpu_has_avx512_float();
        return wide ? kFloatTiles512 : kFloatTiles256;
    }();
    return kernels;
}

}  // namespace llmopt::kernels::gemm::avx2
