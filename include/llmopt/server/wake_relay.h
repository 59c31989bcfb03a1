// Wakes the HTTP threads waiting on event queues from a thread of its own, so the engine
// thread, whose steps every stream waits for, does not pay a system call per token per stream.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "llmopt/server/event_queue.h"

namespace llmopt {

class WakeRelay {
public:
    WakeRelay();
    // Wakes what is still scheduled, then stops.
    ~WakeRelay();
    WakeRelay(const WakeRelay&) = delete;
    WakeRelay& operator=(const WakeRelay&) = delete;

    // Engine thread: `queue`'s waiter is woken soon. Costs a system call only when the relay
    // sleeps, not when it is still busy with the wake-ups scheduled just before.
    void schedule(std::shared_ptr<EventQueue> queue);

private:
    void run();

    std::mutex mutex_;
    std::condition_variable work_;
    std::vector<std::shared_ptr<EventQueue>> pending_;
    bool sleeping_ = false;
    bool stop_ = false;
    std::thread thread_;
};

}  // namespace llmopt
