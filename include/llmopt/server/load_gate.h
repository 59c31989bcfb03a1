// Admission control and drain for the server: engine requests in flight are capped (beyond the
// cap a request is turned away with 503 rather than queued without bound), and shutdown waits for
// the generation requests in progress before it stops anything.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace llmopt {

class LoadGate {
public:
    enum class Admission { kAdmitted, kFull, kDraining };

    explicit LoadGate(int32_t max_in_flight);

    // Reserves `n` engine-request slots for a new HTTP generation request. kAdmitted also opens
    // a handler (closed by leave()).
    Admission admit(int32_t n);
    // An engine request ended (its last event), or was never submitted: its slot is free.
    void release(int32_t n);
    // The HTTP generation request is done with its client (the response is written or abandoned).
    void leave();

    // From now on every admit() answers kDraining.
    void begin_drain();
    bool draining() const;
    // Asks the handlers still running to cancel their engine requests (the drain timed out).
    void cancel_all();
    bool cancelling() const;
    // Until no handler is open and no engine request in flight, or the deadline; true if idle.
    bool wait_idle(std::chrono::steady_clock::time_point deadline);

    int32_t in_flight() const;
    int32_t limit() const { return max_in_flight_; }

private:
    const int32_t max_in_flight_;
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    int32_t in_flight_ = 0;  // engine requests admitted and not ended
    int32_t handlers_ = 0;   // HTTP generation requests not done with their client
    bool draining_ = false;
    bool cancelling_ = false;
};

}  // namespace llmopt
