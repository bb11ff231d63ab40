// monitor.h: procmod-monitor's commands (list, info, kick), run against one admin
// endpoint through procmod::AdminRequest (procmod/admin_client.h).
//
// A command is one admin REQUEST, its result turned into a table, text or JSON on
// stdout; failures are one line on stderr ("procmod-monitor: ...") and an exit code
// (command_line.h). `list --watch` repeats `list` until SIGINT or SIGTERM.
#ifndef PROCMOD_CLIENT_MONITOR_MONITOR_H_
#define PROCMOD_CLIENT_MONITOR_MONITOR_H_

#include "command_line.h"

namespace procmod::monitor {

// Runs `invocation`'s command; returns the process exit code.
int Run(const Invocation& invocation);

}  // namespace procmod::monitor

#endif  // PROCMOD_CLIENT_MONITOR_MONITOR_H_
