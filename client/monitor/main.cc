// procmod-monitor: lists the live connections of a procmod process, describes it and
// ends sessions, through its admin endpoint (docs/MONITOR.md).
#include "command_line.h"
#include "monitor.h"

int main(int argc, char** argv) {
  namespace mon = procmod::monitor;
  mon::CommandLine command = mon::ParseCommandLine(argc, argv);
  if (command.exit_code) return *command.exit_code;  // help/version 0, bad flags 2
  return mon::Run(command.invocation);
}
