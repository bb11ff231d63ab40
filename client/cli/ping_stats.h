// ping_stats.h: what `procmod ping` prints at the end, computed from what it saw:
//
//   --- tcp://127.0.0.1:11111 ping statistics ---
//   4 sent, 4 received, 0% loss
//   rtt min/avg/max/p99 = 0.101/0.150/0.213/0.213 ms
//
// Pure: no clock, no sockets; the caller measures each round trip.
#ifndef PROCMOD_CLI_PING_STATS_H_
#define PROCMOD_CLI_PING_STATS_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace procmod::cli {

// Round-trip times in milliseconds.
struct RttSummary {
  double min_ms = 0;
  double avg_ms = 0;
  double max_ms = 0;
  double p99_ms = 0;  // nearest rank: the smallest rtt >= 99% of all of them
};

class PingStats {
 public:
  void AddReply(std::chrono::nanoseconds rtt);
  void AddLost();

  uint64_t sent() const { return rtts_.size() + lost_; }
  uint64_t received() const { return rtts_.size(); }
  // Lost requests in percent of those sent; 0 when none was sent.
  double LossPercent() const;
  // Nothing when no reply came (ping(8) then prints no rtt line either).
  std::optional<RttSummary> Rtt() const;

  // The three summary lines (two without replies), each ending in '\n'.
  std::string Summary(std::string_view url) const;

 private:
  // Every rtt is kept for the p99: 8 bytes a reply, 700 KB for a day at 1/s.
  std::vector<std::chrono::nanoseconds> rtts_;
  uint64_t lost_ = 0;
};

// "0.213": milliseconds with three decimals, as ping(8) prints times.
std::string FormatMs(double ms);
// "0%", "25%", "33.3%": whole numbers without a fraction, else one decimal; "<0.1%"
// and ">99.9%" where rounding would say 0% or 100% and be wrong.
std::string FormatPercent(double percent);

}  // namespace procmod::cli

#endif  // PROCMOD_CLI_PING_STATS_H_
