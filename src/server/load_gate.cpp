// Admission control and drain accounting.
#include "llmopt/server/load_gate.h"

namespace llmopt {

LoadGate::LoadGate(int32_t max_in_flight) : max_in_flight_(max_in_flight) {}

LoadGate::Admission LoadGate::admit(int32_t n) {
    std::lock_guard lock(mutex_);
    if (draining_) return Admission::kDraining;
    if (in_flight_ + n > max_in_flight_) return Admission::kFull;
    in_flight_ += n;
    ++handlers_;
    return Admission::kAdmitted;
}

void LoadGate::release(int32_t n) {
    {
        std::lock_guard lock(mutex_);
        in_flight_ -= n;
    }
    changed_.notify_all();
}

void LoadGate::leave() {
    {
        std::lock_guard lock(mutex_);
        --handlers_;
    }
    changed_.notify_all();
}

void LoadGate::begin_drain() {
    std::lock_guard lock(mutex_);
    draining_ = true;
}

bool LoadGate::draining() const {
    std::lock_guard lock(mutex_);
    return draining_;
}

void LoadGate::cancel_all() {
    std::lock_guard lock(mutex_);
    cancelling_ = true;
}

bool LoadGate::cancelling() const {
    std::lock_guard lock(mutex_);
    return cancelling_;
}

bool LoadGate::wait_idle(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(mutex_);
    return changed_.wait_until(lock, deadline, [&] { return in_flight_ == 0 && handlers_ == 0; });
}

int32_t LoadGate::in_flight() const {
    std::lock_guard lock(mutex_);
    return in_flight_;
}

}  // namespace llmopt
