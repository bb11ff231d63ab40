// command_line.h: procmod-broker's flags (CLI11) over its YAML file (LoadConfig).
//
// The broker reads the same configuration schema as every procmod daemon
// (docs/CONFIGURATION.md) and uses these keys of it: name, listen, heartbeat, limits,
// admin, log, linger and timeouts.handshake. Other keys load (the schema is one) and
// are reported as ignored. Its own defaults differ from a server's: name
// procmod-broker, listen tcp://127.0.0.1:5570, admin DefaultAdminEndpoint(name).
// Flags override the file, and the result is checked as a whole, so --check-config
// and a real start reject exactly the same things.
//
//   CommandLine cl = ParseCommandLine(argc, argv);
//   if (cl.exit_code) return *cl.exit_code;  // --help/--version/--check-config: 0, bad: 2
//   ... Relay::Create(cl.options) ...
#ifndef PROCMOD_BROKER_COMMAND_LINE_H_
#define PROCMOD_BROKER_COMMAND_LINE_H_

#include <optional>
#include <string>
#include <vector>

#include "procmod/exit_codes.h"
#include "procmod/options.h"

namespace procmod::broker {

inline constexpr const char* kDefaultName = "procmod-broker";
inline constexpr const char* kDefaultListen = "tcp://127.0.0.1:5570";

struct CommandLine {
  Options options;
  // Top-level keys the file gives that a broker does not use (for a warning).
  std::vector<std::string> ignored_keys;
  // Set when the program should exit now with it (help, version, --check-config, or
  // an error already printed on stderr).
  std::optional<int> exit_code;
};

CommandLine ParseCommandLine(int argc, char** argv);

}  // namespace procmod::broker

#endif  // PROCMOD_BROKER_COMMAND_LINE_H_
