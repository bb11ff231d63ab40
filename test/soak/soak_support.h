// soak_support.h: what the soak tests (label "soak") share beyond test/support/:
// their sizes from the environment, a daemon's footprint read from /proc (RSS, open
// descriptors; support/proc_stats.h), an admin endpoint's answer as JSON, and the "soak:" lines
// they print their figures with (shown by ctest -V or --output-on-failure).
#ifndef PROCMOD_TEST_SOAK_SOAK_SUPPORT_H_
#define PROCMOD_TEST_SOAK_SOAK_SUPPORT_H_

#include <sys/types.h>

#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "procmod/admin_client.h"
#include "support/proc_stats.h"  // RssKib, OpenFds

namespace procmod::testing {

// The environment variable `name` as a positive number, else `fallback`: CI and
// sanitizer builds turn the sizes down without a rebuild.
inline long SoakSize(const char* name, long fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  return (end != nullptr && *end == '\0' && value > 0) ? value : fallback;
}

// One "soak: ..." line on stdout, flushed at once so it survives a crash after it.
[[gnu::format(printf, 1, 2)]] inline void SoakPrint(const char* format, ...) {
  std::va_list args;
  va_start(args, format);
  std::fputs("soak: ", stdout);
  std::vprintf(format, args);
  std::fputc('\n', stdout);
  std::fflush(stdout);
  va_end(args);
}

// The result of admin method `method` at `endpoint`, decoded; nothing when no REPLY
// (or an error REPLY) came within `timeout`.
inline std::optional<nlohmann::json> AdminJson(
    const std::string& endpoint, const std::string& method,
    std::chrono::milliseconds timeout = std::chrono::milliseconds(3000)) {
  Result<Reply> reply = AdminRequest(endpoint, method, {}, timeout);
  if (!reply.ok()) return std::nullopt;
  nlohmann::json value = nlohmann::json::from_msgpack(reply->result, /*strict=*/true,
                                                      /*allow_exceptions=*/false);
  if (value.is_discarded()) return std::nullopt;
  return value;
}

}  // namespace procmod::testing

#endif  // PROCMOD_TEST_SOAK_SOAK_SUPPORT_H_
