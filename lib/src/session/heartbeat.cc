#include "session/heartbeat.h"

#include <algorithm>

namespace procmod {

const Clock& Clock::Real() {
  class SteadyRealClock final : public Clock {
   public:
    TimePoint Now() const override { return SteadyClock::now(); }
  };
  static const SteadyRealClock clock;
  return clock;
}

pmp::Ping HeartbeatPolicy::MakePing(const PingEcho& echo, TimePoint now) {
  pmp::Ping ping;
  ping.t = ToMicros(now);
  if (echo.t) {
    ping.echo = *echo.t;
    const auto held = std::chrono::duration_cast<microseconds>(now - echo.received_at);
    ping.held = static_cast<uint64_t>(std::max<int64_t>(0, held.count()));
  }
  return ping;
}

std::optional<microseconds> HeartbeatPolicy::OnPing(const pmp::Ping& ping, TimePoint now,
                                                    PingEcho& echo) {
  echo.t = ping.t;
  echo.received_at = now;
  if (!ping.echo) return std::nullopt;
  const uint64_t now_us = ToMicros(now);
  const uint64_t held = ping.held.value_or(0);
  if (*ping.echo > now_us || held > now_us - *ping.echo) return std::nullopt;
  return microseconds(static_cast<int64_t>(now_us - *ping.echo - held));
}

Duration TickFor(const HeartbeatPolicy& heartbeat) {
  return std::clamp<Duration>(heartbeat.settings().interval / 4, milliseconds(1),
                              milliseconds(250));
}

bool HeartbeatTick::Due(TimePoint now) {
  if (now < next_) return false;  // woken by traffic, not by the clock
  next_ = now + period_;
  return true;
}

void HeartbeatTick::AtMost(Duration period, TimePoint now) {
  period_ = std::min(period_, period);
  next_ = std::min(next_, now + period_);
}

}  // namespace procmod
