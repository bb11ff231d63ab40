// exit_codes.h: the exit status of every procmod program.
//
// procmod-server, procmod-broker, procmod and procmod-monitor end with the same code
// for the same kind of failure, so a script or a batch system can act on it without
// knowing which tool ran: 4 always means "nobody answered in time", 5 always means
// "they answered no". A program embedding the library (server/'s procmod_server, an
// application's own daemon) uses the same table:
//
//   if (Status s = module->Start(); !s.ok()) return procmod::ExitCodeForConnectFailure(s);
//
// docs/CLI.md ("Exit status") lists them for users, once for all four tools.
#ifndef PROCMOD_EXIT_CODES_H_
#define PROCMOD_EXIT_CODES_H_

#include "procmod/status.h"

namespace procmod {

// Done: every ping answered, the client said BYE, stopped by a signal, --help.
inline constexpr int kExitOk = 0;
// The tool ran but not everything it was asked succeeded: ping lost replies, the
// admin endpoint refused a command (kick: no such session).
inline constexpr int kExitFailed = 1;
// Bad flags, URL or configuration; the message names the flag, or the file, line
// and key. Running again unchanged cannot help.
inline constexpr int kExitUsage = 2;
// The peer was there and went away: heartbeat expiry, a crash on the other side.
inline constexpr int kExitPeerLost = 3;
// Nobody answered: connection refused, no route, nothing within the timeout, no
// client came within timeouts.accept, a port already in use.
inline constexpr int kExitUnreachable = 4;
// The peer answered no: DENY (403 connect-id, 409 busy, 426 version, 503 full), a
// CURVE handshake it refused, or a method it refused.
inline constexpr int kExitDenied = 5;

// The exit code for a failure to connect, handshake or be admitted: 5 for a DENY or
// a refused CURVE handshake, 2 for a bad argument, 4 for everything else.
inline int ExitCodeForConnectFailure(const Status& status) {
  if (status.pmp_code() != 0 || status.IsPermissionDenied()) return kExitDenied;
  if (status.IsInvalidArgument()) return kExitUsage;
  return kExitUnreachable;
}

}  // namespace procmod

#endif  // PROCMOD_EXIT_CODES_H_
