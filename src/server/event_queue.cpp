// The engine-to-HTTP event hand-off of one request.
#include "llmopt/server/event_queue.h"

namespace llmopt {

void EventQueue::push(int32_t choice, const RequestEvent& event) {
    std::lock_guard lock(mutex_);
    events_.push_back({choice, event});
}

void EventQueue::wake() { arrived_.notify_one(); }

std::vector<ChoiceEvent> EventQueue::pop(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    arrived_.wait_for(lock, timeout, [&] { return !events_.empty(); });
    std::vector<ChoiceEvent> out;
    out.swap(events_);
    return out;
}

}  // namespace llmopt
