// daemon_signals.h: how procmod's daemons take their signals.
//
// SIGINT, SIGTERM and SIGHUP are blocked in every thread (Block(), before any
// thread starts, so all inherit the mask) and taken by one thread with sigwait,
// which calls plain functions: no work in a signal handler. SIGINT and SIGTERM
// mean stop (BYE to every peer, exit 0); SIGHUP means re-read the CURVE allow-list.
//
//   DaemonSignals::Block();
//   ... create the process module or relay ...
//   DaemonSignals signals([&](const char* name) { module.Stop(); },
//                         [&] { module.ReloadAuthorizedKeys(); });
//   module.Run();
//   if (signals.stopped()) return 0;
#ifndef PROCMOD_SRC_DAEMON_SIGNALS_H_
#define PROCMOD_SRC_DAEMON_SIGNALS_H_

#include <atomic>
#include <functional>
#include <thread>

namespace procmod {

class DaemonSignals {
 public:
  static void Block();

  // `on_stop` gets "SIGINT" or "SIGTERM"; both run on the watcher's thread.
  DaemonSignals(std::function<void(const char* name)> on_stop, std::function<void()> on_reload);
  ~DaemonSignals();

  DaemonSignals(const DaemonSignals&) = delete;
  DaemonSignals& operator=(const DaemonSignals&) = delete;

  // A stop signal came.
  bool stopped() const { return stopped_; }

 private:
  std::atomic<bool> done_{false};
  std::atomic<bool> stopped_{false};
  std::thread thread_;
};

}  // namespace procmod

#endif  // PROCMOD_SRC_DAEMON_SIGNALS_H_
