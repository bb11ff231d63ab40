#include "ping_stats.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace procmod::cli {
namespace {

double ToMs(std::chrono::nanoseconds d) { return static_cast<double>(d.count()) / 1e6; }

std::string Format(const char* format, double value) {
  char text[64];
  std::snprintf(text, sizeof text, format, value);
  return text;
}

}  // namespace

void PingStats::AddReply(std::chrono::nanoseconds rtt) { rtts_.push_back(rtt); }

void PingStats::AddLost() { ++lost_; }

double PingStats::LossPercent() const {
  if (sent() == 0) return 0;
  return 100.0 * static_cast<double>(lost_) / static_cast<double>(sent());
}

std::optional<RttSummary> PingStats::Rtt() const {
  if (rtts_.empty()) return std::nullopt;
  std::vector<std::chrono::nanoseconds> sorted = rtts_;
  std::sort(sorted.begin(), sorted.end());
  std::chrono::nanoseconds total{0};
  for (std::chrono::nanoseconds rtt : sorted) total += rtt;
  // Nearest rank: the ceil(0.99 n)-th smallest, so with fewer than 100 replies the
  // p99 is the maximum; no interpolation invents a time nobody measured.
  const size_t rank = static_cast<size_t>(std::ceil(0.99 * static_cast<double>(sorted.size())));
  RttSummary s;
  s.min_ms = ToMs(sorted.front());
  s.max_ms = ToMs(sorted.back());
  s.avg_ms = ToMs(total) / static_cast<double>(sorted.size());
  s.p99_ms = ToMs(sorted[std::max<size_t>(rank, 1) - 1]);
  return s;
}

std::string PingStats::Summary(std::string_view url) const {
  std::string out = "--- " + std::string(url) + " ping statistics ---\n";
  out += std::to_string(sent()) + " sent, " + std::to_string(received()) + " received, " +
         FormatPercent(LossPercent()) + " loss\n";
  if (std::optional<RttSummary> rtt = Rtt()) {
    out += "rtt min/avg/max/p99 = " + FormatMs(rtt->min_ms) + "/" + FormatMs(rtt->avg_ms) + "/" +
           FormatMs(rtt->max_ms) + "/" + FormatMs(rtt->p99_ms) + " ms\n";
  }
  return out;
}

std::string FormatMs(double ms) { return Format("%.3f", ms); }

std::string FormatPercent(double percent) {
  const double rounded = std::round(percent * 10) / 10;
  // Rounding must not hide a loss, nor invent a total one.
  if (percent > 0 && rounded == 0) return "<0.1%";
  if (percent < 100 && rounded == 100) return ">99.9%";
  if (rounded == std::floor(rounded)) return Format("%.0f", rounded) + "%";
  return Format("%.1f", rounded) + "%";
}

}  // namespace procmod::cli
