// number_text.h: numbers as users type them, checked and described one way.
//
// A whole number in a YAML file (config.cc), on a tool's command line (lib/tool/) or
// in a URL's port (client/cli/) is digits only: no sign, no 0x, no spaces, so "-1"
// is refused instead of wrapping to 2^64-1. When a value is out of range, the
// message says the range in the same words wherever it was typed:
//
//   if (!AllDigits(text)) return "expected " + WholeNumberRange(1, 65535) + ", got ...";
//   "expected " + DurationRange(min, max)   // "a duration from 1ms to 24h"
#ifndef PROCMOD_SRC_CONFIG_NUMBER_TEXT_H_
#define PROCMOD_SRC_CONFIG_NUMBER_TEXT_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace procmod {

// Not empty, and nothing but the digits 0-9.
bool AllDigits(std::string_view text);

// "a whole number from 1 to 10"; with max UINT64_MAX, "a whole number of 0 or more"
// or "a whole number of at least MIN".
std::string WholeNumberRange(uint64_t min, uint64_t max);

// "a duration from 1ms to 24h" (FormatDuration's units); with max
// milliseconds::max(), "a duration of at least MIN".
std::string DurationRange(std::chrono::milliseconds min, std::chrono::milliseconds max);

}  // namespace procmod

#endif  // PROCMOD_SRC_CONFIG_NUMBER_TEXT_H_
