// Private: how a matmul's threads share its output rows. Each thread streams one contiguous
// share, a chunk at a time; a thread whose share is done takes the back half of what is left
// of the largest other share, so the threads finish together without cutting every stream into
// many short ones. Which thread computes a row never changes its value.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>

namespace llmopt::kernels {

class RowShares {
public:
    // Rows [0, rows) among `threads` (at most kMaxThreads) in chunks of `chunk`; every split
    // point is a multiple of `grain`.
    RowShares(int64_t rows, int32_t threads, int64_t chunk, int64_t grain)
        : threads_(threads), chunk_(chunk), grain_(grain) {
        for (int32_t t = 0; t < threads; ++t) {
            shares_[t].next.store(split(rows * t / threads), std::memory_order_relaxed);
            shares_[t].end.store(split(rows * (t + 1) / threads), std::memory_order_relaxed);
        }
        shares_[threads - 1].end.store(rows, std::memory_order_relaxed);
    }

    static constexpr int32_t kMaxThreads = 64;

    // The next rows thread `id` computes, [begin, end); false when every row is taken.
    bool claim(int32_t id, int64_t& begin, int64_t& end) {
        if (take_chunk(shares_[id], begin, end)) return true;
        int64_t from = 0, to = 0;
        while (steal(id, from, to)) {
            Share& own = shares_[id];
            own.lock();
            own.next.store(from, std::memory_order_relaxed);
            own.end.store(to, std::memory_order_relaxed);
            own.unlock();
            if (take_chunk(own, begin, end)) return true;
        }
        return false;
    }

private:
    // next and end change only under the lock; they are atomic so that a thief may read them
    // without it to choose a victim.
    struct alignas(64) Share {
        std::atomic_flag busy = ATOMIC_FLAG_INIT;
        std::atomic<int64_t> next{0};
        std::atomic<int64_t> end{0};
        void lock() {
            while (busy.test_and_set(std::memory_order_acquire)) _mm_pause();
        }
        void unlock() { busy.clear(std::memory_order_release); }
    };

    int64_t split(int64_t row) const { return row / grain_ * grain_; }

    bool take_chunk(Share& s, int64_t& begin, int64_t& end) {
        s.lock();
        begin = s.next.load(std::memory_order_relaxed);
        end = std::min(s.end.load(std::memory_order_relaxed), begin + chunk_);
        s.next.store(end, std::memory_order_relaxed);
        s.unlock();
        return begin < end;
    }

    // Moves the back half of the largest other share's remaining rows (all of them when they
    // are less than two grains) out of it, into [from, to); false when no rows are left.
    bool steal(int32_t id, int64_t& from, int64_t& to) {
        for (;;) {
            int32_t victim = -1;
            int64_t most = 0;
            for (int32_t t = 0; t < threads_; ++t) {
                if (t == id) continue;
                // A racy read only picks the victim; the split below is made under its lock.
                const int64_t left = shares_[t].end.load(std::memory_order_relaxed) -
                                     shares_[t].next.load(std::memory_order_relaxed);
                if (left > most) {
                    most = left;
                    victim = t;
                }
            }
            if (victim < 0) return false;
            Share& v = shares_[victim];
            v.lock();
            const int64_t next = v.next.load(std::memory_order_relaxed);
            const int64_t left = v.end.load(std::memory_order_relaxed) - next;
            if (left > 0) {
                from = left < 2 * grain_ ? next : next + (left / 2 + grain_ - 1) / grain_ * grain_;
                to = v.end.load(std::memory_order_relaxed);
                v.end.store(from, std::memory_order_relaxed);
                v.unlock();
                return true;
            }
            v.unlock();
        }
    }

    int32_t threads_;
    int64_t chunk_;
    int64_t grain_;
    std::array<Share, kMaxThreads> shares_;
};

}  // namespace llmopt::kernels
