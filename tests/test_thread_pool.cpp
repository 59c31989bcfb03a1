// The forward pass's thread pool: every id runs once per task, barriers order the phases, a
// second caller never waits for the first, and the pool survives many tiny tasks.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "llmopt/util/thread_pool.h"

namespace llmopt {
namespace {

TEST(ThreadPool, EveryIdRunsOncePerTask) {
    ThreadPool pool(3);
    EXPECT_EQ(pool.size(), 3);
    for (int32_t threads : {1, 2, 3, 8}) {
        std::vector<std::atomic<int>> hits(8);
        std::atomic<int32_t> seen_n{0};
        pool.run(threads, [&](int32_t id, int32_t n) {
            ++hits[id];
            seen_n = n;
        });
        const int32_t n = std::min(threads, 3);
        EXPECT_EQ(seen_n.load(), n);
        for (int32_t id = 0; id < 8; ++id) EXPECT_EQ(hits[id].load(), id < n ? 1 : 0) << threads << " " << id;
    }
}

TEST(ThreadPool, BarrierSeparatesPhases) {
    ThreadPool pool(4);
    std::vector<int> written(4, 0);
    std::atomic<int> wrong{0};
    for (int round = 0; round < 200; ++round) {
        pool.run(4, [&](int32_t id, int32_t n) {
            written[id] = round;
            pool.barrier(n);
            for (int32_t j = 0; j < n; ++j)
                if (written[j] != round) ++wrong;
            pool.barrier(n);
        });
    }
    EXPECT_EQ(wrong.load(), 0);
}

TEST(ThreadPool, ManyTinyTasksAndResize) {
    ThreadPool pool(2);
    std::atomic<int64_t> sum{0};
    for (int i = 0; i < 20000; ++i) pool.run(2, [&](int32_t id, int32_t) { sum += id + 1; });
    EXPECT_EQ(sum.load(), 20000 * 3);
    pool.resize(1);
    EXPECT_EQ(pool.size(), 1);
    pool.run(4, [&](int32_t id, int32_t n) { sum += 100 * (n + id); });
    EXPECT_EQ(sum.load(), 20000 * 3 + 100);
}

TEST(ThreadPool, ASecondCallerRunsItsTaskAlone) {
    ThreadPool pool(2);
    std::atomic<bool> inside{false}, release{false};
    std::thread first([&] {
        pool.run(2, [&](int32_t id, int32_t) {
            if (id != 0) return;
            inside = true;
            while (!release) std::this_thread::yield();
        });
    });
    while (!inside) std::this_thread::yield();
    int32_t n_seen = 0;
    pool.run(2, [&](int32_t, int32_t n) { n_seen = n; });  // must not wait for `first`
    EXPECT_EQ(n_seen, 1);
    release = true;
    first.join();
}

}  // namespace
}  // namespace llmopt
