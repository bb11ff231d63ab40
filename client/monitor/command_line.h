// command_line.h: procmod-monitor's subcommands and flags (CLI11).
//
//   CommandLine cl = ParseCommandLine(argc, argv);
//   if (cl.exit_code) return *cl.exit_code;   // --help/--version: 0, bad flags: 2
//   return Run(cl.invocation);
#ifndef PROCMOD_CLIENT_MONITOR_COMMAND_LINE_H_
#define PROCMOD_CLIENT_MONITOR_COMMAND_LINE_H_

#include <chrono>
#include <optional>
#include <string>

#include "procmod/exit_codes.h"  // 1: the endpoint answered no; 4: nothing answered
#include "procmod/options.h"

namespace procmod::monitor {

enum class Command { kList, kInfo, kKick, kServices };

struct Invocation {
  Command command = Command::kList;
  std::string endpoint;  // the admin endpoint, resolved from --admin/--name/env/default
  std::chrono::milliseconds timeout{2000};
  bool json = false;                               // list, info
  std::optional<std::chrono::milliseconds> watch;  // list: redraw period
  std::string session;                             // kick
  CurveOptions curve;  // --key, --server-key: for a tcp:// admin endpoint with CURVE
};

struct CommandLine {
  Invocation invocation;
  // Set when the program should exit now with it (help, version, or an error that
  // was already printed).
  std::optional<int> exit_code;
};

CommandLine ParseCommandLine(int argc, char** argv);

}  // namespace procmod::monitor

#endif  // PROCMOD_CLIENT_MONITOR_COMMAND_LINE_H_
