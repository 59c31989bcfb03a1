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
    // Engine thread: never blocks beyond the short lock.
    void push(int32_t choice, const RequestEvent& event);
    // HTTP thread: everything that has arrived, waiting up to `timeout` while nothing has (an
    // empty result lets the caller check on its client between events).
    std::vector<ChoiceEvent> pop(std::chrono::milliseconds timeout);

private:
    std::mutex mutex_;
    std::condition_variable arrived_;
    std::vector<ChoiceEvent> events_;
};

}  // namespace llmopt
