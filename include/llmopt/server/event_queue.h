// Hands engine events of one HTTP request (one engine request per choice) from the engine thread,
// which must never block on a client, to the HTTP thread that answers it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <vector>

#include "llmopt/engine/engine.h"

namespace llmopt {

struct ChoiceEvent {
    int32_t choice;
    RequestEvent event;
};

class EventQueue {
public:
    // Engine thread: never blocks beyond the short lock. The waiter is not woken: the event
    // waits for the next wake() (or for the waiter's timeout), since a wake-up costs a context
    // switch, which per token and stream is most of a small model's serving cost.
    void push(int32_t choice, const RequestEvent& event);
    // Wakes the waiter, if any, to take what has been pushed.
    void wake();
    // HTTP thread: everything that has arrived, waiting up to `timeout` while nothing has (an
    // empty result lets the caller check on its client between events).
    std::vector<ChoiceEvent> pop(std::chrono::milliseconds timeout);

private:
    std::mutex mutex_;
    std::condition_variable arrived_;
    std::vector<ChoiceEvent> events_;
};

}  // namespace llmopt
