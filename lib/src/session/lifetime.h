// lifetime.h: when a server's life ends, and which warnings its clients are owed.
//
// A server's end comes from timeouts.session (fixed at start) or from what its
// lifetime command last said (ParaView's --timeout-command: the batch job's minutes
// left), whichever is sooner. Clients hear of it in WELCOME (`expires_in_ms`) and by
// DATA on channel "server" when the time left crosses each warning threshold
// (options.lifetime_warnings: 5 min and 1 min by default) and when the end comes.
//
// Pure state, no sockets; callers pass `now`. I/O thread only.
//
//   Lifetime life({minutes(5), minutes(1)});
//   life.SetCommandEnd(now + minutes(30));   // the command said "30"
//   if (auto left = life.DueWarning(now)) notify clients of *left;
//   if (life.Over(now)) end the run;
#ifndef PROCMOD_SRC_SESSION_LIFETIME_H_
#define PROCMOD_SRC_SESSION_LIFETIME_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"

namespace procmod {

class Lifetime {
 public:
  explicit Lifetime(std::vector<milliseconds> warnings);

  void SetSessionEnd(TimePoint end) { session_end_ = end; }
  // A new answer of the lifetime command. A later end than before (the job was
  // extended) re-arms the warnings that now lie ahead again.
  void SetCommandEnd(TimePoint end);

  // The sooner of the two ends; nullopt when there is none.
  std::optional<TimePoint> End() const;
  // Time left at `now` (zero once over); nullopt when there is no end.
  std::optional<milliseconds> Left(TimePoint now) const;
  bool Over(TimePoint now) const;
  // The time left when a threshold was crossed since the last call (what the
  // warning should say); each threshold once. Several crossed at once (a server
  // started with 30 s left) are one warning, not a burst.
  std::optional<milliseconds> DueWarning(TimePoint now);

 private:
  std::vector<milliseconds> warnings_;  // largest first
  std::vector<bool> given_;             // per threshold: already announced
  TimePoint session_end_ = TimePoint::max();
  TimePoint command_end_ = TimePoint::max();
};

// The DATA a server sends its clients on channel "server" (docs/PROTOCOL.md) when a
// warning is due: {"expires_in_ms": N}, N the time left. Both ends use this pair,
// so the text is written and read in one place, with a JSON library, never by hand.
std::string LifetimeNotice(milliseconds left);
// The time left such a notice tells (negative read as zero); nullopt for text that
// is not one (not JSON, no number under "expires_in_ms"). Never throws.
std::optional<milliseconds> ParseLifetimeNotice(std::string_view text);

}  // namespace procmod

#endif  // PROCMOD_SRC_SESSION_LIFETIME_H_
