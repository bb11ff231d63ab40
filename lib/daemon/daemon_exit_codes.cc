#include "daemon_exit_codes.h"

namespace procmod {

// The same rule as a tool's failed connect: a daemon starting is a peer connecting.
int ExitCodeForStartFailure(const Status& status) { return ExitCodeForConnectFailure(status); }

int ExitCodeFor(RunEnd end) {
  switch (end) {
    case RunEnd::kPeerLost:
      return kExitPeerLost;
    case RunEnd::kAcceptTimeout:
    case RunEnd::kUnreachable:
      return kExitUnreachable;
    case RunEnd::kDenied:
      return kExitDenied;
    case RunEnd::kStopped:
    case RunEnd::kPeerLeft:
    case RunEnd::kSessionTimeout:
      return kExitOk;
  }
  return kExitOk;
}

}  // namespace procmod
