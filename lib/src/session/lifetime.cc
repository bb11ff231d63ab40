#include "session/lifetime.h"

#include <algorithm>
#include <cstdint>
#include <functional>

#include <nlohmann/json.hpp>

namespace procmod {

Lifetime::Lifetime(std::vector<milliseconds> warnings) : warnings_(std::move(warnings)) {
  std::sort(warnings_.begin(), warnings_.end(), std::greater<>());
  warnings_.erase(std::unique(warnings_.begin(), warnings_.end()), warnings_.end());
  given_.assign(warnings_.size(), false);
}

void Lifetime::SetCommandEnd(TimePoint end) {
  const std::optional<TimePoint> before = End();
  command_end_ = end;
  const std::optional<TimePoint> after = End();
  if (!before || !after || *after <= *before) return;
  // Extended: a warning for a threshold now ahead of us again must be given again.
  for (size_t i = 0; i < warnings_.size(); ++i) {
    if (*after - warnings_[i] > *before - warnings_[i]) given_[i] = false;
  }
}

std::optional<TimePoint> Lifetime::End() const {
  const TimePoint end = std::min(session_end_, command_end_);
  if (end == TimePoint::max()) return std::nullopt;
  return end;
}

std::optional<milliseconds> Lifetime::Left(TimePoint now) const {
  const std::optional<TimePoint> end = End();
  if (!end) return std::nullopt;
  if (*end <= now) return milliseconds(0);
  return std::chrono::duration_cast<milliseconds>(*end - now);
}

bool Lifetime::Over(TimePoint now) const {
  const std::optional<TimePoint> end = End();
  return end && *end <= now;
}

std::optional<milliseconds> Lifetime::DueWarning(TimePoint now) {
  const std::optional<milliseconds> left = Left(now);
  if (!left || *left == milliseconds(0)) return std::nullopt;  // the end itself is Over()
  bool crossed = false;
  for (size_t i = 0; i < warnings_.size(); ++i) {
    if (given_[i] || *left > warnings_[i]) continue;
    given_[i] = true;
    crossed = true;
  }
  if (!crossed) return std::nullopt;
  return left;
}

namespace {
constexpr std::string_view kExpiresInMs = "expires_in_ms";
}  // namespace

std::string LifetimeNotice(milliseconds left) {
  return nlohmann::json{{kExpiresInMs, left.count()}}.dump();
}

std::optional<milliseconds> ParseLifetimeNotice(std::string_view text) {
  const nlohmann::json notice = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!notice.is_object()) return std::nullopt;  // also what a parse error gives (discarded)
  const auto left = notice.find(kExpiresInMs);
  if (left == notice.end() || !left->is_number()) return std::nullopt;
  if (left->is_number_unsigned()) {
    const uint64_t ms = left->get<uint64_t>();
    return milliseconds(static_cast<int64_t>(std::min<uint64_t>(ms, INT64_MAX)));
  }
  if (left->is_number_integer()) return milliseconds(std::max<int64_t>(left->get<int64_t>(), 0));
  // A fraction: whole milliseconds, within range (a cast of an out-of-range double is
  // undefined).
  const double ms = std::clamp(left->get<double>(), 0.0, 9.0e18);
  return milliseconds(static_cast<int64_t>(ms));
}

}  // namespace procmod
