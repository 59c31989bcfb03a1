// When the engine thread wakes the HTTP thread that answers one request (one choice of it).
// A wake-up is a context switch on the server and a read on the client; when a small model
// generates a token per stream every millisecond they are most of the serving cost, so a
// stream's tokens may be sent a few at a time. A model slower than the pacing still sends each
// token as it comes.
#pragma once

#include <chrono>
#include <cstdint>

namespace llmopt {

// After a stream's first token, its HTTP thread is woken only once at least `interval` tokens
// and at least `gap` have passed since it was last woken, and for its last token.
struct StreamPacing {
    int32_t interval = 1;
    std::chrono::steady_clock::duration gap = std::chrono::milliseconds(5);
};

class StreamWakePolicy {
public:
    using Clock = std::chrono::steady_clock;

    // A stream paced by `pacing`.
    explicit StreamWakePolicy(const StreamPacing& pacing) : pacing_(pacing) {}
    // A whole response: woken for its last event only.
    static StreamWakePolicy at_end() { return StreamWakePolicy(StreamPacing{0, {}}); }

    // Called for every event, at `now`: whether this one wakes the HTTP thread.
    bool wake(bool last, Clock::time_point now);

private:
    StreamPacing pacing_;  // interval 0: at the end only
    bool started_ = false;    // an event has come
    int32_t since_wake_ = 0;  // events since the last wake-up
    Clock::time_point last_wake_{};
};

}  // namespace llmopt
