// procmod-broker: the rendezvous relay for procmod peers that can only dial out.
// Parses flags and YAML, binds, prints the ready line, relays until SIGINT/SIGTERM
// (SIGHUP re-reads the CURVE allow-list).
#include <spdlog/spdlog.h>

#include <cstdio>
#include <memory>
#include <string>

#include "command_line.h"
#include "daemon_exit_codes.h"
#include "daemon_signals.h"
#include "procmod/logging.h"
#include "relay.h"

namespace procmod::broker {
namespace {

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

int Run(const CommandLine& command) {
  const Options& options = command.options;
  if (Status s = ConfigureLogging(options.log); !s.ok()) {
    std::fprintf(stderr, "procmod-broker: %s\n", std::string(s.message()).c_str());
    return kExitUsage;
  }
  if (!command.ignored_keys.empty()) {
    spdlog::warn("procmod-broker: ignoring keys a broker does not use: {}",
                 Join(command.ignored_keys));
  }
  DaemonSignals::Block();
  Result<std::unique_ptr<Relay>> relay = Relay::Create(options);
  if (!relay.ok()) {
    spdlog::error("procmod-broker: {}", relay.status().message());
    return ExitCodeForStartFailure(relay.status());
  }
  {
    Relay& r = **relay;
    DaemonSignals signals(
        "procmod-broker", [&r] { r.Stop(); }, [&r] { r.RequestKeyReload(); });
    std::printf("procmod-broker: ready on %s\n", (*relay)->ListenEndpoint().c_str());
    std::fflush(stdout);
    spdlog::info("procmod-broker: '{}' on {}, admin endpoint {}, heartbeat {} ms x {}",
                 options.name, (*relay)->ListenEndpoint(),
                 (*relay)->AdminEndpoint().empty() ? "none" : (*relay)->AdminEndpoint(),
                 options.heartbeat.interval.count(), options.heartbeat.liveness);
    (*relay)->Run();  // until a signal; then BYE to everyone, sockets closed
  }
  spdlog::info("procmod-broker: stopped");
  return kExitOk;
}

}  // namespace
}  // namespace procmod::broker

int main(int argc, char** argv) {
  namespace brk = procmod::broker;
  brk::CommandLine command = brk::ParseCommandLine(argc, argv);
  if (command.exit_code) return *command.exit_code;  // help/version 0, bad input 2
  return brk::Run(command);
}
