#include "daemon_command_line.h"

#include <cstdio>
#include <utility>

#include "procmod/config.h"
#include "procmod/exit_codes.h"
#include "tool_cli.h"

namespace procmod {

DaemonCommandLine::DaemonCommandLine(std::string name, std::string description, std::string footer)
    : app_(std::move(description), std::move(name)) {
  tool::SetUp(app_, 40);  // the daemons' flags are long: --disable-further-connections
  app_.footer(std::move(footer));
  app_.add_option("-c,--config", config_path_, "YAML configuration file")->type_name("FILE");
}

void DaemonCommandLine::DefineSharedFlags() {
  app_.add_option("--admin", admin_, "admin endpoint, or 'none'")->type_name("ENDPOINT");
  app_.add_option("--log-level", log_level_, "trace, debug, info, warn, error or off")
      ->type_name("LEVEL")
      ->check(tool::OneOf({"trace", "debug", "info", "warn", "error", "off"}));
  app_.add_option("--log-format", log_format_, "text or json")
      ->type_name("FORMAT")
      ->check(tool::OneOf({"text", "json"}));
  app_.add_flag("--check-config", check_config_,
                "validate the configuration, print the effective one, exit");
}

std::optional<int> DaemonCommandLine::ParseAndLoad(int argc, const char* const* argv,
                                                   Options& options) {
  DefineSharedFlags();
  if (std::optional<int> done = tool::Parse(app_, argc, argv)) return done;
  Result<Options> loaded =
      config_path_.empty() ? LoadConfigFromString("", "<defaults>") : LoadConfig(config_path_);
  if (!loaded.ok()) return Fail(loaded.status().message());
  options = std::move(*loaded);
  if (app_.count("--log-level")) options.log.level = log_level_;
  if (app_.count("--log-format")) options.log.format = log_format_;
  if (!config_path_.empty()) file_ = ConfigKeys(config_path_);
  return std::nullopt;
}

std::optional<std::string> DaemonCommandLine::admin_flag() const {
  if (app_.count("--admin") == 0) return std::nullopt;
  return admin_ == "none" ? "" : admin_;
}

int DaemonCommandLine::Fail(std::string_view message) const {
  std::fprintf(stderr, "%s: %.*s\n", app_.get_name().c_str(), static_cast<int>(message.size()),
               message.data());
  return kExitUsage;
}

}  // namespace procmod
