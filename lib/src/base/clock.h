// clock.h: the time source of heartbeats, expiry and timeouts.
//
// Everything that decides by time takes a Clock, so tests drive time with a fake
// clock (test/support/fake_clock.h) instead of waiting for it. The real clock is
// std::chrono::steady_clock: monotonic, never jumps with the wall clock.
#ifndef PROCMOD_SRC_BASE_CLOCK_H_
#define PROCMOD_SRC_BASE_CLOCK_H_

#include <chrono>
#include <cstdint>

namespace procmod {

using SteadyClock = std::chrono::steady_clock;
using TimePoint = SteadyClock::time_point;
using Duration = SteadyClock::duration;
using std::chrono::microseconds;
using std::chrono::milliseconds;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;

  // The process-wide steady clock. Never null, never destroyed.
  static const Clock& Real();
};

// Time until `deadline` for a poll, in whole milliseconds, rounded up so a loop never
// wakes a hair early and spins; -1 (no limit) for TimePoint::max().
inline milliseconds PollTimeout(TimePoint now, TimePoint deadline) {
  if (deadline == TimePoint::max()) return milliseconds(-1);
  if (deadline <= now) return milliseconds(0);
  return std::chrono::ceil<milliseconds>(deadline - now);
}

// `timeout` after `now`; TimePoint::max() (never) for a timeout of 0, which means
// "no limit" throughout the options.
inline TimePoint DeadlineAfter(TimePoint now, Duration timeout) {
  return timeout.count() > 0 ? now + timeout : TimePoint::max();
}

// Microseconds since the clock's epoch: the `t` of a PING.
inline uint64_t ToMicros(TimePoint t) {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<microseconds>(t.time_since_epoch()).count());
}

}  // namespace procmod

#endif  // PROCMOD_SRC_BASE_CLOCK_H_
