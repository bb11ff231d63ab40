// heartbeat.h: when a side must PING, when a peer is gone, and the RTT a PING shows.
//
// PMP/1 (docs/PROTOCOL.md §Heartbeat): a side sends PING when it has sent nothing for
// `interval`; any well-formed message received counts as life; a peer is gone after
// `interval * liveness` of silence. RTT comes from PING's t/echo/held: A sends t; B
// remembers it and, in its next PING, echoes it with `held`, the time it kept it; A
// then measures now - echo - held, which excludes B's idle time.
//
// Pure: no sockets, no clock of its own. Callers pass `now`. Thread-compatible.
//
//   HeartbeatPolicy policy({.interval = 1000ms, .liveness = 3});
//   if (policy.IsExpired(peer.last_seen, now)) drop the peer (reason "expired");
//   if (policy.ShouldPing(peer.last_sent, now)) send policy.MakePing(peer.echo, now);
#ifndef PROCMOD_SRC_SESSION_HEARTBEAT_H_
#define PROCMOD_SRC_SESSION_HEARTBEAT_H_

#include <cstdint>
#include <optional>

#include "base/clock.h"
#include "protocol/codec.h"

namespace procmod {

struct HeartbeatSettings {
  milliseconds interval{1000};
  uint32_t liveness = 3;
};

// What a side remembers of the peer's last PING so it can echo it.
struct PingEcho {
  std::optional<uint64_t> t;  // the peer's last `t`
  TimePoint received_at{};    // when it arrived here
};

class HeartbeatPolicy {
 public:
  explicit HeartbeatPolicy(HeartbeatSettings settings) : settings_(settings) {}

  const HeartbeatSettings& settings() const { return settings_; }
  Duration ExpiryAfter() const { return settings_.interval * settings_.liveness; }

  // True when nothing has been sent to the peer for a whole interval.
  bool ShouldPing(TimePoint last_sent, TimePoint now) const {
    return now - last_sent >= settings_.interval;
  }
  // True when nothing well-formed has come from the peer for interval * liveness.
  bool IsExpired(TimePoint last_seen, TimePoint now) const {
    return now - last_seen >= ExpiryAfter();
  }
  TimePoint NextPingAt(TimePoint last_sent) const { return last_sent + settings_.interval; }
  TimePoint ExpiresAt(TimePoint last_seen) const { return last_seen + ExpiryAfter(); }

  // The PING to send at `now`, echoing the peer's last `t` when there is one.
  static pmp::Ping MakePing(const PingEcho& echo, TimePoint now);

  // Records an incoming PING's `t` for echoing, and returns the round trip its
  // echo/held show, or nothing when it carries no echo or the numbers are absurd
  // (an echo from the future, or held longer than the round trip).
  static std::optional<microseconds> OnPing(const pmp::Ping& ping, TimePoint now, PingEcho& echo);

 private:
  HeartbeatSettings settings_;
};

// How often a loop checks heartbeats and expiry: four times per interval (within
// 1 to 250 ms), so a PING goes out at most a quarter interval late and a silent peer
// is noticed within a quarter interval of its deadline.
Duration TickFor(const HeartbeatPolicy& heartbeat);

// The once-per-tick gate of a loop's heartbeat work (PINGs, expiry). The loop wakes
// for traffic too; Due() says whether this wake-up is also a tick, and next() is
// when to wake at the latest.
//
//   HeartbeatTick tick(TickFor(policy));
//   tick.Start(now);                      // the first tick, a period from now
//   poll(..., PollTimeout(now, tick.next()));
//   if (tick.Due(clock.Now())) { expire the silent, PING the idle }
class HeartbeatTick {
 public:
  explicit HeartbeatTick(Duration period) : period_(period) {}

  void Start(TimePoint now) { next_ = now + period_; }
  // True when a tick is due at `now`; the next one is then due a period later.
  bool Due(TimePoint now);
  // From now on ticks at least every `period`, the next one at most that far from
  // `now` (a link adopted a shorter heartbeat than the loop ticks for).
  void AtMost(Duration period, TimePoint now);

  TimePoint next() const { return next_; }
  Duration period() const { return period_; }

 private:
  Duration period_;
  TimePoint next_{};
};

}  // namespace procmod

#endif  // PROCMOD_SRC_SESSION_HEARTBEAT_H_
