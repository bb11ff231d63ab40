// command_line.h: procmod-server's flags (CLI11) over its YAML file (LoadConfig).
//
// The file gives the configuration, flags override it, and the result is checked as
// a whole, so `--check-config` and a real start reject exactly the same things.
//
//   CommandLine cl = ParseCommandLine(argc, argv);
//   if (cl.exit_code) return *cl.exit_code;      // --help/--version: 0, bad input: 2
//   return Serve(cl.options);
#ifndef PROCMOD_SERVER_COMMAND_LINE_H_
#define PROCMOD_SERVER_COMMAND_LINE_H_

#include <optional>

#include "procmod/options.h"
#include "procmod/status.h"

namespace procmod::server {

struct CommandLine {
  Options options;
  // Set when the program should exit now with it (help, version, --check-config,
  // or an error already printed).
  std::optional<int> exit_code;
};

CommandLine ParseCommandLine(int argc, char** argv);

// What a server configuration must satisfy beyond each key being valid on its own:
// a server role, a client_url in reverse mode, ... kInvalidArgument saying which key.
Status ValidateServerOptions(const Options& options);

}  // namespace procmod::server

#endif  // PROCMOD_SERVER_COMMAND_LINE_H_
