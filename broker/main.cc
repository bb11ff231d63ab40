// procmod-broker: the rendezvous relay for procmod peers that can only dial out.
// Parses flags and YAML, binds, prints the ready line, relays until SIGINT/SIGTERM.
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "command_line.h"
#include "procmod/logging.h"
#include "relay.h"

namespace procmod::broker {
namespace {

// SIGINT and SIGTERM are blocked in every thread and taken by one thread with
// sigwait, which turns them into Relay::Stop(): no work in a signal handler.
class SignalWatcher {
 public:
  // Call before any thread starts (the zmq context's too), so all inherit the mask.
  static void BlockSignals() {
    sigset_t signals = Signals();
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  }

  explicit SignalWatcher(Relay& relay) {
    thread_ = std::thread([this, &relay] {
      const sigset_t signals = Signals();
      int signal = 0;
      while (sigwait(&signals, &signal) == 0) {
        if (done_) return;
        spdlog::info("procmod-broker: {} received, saying BYE to every peer",
                     signal == SIGINT ? "SIGINT" : "SIGTERM");
        relay.Stop();
      }
    });
  }
  ~SignalWatcher() {
    done_ = true;
    pthread_kill(thread_.native_handle(), SIGTERM);  // wakes sigwait; not acted on
    thread_.join();
  }

 private:
  static sigset_t Signals() {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    return signals;
  }

  std::atomic<bool> done_{false};
  std::thread thread_;
};

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

int Run(const CommandLine& command) {
  const Options& options = command.options;
  if (Status s = ConfigureLogging(options.log); !s.ok()) {
    std::fprintf(stderr, "procmod-broker: %s\n", std::string(s.message()).c_str());
    return kExitBadConfig;
  }
  if (!command.ignored_keys.empty()) {
    spdlog::warn("procmod-broker: ignoring keys a broker does not use: {}",
                 Join(command.ignored_keys));
  }
  SignalWatcher::BlockSignals();
  Result<std::unique_ptr<Relay>> relay = Relay::Create(options);
  if (!relay.ok()) {
    spdlog::error("procmod-broker: {}", relay.status().message());
    return relay.status().IsInvalidArgument() ? kExitBadConfig : kExitCannotBind;
  }
  {
    SignalWatcher signals(**relay);
    std::printf("procmod-broker: ready on %s\n", (*relay)->ListenEndpoint().c_str());
    std::fflush(stdout);
    spdlog::info("procmod-broker: '{}' on {}, admin endpoint {}, heartbeat {} ms x {}",
                 options.name, (*relay)->ListenEndpoint(),
                 (*relay)->AdminEndpoint().empty() ? "none" : (*relay)->AdminEndpoint(),
                 options.heartbeat.interval.count(), options.heartbeat.liveness);
    (*relay)->Run();  // until a signal; then BYE to everyone, sockets closed
  }
  spdlog::info("procmod-broker: stopped");
  return kExitClean;
}

}  // namespace
}  // namespace procmod::broker

int main(int argc, char** argv) {
  namespace brk = procmod::broker;
  brk::CommandLine command = brk::ParseCommandLine(argc, argv);
  if (command.exit_code) return *command.exit_code;  // help/version 0, bad input 2
  return brk::Run(command);
}
