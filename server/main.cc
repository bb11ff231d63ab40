// procmod-server: the pvserver of procmod. Parses flags and YAML, then serves.
#include "command_line.h"
#include "serve.h"

int main(int argc, char** argv) {
  namespace srv = procmod::server;
  srv::CommandLine command = srv::ParseCommandLine(argc, argv);
  if (command.exit_code) return *command.exit_code;  // help/version 0, bad input 2
  return srv::Serve(command.options, &argc, &argv);
}
