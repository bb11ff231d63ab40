#include "daemon_signals.h"

#include <pthread.h>
#include <signal.h>

#include <utility>

#include <spdlog/spdlog.h>

namespace procmod {
namespace {

sigset_t Signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  return signals;
}

}  // namespace

void DaemonSignals::Block() {
  const sigset_t signals = Signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
}

DaemonSignals::DaemonSignals(std::string daemon, std::function<void()> on_stop,
                             std::function<void()> on_reload) {
  thread_ = std::thread([this, daemon = std::move(daemon), on_stop = std::move(on_stop),
                         on_reload = std::move(on_reload)] {
    const sigset_t signals = Signals();
    int signal = 0;
    while (sigwait(&signals, &signal) == 0) {
      if (done_) return;
      if (signal == SIGHUP) {
        spdlog::info("{}: SIGHUP received, re-reading the authorized keys", daemon);
        on_reload();
        continue;
      }
      stopped_ = true;
      spdlog::info("{}: {} received, saying BYE to every peer", daemon,
                   signal == SIGINT ? "SIGINT" : "SIGTERM");
      on_stop();
    }
  });
}

DaemonSignals::~DaemonSignals() {
  done_ = true;
  pthread_kill(thread_.native_handle(), SIGTERM);  // wakes sigwait; not acted on
  thread_.join();
}

}  // namespace procmod
