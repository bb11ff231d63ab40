// daemon_command_line.h: the start every daemon's command line shares.
//
// procmod-server and procmod-broker read their configuration the same way: CLI11
// set up as for every procmod tool (lib/tool/tool_cli.h: one-line usage errors,
// -V/--version), a description and a footer of man-page sections, -c/--config FILE
// first, the daemon's own flags, then the four every daemon ends with (--admin,
// --log-level, --log-format, --check-config); then the YAML file loaded with
// LoadConfig (all defaults without --config), the log flags over it. The daemon
// applies its own flags and --admin (admin_flag) where its rules say, and checks the
// whole; a check that fails names the file's line of the key it is about
// (file().Where) and goes through Fail, so every message is one line, "NAME: what is
// wrong", and exit 2.
//
//   DaemonCommandLine command_line("procmod-broker", kDescription, kFooter);
//   DefineFlags(command_line.app(), flags);  // the daemon's own flags
//   Options options;
//   if (std::optional<int> done = command_line.ParseAndLoad(argc, argv, options)) {
//     return *done;  // --help, --version: 0; a bad flag or file: 2, already printed
//   }
//   if (options.listen.empty()) {
//     return command_line.Fail(command_line.file().Where({"listen"}) + "listen: ...");
//   }
#ifndef PROCMOD_DAEMON_DAEMON_COMMAND_LINE_H_
#define PROCMOD_DAEMON_DAEMON_COMMAND_LINE_H_

#include <optional>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

#include "config_keys.h"
#include "procmod/options.h"

namespace procmod {

class DaemonCommandLine {
 public:
  // `name` is the program's ("procmod-server"): CLI11's app name and the prefix of
  // every message.
  DaemonCommandLine(std::string name, std::string description, std::string footer);

  DaemonCommandLine(const DaemonCommandLine&) = delete;
  DaemonCommandLine& operator=(const DaemonCommandLine&) = delete;

  // For the daemon's own flags and, after ParseAndLoad, app().count("--flag").
  CLI::App& app() { return app_; }
  const CLI::App& app() const { return app_; }

  // Adds the flags every daemon ends with, parses argv, then loads --config FILE (or
  // the defaults) into `options` and applies --log-level and --log-format. nullopt:
  // go on. Otherwise the daemon is done, with this exit code: 0 after --help or
  // --version, 2 after a usage error or a configuration LoadConfig refused (printed
  // as one line on stderr).
  std::optional<int> ParseAndLoad(int argc, const char* const* argv, Options& options);

  // The admin endpoint --admin gave ("" for 'none'); nullopt without --admin.
  std::optional<std::string> admin_flag() const;
  // --check-config: print the effective configuration and exit 0.
  bool check_config() const { return check_config_; }

  // The keys of the --config file; without --config, none. Valid after ParseAndLoad.
  const ConfigKeys& file() const { return file_; }

  // Prints "NAME: MESSAGE" on stderr and returns 2 (kExitUsage).
  int Fail(std::string_view message) const;

 private:
  // --admin, --log-level, --log-format, --check-config, after the daemon's own.
  void DefineSharedFlags();

  CLI::App app_;
  std::string config_path_;
  std::string admin_, log_level_, log_format_;
  bool check_config_ = false;
  ConfigKeys file_;
};

}  // namespace procmod

#endif  // PROCMOD_DAEMON_DAEMON_COMMAND_LINE_H_
