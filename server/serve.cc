#include "serve.h"

#include <cstdio>
#include <optional>

#include <spdlog/spdlog.h>

#include "daemon_exit_codes.h"
#include "daemon_signals.h"
#include "lifetime_command.h"
#include "procmod/logging.h"
#include "readiness.h"
#include "services.h"

namespace procmod::server {
namespace {

void PrintReady(const ProcessModule& module, const Options& o) {
  if (o.mode == Mode::kReverse) {
    std::printf("procmod-server: connected to %s\n", o.client_url.c_str());
  } else if (o.mode == Mode::kBroker) {
    std::printf("procmod-server: registered as %s with %s\n", o.service.c_str(),
                o.broker_url.c_str());
  } else {
    std::printf("procmod-server: ready on %s\n", module.ListenEndpoint().c_str());
  }
  std::fflush(stdout);
}

}  // namespace

int Serve(const Options& options) {
  if (Status s = ConfigureLogging(options.log); !s.ok()) {
    std::fprintf(stderr, "procmod-server: %s\n", s.ToString().c_str());
    return kExitUsage;
  }
  DaemonSignals::Block();
  Result<ProcessModule*> module = ProcessModule::Initialize(options);
  if (!module.ok()) {
    spdlog::error("procmod-server: {}", module.status().ToString());
    return kExitUsage;
  }
  std::unique_ptr<ServerServices> services = ServerServices::Install(**module);
  int code = kExitOk;
  {
    ProcessModule& m = **module;
    DaemonSignals signals(
        "procmod-server", [&m] { m.Stop(); },
        [&m] {
          if (Status s = m.ReloadAuthorizedKeys(); !s.ok()) {
            spdlog::warn("procmod-server: SIGHUP: {}", s.message());
          }
        });
    spdlog::info("procmod-server: starting '{}' ({}, {}, {})", options.name, RoleName(options.role),
                 ModeName(options.mode),
                 options.multiple_connections ? "multiple clients" : "one client");
    if (Status s = (*module)->Start(); !s.ok()) {
      // Stopped by a signal while still starting (e.g. dialing its client): clean.
      code = signals.stopped() ? kExitOk : ExitCodeForStartFailure(s);
      if (!signals.stopped()) spdlog::error("procmod-server: {}", s.ToString());
    } else {
      PrintReady(**module, options);
      NotifySupervisor("READY=1");  // systemd Type=notify; nothing when not asked
      if (!(*module)->AdminEndpoint().empty()) {
        spdlog::info("procmod-server: admin endpoint {}", (*module)->AdminEndpoint());
      }
      if (!options.connection_file.empty()) {
        spdlog::info("procmod-server: connection file {}", options.connection_file);
      }
      std::optional<LifetimeCommand> lifetime;
      if (!options.lifetime_command.empty()) {
        lifetime.emplace(**module, options.lifetime_command, options.lifetime_command_interval);
      }
      const RunEnd end = (*module)->Run();
      NotifySupervisor("STOPPING=1");
      spdlog::info("procmod-server: done: {}", RunEndName(end));
      code = signals.stopped() ? kExitOk : ExitCodeFor(end);
    }
  }
  ProcessModule::Finalize();  // BYE to every peer, bounded linger
  return code;
}

}  // namespace procmod::server
