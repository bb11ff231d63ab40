// command_line.h: the flags of `procmod` (CLI11), its man-page-like --help, and the
// dispatch to commands.h. Parsing never connects anywhere.
#ifndef PROCMOD_CLI_COMMAND_LINE_H_
#define PROCMOD_CLI_COMMAND_LINE_H_

#include <optional>
#include <string>

#include "commands.h"
#include "launch_command.h"

namespace procmod::cli {

enum class Command { kPing, kConnect, kWait, kSend, kKeygen, kLaunch };

struct CommandLine {
  // Set when the program is done already: 0 after --help/--version, 2 for bad flags
  // (the line is printed).
  std::optional<int> exit_code;
  Command command = Command::kPing;
  GlobalFlags global;
  PingFlags ping;
  std::string url;  // connect: the server; wait: where to listen
  // ping, connect, send: instead of the URL, the connection file a server wrote.
  std::string connection_file;
  SendFlags send;
  KeygenFlags keygen;
  LaunchFlags launch;
};

CommandLine ParseCommandLine(int argc, char** argv);

// Runs the parsed command; its exit code.
int RunCommand(const CommandLine& command);

}  // namespace procmod::cli

#endif  // PROCMOD_CLI_COMMAND_LINE_H_
