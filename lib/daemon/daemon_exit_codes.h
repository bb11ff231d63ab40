// daemon_exit_codes.h: how a daemon's end becomes its exit code.
//
// procmod/exit_codes.h holds the codes every procmod program shares; this is the
// daemons' side of the table, in one place: how a failure to start serving and the
// end of ProcessModule::Run() map to them (docs/ARCHITECTURE.md, "Exit codes").
// procmod-server uses both, procmod-broker the first (it runs until a signal). Two
// rules stay with the caller: a configuration the daemon refuses before it starts
// is 2 (kExitUsage), and a stop signal wins over everything, 0.
//
//   if (Status s = module->Start(); !s.ok()) return ExitCodeForStartFailure(s);
//   return signals.stopped() ? kExitOk : ExitCodeFor(module->Run());
#ifndef PROCMOD_DAEMON_DAEMON_EXIT_CODES_H_
#define PROCMOD_DAEMON_DAEMON_EXIT_CODES_H_

#include "procmod/exit_codes.h"
#include "procmod/process_module.h"  // RunEnd
#include "procmod/status.h"

namespace procmod {

// Could not start serving: bind, dial, handshake or be admitted (the server's
// Start()), or bind (the broker's relay). 5 when the peer said no (DENY, a refused
// CURVE key), 2 for a bad argument (an endpoint a check refused), else 4: nobody
// answered or the address is taken.
int ExitCodeForStartFailure(const Status& status);

// Why Run() returned: 0 when the client left or was let go (BYE, stop, session
// timeout), 3 when it went silent, 4 when none came or the peer could not be reached
// again, 5 when it refused us.
int ExitCodeFor(RunEnd end);

}  // namespace procmod

#endif  // PROCMOD_DAEMON_DAEMON_EXIT_CODES_H_
