// The thread that wakes HTTP threads for the engine thread.
#include "llmopt/server/wake_relay.h"

namespace llmopt {

WakeRelay::WakeRelay() : thread_([this] { run(); }) {}

WakeRelay::~WakeRelay() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    work_.notify_one();
    thread_.join();
}

void WakeRelay::schedule(std::shared_ptr<EventQueue> queue) {
    bool was_sleeping;
    {
        std::lock_guard lock(mutex_);
        pending_.push_back(std::move(queue));
        was_sleeping = sleeping_;
        sleeping_ = false;
    }
    if (was_sleeping) work_.notify_one();
}

void WakeRelay::run() {
    std::vector<std::shared_ptr<EventQueue>> batch;
    std::unique_lock lock(mutex_);
    for (;;) {
        if (pending_.empty()) {
            if (stop_) return;
            sleeping_ = true;
            work_.wait(lock, [&] { return !pending_.empty() || stop_; });
            sleeping_ = false;
            continue;
        }
        batch.swap(pending_);
        lock.unlock();
        for (const auto& queue : batch) queue->wake();
        batch.clear();
        lock.lock();
    }
}

}  // namespace llmopt
