// launch_command.h: `procmod launch PROFILE`: start a server from a profile
// (procmod/launch.h, docs/LAUNCH.md), show its progress, and then either print its
// URL and keep it until Ctrl-C, or run a command with PROCMOD_URL set and stop the
// server when the command ends. The server or job is stopped on every way out.
#ifndef PROCMOD_CLI_LAUNCH_COMMAND_H_
#define PROCMOD_CLI_LAUNCH_COMMAND_H_

#include <string>
#include <vector>

namespace procmod::cli {

struct LaunchFlags {
  std::string profile;               // a name, or a path to a .yaml file
  std::vector<std::string> sets;     // --set KEY=VALUE, applied to the profile
  std::string profiles_dir;          // --profiles DIR: look here instead
  std::vector<std::string> command;  // after --: run this, then stop the server
};

// The exit code: the command's, 0 after Ctrl-C once ready, 2 for a bad profile,
// 4 when the server could not be started or was not ready in time, 1 when
// cancelled before it was ready.
int Launch(const LaunchFlags& flags);

}  // namespace procmod::cli

#endif  // PROCMOD_CLI_LAUNCH_COMMAND_H_
