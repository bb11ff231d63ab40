#include "daemon_signals.h"

#include <pthread.h>
#include <signal.h>

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

DaemonSignals::DaemonSignals(std::function<void(const char* name)> on_stop,
                             std::function<void()> on_reload) {
  thread_ = std::thread([this, on_stop = std::move(on_stop), on_reload = std::move(on_reload)] {
    const sigset_t signals = Signals();
    int signal = 0;
    while (sigwait(&signals, &signal) == 0) {
      if (done_) return;
      if (signal == SIGHUP) {
        on_reload();
        continue;
      }
      stopped_ = true;
      on_stop(signal == SIGINT ? "SIGINT" : "SIGTERM");
    }
  });
}

DaemonSignals::~DaemonSignals() {
  done_ = true;
  pthread_kill(thread_.native_handle(), SIGTERM);  // wakes sigwait; not acted on
  thread_.join();
}

}  // namespace procmod
