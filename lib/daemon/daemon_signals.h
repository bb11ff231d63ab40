// daemon_signals.h: how procmod's daemons take their signals.
//
// SIGINT, SIGTERM and SIGHUP are blocked in every thread (Block(), before any
// thread starts, so all inherit the mask) and taken by one thread with sigwait,
// which calls plain functions: no work in a signal handler. SIGINT and SIGTERM
// mean stop (BYE to every peer, exit 0); SIGHUP means re-read the CURVE allow-list.
// Each signal is logged the same way by every daemon, before its function runs:
// "procmod-broker: SIGTERM received, saying BYE to every peer".
//
//   DaemonSignals::Block();
//   ... create the process module or relay ...
//   DaemonSignals signals("procmod-server", [&] { module.Stop(); },
//                         [&] { module.ReloadAuthorizedKeys(); });
//   module.Run();
//   if (signals.stopped()) return 0;
#ifndef PROCMOD_DAEMON_DAEMON_SIGNALS_H_
#define PROCMOD_DAEMON_DAEMON_SIGNALS_H_

#include <atomic>
#include <functional>
#include <string>
#include <thread>

namespace procmod {

class DaemonSignals {
 public:
  static void Block();

  // `daemon` names the program in the log lines. `on_stop` and `on_reload` run on
  // the watcher's thread.
  DaemonSignals(std::string daemon, std::function<void()> on_stop, std::function<void()> on_reload);
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

#endif  // PROCMOD_DAEMON_DAEMON_SIGNALS_H_
