// cli_support.h: the pure pieces of the procmod CLI: exit codes, URL checks, time
// flags, and how a failed connection is told to the user. No sockets, no I/O, so
// test/cli/ping_stats_test.cc covers them without a server.
#ifndef PROCMOD_CLI_CLI_SUPPORT_H_
#define PROCMOD_CLI_CLI_SUPPORT_H_

#include <chrono>
#include <string>
#include <string_view>

#include "procmod/result.h"
#include "procmod/status.h"

namespace procmod::cli {

// The daemons' exit codes (docs/ARCHITECTURE.md), plus 1 for lost pings as ping(8) has it.
inline constexpr int kExitOk = 0;
inline constexpr int kExitLost = 1;         // ping: some replies never came
inline constexpr int kExitUsage = 2;        // bad flags or URL
inline constexpr int kExitPeerLost = 3;     // the server went away mid-session
inline constexpr int kExitUnreachable = 4;  // could not reach / nobody came in time
inline constexpr int kExitDenied = 5;       // DENY (403, 409, 426, 503) or refused method

// Where a URL is used: dialing a server needs a real port; binding may ask for 0.
enum class UrlUse { kConnect, kListen };

// Checks `url` is tcp://HOST:PORT (port 1-65535, or 0 when binding), ipc://PATH,
// broker+tcp://HOST:PORT/SERVICE (connecting) or one of ParaView's URLs: cs:// and
// cdsrs:// to connect, csrc:// and cdsrsrc:// to listen (lib/src/url.h) before
// ZeroMQ sees it: its own error ("Invalid argument") does not say what was expected,
// and it accepts tcp://host silently, never connecting.
Status CheckUrl(std::string_view url, UrlUse use);

// A time flag the way ping(8) takes one: a bare number is seconds and may have a
// fraction ("0.2", "2"); otherwise a duration with a unit ("200ms", "1s", "5m").
Result<std::chrono::milliseconds> ParseTime(std::string_view text);

// "10s" for whole seconds, else "500ms": the syntax ParseTime reads back.
std::string FormatDuration(std::chrono::milliseconds duration);

// One line for the user and the exit code for it.
struct Failure {
  int exit_code;
  std::string message;  // without the "procmod: " prefix
};

// Why Client::Connect() to `url` (kConnect) or WaitForServer() on `url` (kListen)
// failed, given how long it was allowed to take: DENY -> 5 with its code, timeout or
// unreachable -> 4, bad URL or a peer of the wrong role -> 2.
Failure DescribeConnectFailure(const Status& status, std::string_view url, UrlUse use,
                               std::chrono::milliseconds timeout);

}  // namespace procmod::cli

#endif  // PROCMOD_CLI_CLI_SUPPORT_H_
