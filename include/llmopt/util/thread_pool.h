// The worker threads of the forward pass: one process-wide pool whose workers spin briefly for
// the next task and then sleep. A decode step hands out a few hundred tasks microseconds apart,
// so waking a sleeping thread for each (a futex round trip, a whole time slice when the cores
// are shared) would cost more than the task; spinning forever, as OpenMP's default policy does,
// burns a core the server's HTTP threads need between steps.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace llmopt {

class ThreadPool {
public:
    // The pool the kernels use; starts with one thread per core.
    static ThreadPool& global();
    // Threads the machine runs at once (at least 1): the default size.
    static int32_t cores();

    explicit ThreadPool(int32_t threads);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    // Threads a task may use, the caller included (at least 1).
    int32_t size() const { return int32_t(workers_.size()) + 1; }
    // Replaces the workers; not while a task runs.
    void resize(int32_t threads);

    // Runs fn(id, n) for id = 0 ... n - 1 on n = min(threads, size()) threads, id 0 on the calling
    // thread, and returns when all have returned. A call made while another task holds the pool
    // (from another thread) runs its whole task on the calling thread as fn(0, 1).
    template <typename Fn>
    void run(int32_t threads, Fn&& fn) {
        run_erased(threads, &fn, [](void* f, int32_t id, int32_t n) { (*static_cast<Fn*>(f))(id, n); });
    }

    // Inside a task of n threads (the n it was given): returns once all n have called it.
    void barrier(int32_t n);

private:
    using Trampoline = void (*)(void*, int32_t, int32_t);
    void run_erased(int32_t threads, void* fn, Trampoline call);
    void worker(int32_t id, uint32_t seen);
    void start(int32_t threads);
    void stop();

    std::vector<std::thread> workers_;
    std::mutex busy_;  // held by the thread whose task runs

    // The current task, published by a new value of generation_.
    void* fn_ = nullptr;
    Trampoline call_ = nullptr;
    int32_t n_ = 1;
    std::atomic<uint32_t> generation_{0};
    std::atomic<int32_t> pending_{0};  // workers of the task not finished yet
    std::atomic<bool> quit_{false};

    std::atomic<int32_t> barrier_arrived_{0};
    std::atomic<uint32_t> barrier_phase_{0};
};

}  // namespace llmopt
