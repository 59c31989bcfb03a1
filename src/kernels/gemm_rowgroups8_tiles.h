// Private: the tiles of the kRowGroups8 kernels (Q4_0, Q8_0), compiled once per instruction set,
// and the loop over them every regrouped format shares.
// The including file defines LLMOPT_ROWGROUPS8_TARGET (the functions' target attribute) before
// including it, and for the VNNI kernels LLMOPT_ROWGROUPS8_DPBUSD and LLMOPT_ROWGROUPS8_DPWSSD,
// the intrinsics of its encoding: AVX-VNNI's (VEX) or AVX512-VNNI's on 256-bit registers (EVEX),
// the same instructions. Everything here is local to that file.
//
// A 32-byte load of a quad holds 4 quant bytes of each of 8 rows, row i in 32-bit lane i.
// Multiplied by the matching 4 activation bytes, broadcast to every lane, each row's products
// stay in its own lane: no horizontal reduction and no lane shuffles. Per block and 8 rows that
// is about 50 instructions for Q4_0 with AVX2, against 75 for the row-major tile in
// gemm_q4_0_q8_0.cpp; vpdpbusd (VNNI) does multiply, pair sums and accumulation in one.
//  Q4_0: the low nibbles of chunk k are elements 4k ... 4k + 3, the high ones 16 + 4k ...; as
//   unsigned bytes they meet the activations in maddubs, whose int16 sums over the whole block
//   do not overflow (16 products of at most 15 * 127 per lane half: 30480), or in vpdpbusd. The
//   +8 level offset comes off at the end: 8 * sum(activation block), from the group tables.
//  Q8_0: chunk k is elements 4k ... 4k + 3, stored plus 128 (unsigned). vpdpbusd takes them
//   as they are and 128 * sum(activation block) comes off at the end; maddubs would saturate
//   their pair sums, so AVX2 restores the sign and moves it onto the activation
//   (|w| * sign(a, w)); a pair sum can reach 2 * 128 * 127, so each chunk is widened to int32
//   at once.
// Each output is the same float chain as the row-major kernels', acc = fma(d_w * d_a,
// float(isum), acc) over the blocks in order, with isum the exact integer dot: the layouts and
// instruction sets give the same results bit for bit, whatever the batch.
#pragma once

#include <algorithm>
#include <cstring>

#include "gemm_kernels.h"
#include "quant_avx2.h"
#include "quant_blocks.h"

namespace llmopt::kernels::gemm::avx2 {
namespace {

// Whether block dots use vpdpbusd: the including file named its intrinsics.
#ifdef LLMOPT_ROWGROUPS8_DPBUSD
constexpr bool kWithVnni = true;
#else
constexpr bool kWithVnni = false;
// Every use sits under `if constexpr (kWithVnni)`; the names only have to parse.
#define LLMOPT_ROWGROUPS8_DPBUSD _mm256_dpbusd_avx_epi32
#define LLMOPT_ROWGROUPS8_DPWSSD _mm256_dpwssd_avx_epi32
#endif

using namespace ::llmopt::kernels::avx2;

LLMOPT_ROWGROUPS8_TARGET inline __m256i broadcast4(const int8_t* p) {
    int32_t v;
    std::memcpy(&v, p, sizeof(v));
    return _mm256_set1_epi32(v);
}

// Left alone, the compiler regroups the additions of a block's chunks into one tree, keeping
// every product alive at once and spilling them; this pins the running sum per chunk.
LLMOPT_ROWGROUPS8_TARGET inline void keep(__m256i& v) {
    asm("" : "+x"(v));
}

// Chunk k (4 bytes) of each 128-bit half of v, in every 32-bit lane of that half.
LLMOPT_ROWGROUPS8_TARGET inline __m256i spread_chunk(__m256i v, int k) {
    switch (k) {
        case 0:
            return _mm256_shuffle_epi32(v, 0x00);
        case 1:
            return _mm256_shuffle_epi32(v, 0x55);
        case 2:
            return _mm256_shuffle_epi32(v, 0xAA);
        default:
            return _mm256_shuffle_epi32(v, 0xFF);
    }
}

// 16 bytes from p, in both 128-bit halves.
LLMOPT_ROWGROUPS8_TARGET inline __m256i broadcast_half(const int8_t* p) {
    return _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// Rows of a tile whose activation chunks are spread by spread_chunk rather than broadcast
// from memory (see Q4_0Dots).
constexpr int kSpreadRows = kWithVnni ? 1 : 0;

// The 16 activation bytes at p in both halves, the source of spread_chunk, for the first row
// of a tile; nothing is loaded (zero) where no row is spread.
LLMOPT_ROWGROUPS8_TARGET inline __m256i spread_source(const int8_t* p) {
    return kSpreadRows > 0 ? broadcast_half(p) : _mm256_setzero_si256();
}

// The 4 activation bytes at p in every lane, for activation row t of a tile: chunk k of `half`
// (the 16 bytes holding them, loaded once) for the first kSpreadRows rows, else from memory.
LLMOPT_ROWGROUPS8_TARGET inline __m256i activation_chunk(int t, __m256i half, int k,
                                                         const int8_t* p) {
    return t < kSpreadRows ? spread_chunk(half, k) : broadcast4(p);
}

// How far ahead of the quad being read its bytes are requested, into L1: 2 KB, as the probe
// does. Measured on tinyllama decode (side by side): 16 quads ahead (9 KB for Q4_0, 17 KB for
// Q8_0) 29-30 / 20 t/s, 2 KB 40-42 / 23-24 t/s; further ahead or into L2 only was slower.
// Some machines take Q4_0 and Q8_0 nearer or further (prefetch_bytes).
constexpr size_t kPrefetchBytes = 2048;

// What a tile requests ahead of the weights it reads. Of the tiles that pass over one group of
// 8 rows, the first streams the group from memory and requests its own bytes `own` further on
// into L1; the second (kNextGroup) finds the group in L1 and requests the next group, the same
// distance into it as it reads here, into L2, so that the next group's first tile reads from L2
// rather than memory. bench_matmul on a Zen 4, three alternating pairs (tok/s): 5 rows Q8_0
// 81-88 -> 102-105, Q4_0 116-130 -> 150-157, Q4_K 121-124 -> 150-161, Q6_K 75-77 -> 93-106;
// 16 rows Q8_0 127-155 -> 175-193, Q4_0 189-194 -> 196-208, Q4_K 154-157 -> 193-213; one row
// unchanged. Requested into L1 instead, the next group evicted the current one: 6 and 16 rows
// lost 10-40% against L2.
// kNextGroup is a compile-time choice: GCC 12 merged a run-time choice between two _mm_prefetch
// calls that differ only in hint into one call with a variable hint, which it then dropped.
// A tile spreads the requests for a run of bytes (a quad, a super-block group) over its work on
// the run: part k of n as it starts step k of n. Requested at once, the run's 10-28 lines
// outnumber the misses a core keeps in flight, and the core waits on them with its ALUs idle.
// On a Zen 1 (2 threads, alternating pairs): bench_matmul q6_k, one row, 17.9, 19.9 -> 24.5,
// 25.3 tok/s with the group's 28 lines spread over its 16 sub-blocks; tinyllama tg32 Q6_K 15.9,
// 16.3 -> 20.8, 22.0 t/s, Q4_K 29.2, 29.1 -> 31.5, 29.7, Q4_0 and Q8_0 within 5%.
template <bool kNextGroup>
struct WeightRequests {
    size_t ahead;

    WeightRequests(const WeightMatrix& w, size_t own)
        : ahead(kNextGroup ? kGroupRows * w.row_stride() : own) {}

    // Part `part` of kParts of the lines holding [p + ahead, p + ahead + kBytes).
    template <size_t kBytes, int kParts>
    void issue(const uint8_t* p, int part) const {
        constexpr int kLines = (kBytes + 2 * 63) / 64;  // whatever the run's alignment
        const uintptr_t first = reinterpret_cast<uintptr_t>(p + ahead) & ~uintptr_t{63};
        for (int line = kLines * part / kParts; line < kLines * (part + 1) / kParts; ++line)
            request_line(reinterpret_cast<const char*>(first + 64 * line));
    }

    // A volatile asm statement rather than _mm_prefetch, which depends on nothing: GCC's
    // scheduler lifted every request of a loop body to its top, a burst again (and, with the
    // requests in a loop of their own, deleted them as free of side effects). Only here, not in
    // prefetch_span: a volatile asm is a barrier to the compiler's scheduling, and in the float
    // tiles' loops it halved F16 prefill (Zen 1, tinyllama, two pairs: pp128 32.9, 33.2 ->
    // 17.2, 17.7 t/s; tg32x16 26.4, 26.8 -> 14.8, 14.7), while the int8 tiles kept their speed.
    static void request_line(const char* line) {
        if constexpr (kNextGroup)
            asm volatile("prefetcht1 %0" : : "m"(*line));
        else
            asm volatile("prefetcht0 %0" : : "m"(*line));
    }
};

// The block dots of block b of the 8 rows with activation rows x[0 ... kActs - 1]: each
// 32-byte chunk of quants is unpacked once and met by every activation row.
// Each vpdpbusd takes its 4 activation bytes broadcast from memory, and with VNNI these loads
// bound the tile; so the first row's are spread by vpshufd from its two 16-byte halves, loaded
// once per block, which moves a quarter of the work to the shuffle unit (more rows spread run
// out of registers). Single thread, bench_matmul, three alternating runs: 128 rows 231, 225,
// 221 -> 250, 244, 223 GFLOP/s, 16 rows 201, 196, 196 -> 214, 218, 199; one row unchanged.
// Without VNNI the ALU already carries maddubs and its widening, so every row is broadcast.
struct Q4_0Dots {
    static constexpr RowGroups8 kLayout = kQ4_0Groups;
    static constexpr bool kOffset = true;   // the +8 level offset is still in the dots
    static constexpr int kOffsetShift = 0;  // the tables hold 8 * sum
    static size_t prefetch_bytes() {
        return gemm::avx2::prefetch_bytes({kPrefetchBytes, 1152, kPrefetchBytes, 8192});
    }

    template <int kActs>
    LLMOPT_ROWGROUPS8_TARGET static void dots(const uint8_t* quants, const BlockQ8_0* const* x,
                                              int64_t b, __m256i (&out)[kActs]) {
        const __m256i mask = _mm256_set1_epi8(0x0F);
        __m256i s[kActs];
        for (auto& v : s) v = _mm256_setzero_si256();
        __m256i s_hi = _mm256_setzero_si256();
        // Row 0's elements 0-15 and 16-31, in both halves.
        const __m256i first_lo = spread_source(x[0][b].qs),
                      first_hi = spread_source(x[0][b].qs + 16);
#pragma GCC unroll 4
        for (int k = 0; k < 4; ++k) {
            const __m256i raw =
                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(quants + 32 * k));
            const __m256i lo = _mm256_and_si256(raw, mask);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), mask);
#pragma GCC unroll 4
            for (int t = 0; t < kActs; ++t) {
                const __m256i a_lo = activation_chunk(t, first_lo, k, x[t][b].qs + 4 * k);
                const __m256i a_hi = activation_chunk(t, first_hi, k, x[t][b].qs + 16 + 4 * k);
                if constexpr (kWithVnni && kActs == 1) {
                    // Decode: one row leaves the block's 8 dependent vpdpbusd exposed, so the
                    // high nibbles take a chain of their own. tinyllama tg32 on a Zen 4, eight
                    // pairs: mean 53.1 -> 56.0 t/s, higher in six (no gain on a Zen 5).
                    s[t] = LLMOPT_ROWGROUPS8_DPBUSD(s[t], lo, a_lo);
                    s_hi = LLMOPT_ROWGROUPS8_DPBUSD(s_hi, hi, a_hi);
                    keep(s_hi);
                } else if constexpr (kWithVnni) {
                    s[t] = LLMOPT_ROWGROUPS8_DPBUSD(LLMOPT_ROWGROUPS8_DPBUSD(s[t], lo, a_lo), hi,
                                                    a_hi);
                } else {
                    const __m256i p_lo = _mm256_maddubs_epi16(lo, a_lo);
                    const __m256i p_hi = _mm256_maddubs_epi16(hi, a_hi);
                    s[t] = _mm256_add_epi16(s[t], _mm256_add_epi16(p_lo, p_hi));
                }
                keep(s[t]);
            }
        }
        if constexpr (kWithVnni && kActs == 1) s[0] = _mm256_add_epi32(s[0], s_hi);
        for (int t = 0; t < kActs; ++t)
            out[t] = kWithVnni ? s[t] : _mm256_madd_epi16(s[t], _mm256_set1_epi16(1));
    }
};

// The regrouped quants are stored plus 128 (interleave.h), so with VNNI they are vpdpbusd's
// unsigned operand as they are and the activations its signed one, as for Q4_0: nothing per
// chunk and activation row but the product; 128 * sum(activation block) comes off at the end.
// Every activation chunk is broadcast from memory: spreading the first row's (as Q4_0 does)
// was slower on Zen 4 (bench_matmul: one row 10% below the previous code in four pairs; 128
// rows 160-193 tok/s, against 190-201 broadcast).
// maddubs saturates pair sums of such products in int16, so AVX2 takes the sign back off each
// chunk and moves it onto the activations (|w| * sign(a, w)), widening the pair sums at once.
struct Q8_0Dots {
    static constexpr RowGroups8 kLayout = kQ8_0Groups;
    static constexpr bool kOffset = kWithVnni;
    static constexpr int kOffsetShift = 4;  // the tables hold 8 * sum: 128 = 8 << 4
    static size_t prefetch_bytes() {
        return gemm::avx2::prefetch_bytes({kPrefetchBytes, kPrefetchBytes, 1024, kPrefetchBytes});
    }

    template <int kActs>
    LLMOPT_ROWGROUPS8_TARGET static void dots(const uint8_t* quants, const BlockQ8_0* const* x,
                                              int64_t b, __m256i (&out)[kActs]) {
        __m256i s[kActs];
        for (auto& v : s) v = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int k = 0; k < 8; ++k) {
            const __m256i biased =
                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(quants + 32 * k));
            if constexpr (kWithVnni) {
#pragma GCC unroll 4
                for (int t = 0; t < kActs; ++t) {
                    const __m256i a = broadcast4(x[t][b].qs + 4 * k);
                    s[t] = LLMOPT_ROWGROUPS8_DPBUSD(s[t], biased, a);
                    keep(s[t]);
                }
            } else {
                const __m256i raw = _mm256_xor_si256(biased, _mm256_set1_epi8(char(0x80)));
                const __m256i magnitude = _mm256_abs_epi8(raw);
#pragma GCC unroll 4
                for (int t = 0; t < kActs; ++t) {
                    const __m256i signed_a = _mm256_sign_epi8(broadcast4(x[t][b].qs + 4 * k), raw);
                    s[t] = _mm256_add_epi32(
                        s[t], sum_pairs_i16(_mm256_maddubs_epi16(magnitude, signed_a)));
                    keep(s[t]);
                }
            }
        }
        for (int t = 0; t < kActs; ++t) out[t] = s[t];
    }
};

// acc = fma(d_w * d_a, float(isum), acc): the one float step per block.
LLMOPT_ROWGROUPS8_TARGET inline __m256 accumulate(__m256 acc, __m256 d_w, float d_a, __m256i isum) {
    return _mm256_fmadd_ps(_mm256_mul_ps(d_w, _mm256_set1_ps(d_a)), _mm256_cvtepi32_ps(isum), acc);
}

// Activation rows t0 ... t0 + kActs - 1 (of one group of 4) against the 8 rows of group r / 8;
// the tile requests the next group when kNextGroup (see WeightRequests).
template <typename Fmt, int kActs, bool kNextGroup>
LLMOPT_ROWGROUPS8_TARGET void tile(const WeightMatrix& w, const Activations& a, int64_t t0,
                                   int64_t r, float* y) {
    constexpr RowGroups8 layout = Fmt::kLayout;
    const int64_t blocks = w.cols / kQK;
    const uint8_t* quad = w.data + r * w.row_stride();  // r is the group's first row
    const BlockQ8_0* x[kActs];
    for (int t = 0; t < kActs; ++t) x[t] = reinterpret_cast<const BlockQ8_0*>(a.row(t0 + t));
    const int64_t table = (t0 / 4) * blocks * 4 + t0 % 4;
    const float* a_scales = a.group_scales + table;
    const int32_t* a_offsets = a.group_offsets + table;
    const WeightRequests<kNextGroup> requests(w, Fmt::prefetch_bytes());
    __m256 acc[kActs];
    for (auto& v : acc) v = _mm256_setzero_ps();
    for (int64_t q = 0; q < blocks / kQuadBlocks; ++q, quad += layout.quad_bytes()) {
#pragma GCC unroll 4
        for (int j = 0; j < kQuadBlocks; ++j) {
            requests.template issue<layout.quad_bytes(), kQuadBlocks>(quad, j);
            const int64_t b = q * kQuadBlocks + j;
            __m256i dots[kActs];
            Fmt::template dots<kActs>(quad + j * layout.block_quant_bytes(), x, b, dots);
            const __m256 d_w = _mm256_cvtph_ps(_mm_loadu_si128(
                reinterpret_cast<const __m128i*>(quad + layout.quad_quant_bytes() + 16 * j)));
#pragma GCC unroll 4
            for (int t = 0; t < kActs; ++t) {
                const __m256i isum =
                    Fmt::kOffset
                        ? _mm256_sub_epi32(
                              dots[t], _mm256_set1_epi32(a_offsets[4 * b + t] << Fmt::kOffsetShift))
                        : dots[t];
                acc[t] = accumulate(acc[t], d_w, a_scales[4 * b + t], isum);
            }
        }
    }
    for (int t = 0; t < kActs; ++t) _mm256_storeu_ps(y + (t0 + t) * w.rows + r, acc[t]);
}

// The tile of the block formats above, as rows_tiles calls it.
template <typename Fmt>
struct BlockTile {
    template <int kActs, bool kNextGroup>
    LLMOPT_ROWGROUPS8_TARGET static void run(const WeightMatrix& w, const Activations& a,
                                             int64_t t0, int64_t r, float* y) {
        tile<Fmt, kActs, kNextGroup>(w, a, t0, r, y);
    }
};

// Groups of 4 activation rows in chunks that each group of weight rows passes over while it
// stays in L1 (see gemm_q4_0_q8_0.cpp); the last 1-3 rows take one more tile per group, in the
// last chunk, while the group is still in L1. The second tile over a group requests the next
// one (WeightRequests).
// Tile::run<kActs, kNextGroup>(w, a, t0, r, y) computes activation rows t0 ... t0 + kActs - 1
// against the 8 rows of group r / 8.
constexpr int64_t kGroupsPerChunk = 32;

// Tile::run with kNextGroup chosen at run time.
template <typename Tile, int kActs>
LLMOPT_ROWGROUPS8_TARGET void run_tile(const WeightMatrix& w, const Activations& a, int64_t t0,
                                       int64_t r, float* y, bool fetch_next_group) {
    if (fetch_next_group) return Tile::template run<kActs, true>(w, a, t0, r, y);
    Tile::template run<kActs, false>(w, a, t0, r, y);
}

// Not inlined: inlined into rows_tiles' loops, the one-row Q6_K tile compiled slower (decode
// in bench_matmul 26 -> 19 tok/s).
template <typename Tile>
__attribute__((noinline)) LLMOPT_ROWGROUPS8_TARGET void rest_tile(const WeightMatrix& w,
                                                                  const Activations& a, int64_t t0,
                                                                  int64_t r, float* y,
                                                                  bool fetch_next_group) {
    switch (a.n - t0) {
        case 1:
            return run_tile<Tile, 1>(w, a, t0, r, y, fetch_next_group);
        case 2:
            return run_tile<Tile, 2>(w, a, t0, r, y, fetch_next_group);
        case 3:
            return run_tile<Tile, 3>(w, a, t0, r, y, fetch_next_group);
        default:
            return;
    }
}

template <typename Tile>
LLMOPT_ROWGROUPS8_TARGET void rows_tiles(const WeightMatrix& w, const Activations& a,
                                         int64_t r_begin, int64_t r_end, float* y, void*) {
    const int64_t groups = a.n / 4;
    for (int64_t g0 = 0; g0 == 0 || g0 < groups; g0 += kGroupsPerChunk) {
        const int64_t g1 = std::min(groups, g0 + kGroupsPerChunk);
        for (int64_t r = r_begin; r < r_end; r += kGroupRows) {
            const bool more_rows = r + kGroupRows < r_end;
            for (int64_t g = g0; g < g1; ++g)
                run_tile<Tile, 4>(w, a, 4 * g, r, y, g == g0 + 1 && more_rows);
            if (g1 == groups) rest_tile<Tile>(w, a, 4 * groups, r, y, g1 - g0 == 1 && more_rows);
        }
    }
}

}  // namespace
}  // namespace llmopt::kernels::gemm::avx2
