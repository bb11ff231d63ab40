#include "serve.h"

#include <atomic>
#include <cstdio>
#include <optional>

#include <spdlog/spdlog.h>

#include "daemon_exit_codes.h"
#include "daemon_signals.h"
#include "lifetime_command.h"
#include "parallel_services.h"
#include "procmod/parallel.h"
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
    std::printf("procmod-server: ready on %s", module.ListenEndpoint().c_str());
    if (o.ranks > 1) std::printf(" (ranks: %d)", o.ranks);
    std::printf("\n");
  }
  std::fflush(stdout);
}

// Rank 0 (or the only process): the server as users see it.
int ServeConnections(const Options& options, ParallelJob& job) {
  Result<ProcessModule*> module = ProcessModule::Initialize(options);
  if (!module.ok()) {
    spdlog::error("procmod-server: {}", module.status().ToString());
    return kExitUsage;
  }
  std::unique_ptr<ServerServices> services = ServerServices::Install(**module, job.ranks());
  if (Status s = job.Attach(**module); !s.ok()) {
    spdlog::error("procmod-server: {}", s.ToString());
    return kExitUsage;
  }
  int code = kExitOk;
  {
    ProcessModule& m = **module;
    std::atomic<bool> rank_lost{false};
    // A rank that stops answering ends the job (the watchdog, procmod/parallel.h):
    // clients are told why in their BYE, and the exit code is "peer lost".
    job.OnRankLost([&m, &rank_lost](const RankInfo&, const std::string& why) {
      rank_lost.store(true);
      for (const PeerInfo& peer : m.Connections()) {
        if (Result<Connection> c = m.FindConnection(peer.session); c.ok()) (void)c->Close(why);
      }
      m.Stop();
    });
    DaemonSignals signals(
        "procmod-server", [&m] { m.Stop(); },
        [&m] {
          if (Status s = m.ReloadAuthorizedKeys(); !s.ok()) {
            spdlog::warn("procmod-server: SIGHUP: {}", s.message());
          }
        });
    spdlog::info("procmod-server: starting '{}' ({}, {}, {}{})", options.name,
                 RoleName(options.role), ModeName(options.mode),
                 options.multiple_connections ? "multiple clients" : "one client",
                 options.ranks > 1 ? fmt::format(", {} ranks", options.ranks) : "");
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
      code = rank_lost.load()      ? kExitPeerLost
             : signals.stopped() ? kExitOk
                                 : ExitCodeFor(end);
    }
    // Parallel requests still running get ERROR 503 before the BYE.
    job.Shutdown(signals.stopped() ? "the server was stopped by a signal"
                                   : "the server is stopping");
  }
  ProcessModule::Finalize();  // BYE to every peer, bounded linger
  return code;
}

// Ranks > 0 of a parallel server: no sockets; they run what rank 0 broadcasts until
// rank 0 ends the job, and exit with its code.
int ServeRank(ParallelJob& job) {
  DaemonSignals signals(
      "procmod-server", [&job] { job.RequestStop(); }, [] {});
  return job.ServeWorker();
}

}  // namespace

int Serve(const Options& options, int* argc, char*** argv) {
  if (Status s = ConfigureLogging(options.log); !s.ok()) {
    std::fprintf(stderr, "procmod-server: %s\n", s.ToString().c_str());
    return kExitUsage;
  }
  // Before MPI starts threads of its own, so that they too leave the stop signals
  // to DaemonSignals' watcher.
  DaemonSignals::Block();
  Result<std::unique_ptr<ParallelJob>> job = ParallelJob::Join(
      argc, argv, ParallelSettings{options.heartbeat.interval,
                                   static_cast<int>(options.heartbeat.liveness)});
  if (!job.ok()) {
    spdlog::error("procmod-server: {}", job.status().message());
    return kExitUsage;
  }
  RegisterParallelServices(**job);
  if ((*job)->rank() > 0) return (*job)->Finish(ServeRank(**job));
  Options leader = options;
  leader.ranks = (*job)->size();
  return (*job)->Finish(ServeConnections(leader, **job));
}

}  // namespace procmod::server
