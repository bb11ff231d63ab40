// fake_clock.h: a Clock that moves only when a test says so.
#ifndef PROCMOD_TEST_SUPPORT_FAKE_CLOCK_H_
#define PROCMOD_TEST_SUPPORT_FAKE_CLOCK_H_

#include "base/clock.h"

namespace procmod::testing {

class FakeClock final : public Clock {
 public:
  // Starts at an arbitrary non-zero instant so "time since epoch" is never 0.
  FakeClock() : now_(TimePoint(std::chrono::seconds(1000))) {}
  TimePoint Now() const override { return now_; }
  void Advance(Duration d) { now_ += d; }

 private:
  TimePoint now_;
};

}  // namespace procmod::testing

#endif  // PROCMOD_TEST_SUPPORT_FAKE_CLOCK_H_
