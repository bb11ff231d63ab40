// procmod: the client CLI. Parses flags (command_line.cc), then runs one command.
#include "command_line.h"

int main(int argc, char** argv) {
  namespace cli = procmod::cli;
  cli::CommandLine command = cli::ParseCommandLine(argc, argv);
  if (command.exit_code) return *command.exit_code;  // help/version 0, bad flags 2
  return cli::RunCommand(command);
}
