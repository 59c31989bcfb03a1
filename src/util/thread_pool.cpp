#include "llmopt/util/thread_pool.h"

#include <immintrin.h>

#include <algorithm>

namespace llmopt {
namespace {

// About 30-100 µs of pause instructions: longer than the gaps between the tasks of one forward
// pass, far shorter than the gaps between engine steps of an idle server.
constexpr int kSpins = 1 << 11;

// Returns once `a` no longer holds `old`: spinning first, then sleeping on the address.
template <typename T>
void await_change(const std::atomic<T>& a, T old) {
    for (int i = 0; i < kSpins; ++i) {
        if (a.load(std::memory_order_acquire) != old) return;
        _mm_pause();
    }
    while (a.load(std::memory_order_acquire) == old) a.wait(old, std::memory_order_acquire);
}

}  // namespace

int32_t ThreadPool::cores() { return int32_t(std::max(1u, std::thread::hardware_concurrency())); }

ThreadPool& ThreadPool::global() {
    static ThreadPool pool(cores());
    return pool;
}

ThreadPool::ThreadPool(int32_t threads) { start(threads); }

ThreadPool::~ThreadPool() { stop(); }

void ThreadPool::resize(int32_t threads) {
    std::lock_guard lock(busy_);
    stop();
    start(threads);
}

void ThreadPool::start(int32_t threads) {
    quit_.store(false);
    // Each worker starts from the generation current now, so a task published before it first
    // looks is still seen as new.
    const uint32_t now = generation_.load();
    for (int32_t id = 1; id < std::max(1, threads); ++id) workers_.emplace_back([this, id, now] { worker(id, now); });
}

void ThreadPool::stop() {
    if (workers_.empty()) return;
    quit_.store(true);
    generation_.fetch_add(1, std::memory_order_release);
    generation_.notify_all();
    for (std::thread& t : workers_) t.join();
    workers_.clear();
}

void ThreadPool::worker(int32_t id, uint32_t seen) {
    for (;;) {
        await_change(generation_, seen);
        seen = generation_.load(std::memory_order_acquire);
        if (quit_.load(std::memory_order_acquire)) return;
        if (id < n_) call_(fn_, id, n_);
        if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) pending_.notify_one();
    }
}

void ThreadPool::run_erased(int32_t threads, void* fn, Trampoline call) {
    const int32_t n = std::min(threads, size());
    std::unique_lock lock(busy_, std::try_to_lock);
    if (n <= 1 || !lock.owns_lock()) return call(fn, 0, 1);
    fn_ = fn;
    call_ = call;
    n_ = n;
    pending_.store(int32_t(workers_.size()), std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
    generation_.notify_all();
    call(fn, 0, n);
    for (int32_t left; (left = pending_.load(std::memory_order_acquire)) != 0;) await_change(pending_, left);
}

void ThreadPool::barrier(int32_t n) {
    if (n <= 1) return;
    const uint32_t phase = barrier_phase_.load(std::memory_order_acquire);
    if (barrier_arrived_.fetch_add(1, std::memory_order_acq_rel) + 1 == n) {
        barrier_arrived_.store(0, std::memory_order_relaxed);
        barrier_phase_.fetch_add(1, std::memory_order_release);
        barrier_phase_.notify_all();
        return;
    }
    await_change(barrier_phase_, phase);
}

}  // namespace llmopt
