// readiness.h: telling systemd (or any supervisor speaking its protocol) that the
// server is ready, so a unit can be Type=notify and nothing needs a sleep.
//
// sd_notify's wire format is one datagram of "KEY=VALUE" lines sent to the
// AF_UNIX socket named by $NOTIFY_SOCKET (a path, or '@' for the abstract
// namespace). Written here rather than linking libsystemd: it is a few lines.
//
//   NotifySupervisor("READY=1");     // after the ready line
//   NotifySupervisor("STOPPING=1");  // when shutting down
#ifndef PROCMOD_SERVER_READINESS_H_
#define PROCMOD_SERVER_READINESS_H_

#include <string_view>

namespace procmod::server {

// Sends `state` to $NOTIFY_SOCKET. False when the variable is unset (nobody asked)
// or the datagram could not be sent; never fatal.
bool NotifySupervisor(std::string_view state);

}  // namespace procmod::server

#endif  // PROCMOD_SERVER_READINESS_H_
