// cli_support.h: the pure pieces of the procmod CLI: URL checks and how a failed
// connection is told to the user. No sockets, no I/O, so
// test/cli/ping_stats_test.cc covers them without a server.
#ifndef PROCMOD_CLI_CLI_SUPPORT_H_
#define PROCMOD_CLI_CLI_SUPPORT_H_

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "procmod/exit_codes.h"  // kExitOk, ... for every command
#include "procmod/process_module.h"
#include "procmod/result.h"
#include "procmod/status.h"

namespace procmod::cli {

// Where a URL is used: dialing a server needs a real port; binding may ask for 0.
enum class UrlUse { kConnect, kListen };

// Checks `url` is tcp://HOST:PORT (port 1-65535, or 0 when binding), ipc://PATH,
// broker+tcp://HOST:PORT/SERVICE (connecting) or one of ParaView's URLs: cs:// and
// cdsrs:// to connect, csrc:// and cdsrsrc:// to listen (lib/src/protocol/url.h) before
// ZeroMQ sees it: its own error ("Invalid argument") does not say what was expected,
// and it accepts tcp://host silently, never connecting.
Status CheckUrl(std::string_view url, UrlUse use);

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

// Why the server went away mid-session, for "lost URL: ...": how OnDisconnected
// said the session ended (`how`), or, when it did not say in time, the failed
// call's `error`. A BYE is told in the server's own words ("the server closed the
// session: closed by the administrator"), its control bytes shown as '?' so a
// server cannot drive the user's terminal.
std::string DescribeLoss(const std::optional<Disconnect>& how, const Status& error);

}  // namespace procmod::cli

#endif  // PROCMOD_CLI_CLI_SUPPORT_H_
