#include "serve.h"

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <thread>

#include <spdlog/spdlog.h>

#include "procmod/logging.h"
#include "services.h"

namespace procmod::server {
namespace {

// SIGINT and SIGTERM are blocked in every thread and taken by one thread with
// sigwait, which turns them into ProcessModule::Stop(): no work in a signal handler.
class SignalWatcher {
 public:
  explicit SignalWatcher(ProcessModule& module) {
    sigemptyset(&signals_);
    sigaddset(&signals_, SIGINT);
    sigaddset(&signals_, SIGTERM);
    thread_ = std::thread([this, &module] {
      int signal = 0;
      while (sigwait(&signals_, &signal) == 0) {
        if (done_) return;
        spdlog::info("procmod-server: {} received, saying BYE to every peer",
                     signal == SIGINT ? "SIGINT" : "SIGTERM");
        caught_ = true;
        module.Stop();
      }
    });
  }
  ~SignalWatcher() {
    done_ = true;
    pthread_kill(thread_.native_handle(), SIGTERM);  // wakes sigwait; not acted on
    thread_.join();
  }
  bool caught() const { return caught_; }

  // Call before any thread starts, so every thread inherits the mask.
  static void BlockSignals() {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  }

 private:
  sigset_t signals_;
  std::atomic<bool> done_{false};
  std::atomic<bool> caught_{false};
  std::thread thread_;
};

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

int ExitCodeForStartFailure(const Status& status) {
  if (status.pmp_code() != 0) return kExitDenied;
  if (status.IsInvalidArgument()) return kExitBadConfig;
  return kExitUnreachable;
}

int ExitCodeFor(RunEnd end) {
  switch (end) {
    case RunEnd::kPeerLost:
      return kExitPeerLost;
    case RunEnd::kAcceptTimeout:
      return kExitUnreachable;
    case RunEnd::kStopped:
    case RunEnd::kPeerLeft:
    case RunEnd::kSessionTimeout:
      return kExitClean;
  }
  return kExitClean;
}

int Serve(const Options& options) {
  if (Status s = ConfigureLogging(options.log); !s.ok()) {
    std::fprintf(stderr, "procmod-server: %s\n", s.ToString().c_str());
    return kExitBadConfig;
  }
  SignalWatcher::BlockSignals();
  Result<ProcessModule*> module = ProcessModule::Initialize(options);
  if (!module.ok()) {
    spdlog::error("procmod-server: {}", module.status().ToString());
    return kExitBadConfig;
  }
  std::unique_ptr<ServerServices> services = ServerServices::Install(**module);
  int code = kExitClean;
  {
    SignalWatcher signals(**module);
    spdlog::info("procmod-server: starting '{}' ({}, {}, {})", options.name, RoleName(options.role),
                 ModeName(options.mode),
                 options.multiple_connections ? "multiple clients" : "one client");
    if (Status s = (*module)->Start(); !s.ok()) {
      // Stopped by a signal while still starting (e.g. dialing its client): clean.
      code = signals.caught() ? kExitClean : ExitCodeForStartFailure(s);
      if (!signals.caught()) spdlog::error("procmod-server: {}", s.ToString());
    } else {
      PrintReady(**module, options);
      if (!(*module)->AdminEndpoint().empty()) {
        spdlog::info("procmod-server: admin endpoint {}", (*module)->AdminEndpoint());
      }
      const RunEnd end = (*module)->Run();
      spdlog::info("procmod-server: done: {}", RunEndName(end));
      code = signals.caught() ? kExitClean : ExitCodeFor(end);
    }
  }
  ProcessModule::Finalize();  // BYE to every peer, bounded linger
  return code;
}

}  // namespace procmod::server
