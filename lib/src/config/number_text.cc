#include "config/number_text.h"

#include <algorithm>
#include <limits>

#include "procmod/config.h"  // FormatDuration

namespace procmod {

bool AllDigits(std::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string WholeNumberRange(uint64_t min, uint64_t max) {
  if (max != std::numeric_limits<uint64_t>::max()) {
    return "a whole number from " + std::to_string(min) + " to " + std::to_string(max);
  }
  if (min == 0) return "a whole number of 0 or more";
  return "a whole number of at least " + std::to_string(min);
}

std::string DurationRange(std::chrono::milliseconds min, std::chrono::milliseconds max) {
  if (max == std::chrono::milliseconds::max()) {
    return "a duration of at least " + FormatDuration(min);
  }
  return "a duration from " + FormatDuration(min) + " to " + FormatDuration(max);
}

}  // namespace procmod
