// When a stream's HTTP thread is woken.
#include "llmopt/server/stream_wake_policy.h"

namespace llmopt {

bool StreamWakePolicy::wake(bool last, Clock::time_point now) {
    const bool first = !started_;
    started_ = true;
    ++since_wake_;
    const bool paced = pacing_.interval > 0 &&
                       (first || (since_wake_ >= pacing_.interval && now - last_wake_ >= pacing_.gap));
    if (!last && !paced) return false;
    since_wake_ = 0;
    last_wake_ = now;
    return true;
}

}  // namespace llmopt
