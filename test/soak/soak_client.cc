// procmod_soak_client: one application client in its own process (a process has one
// ProcessModule, S1), for the soak tests that need many clients which come back by
// themselves after their server or broker was killed and restarted. Built only on
// the public client façade with the reconnect policy on, as an application would.
//
//   procmod_soak_client URL NAME [PERIOD_MS]
//
// Connects to URL (tcp://... or broker+tcp://.../SERVICE) as NAME, then sends
// REQUEST "ping" every PERIOD_MS (default 50) until SIGTERM, and prints on stdout:
//   "UP"            once connected (then it serves the loop below)
//   "SERVED <n>"    the first ping answered after a failure (or the first of all),
//                   or one that took over 250 ms (held across an outage: a resumed
//                   session delivers it late instead of failing it); n counts
//                   answered pings so far
//   "FAILED <why>"  the first ping not answered after a success
//   "ERROR <why>"   the first Connect failed (exit 4)
// On SIGTERM it prints "END <served> <failed>", leaves with BYE and exits 0.
#include <signal.h>

#include <procmod/client.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

namespace {

volatile sig_atomic_t stop = 0;

void OnTerm(int) { stop = 1; }

void Say(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s URL NAME [PERIOD_MS]\n", argv[0]);
    return 2;
  }
  const std::string url = argv[1];
  const auto period = std::chrono::milliseconds(argc > 3 ? std::atoi(argv[3]) : 50);
  struct sigaction action = {};
  action.sa_handler = OnTerm;
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);

  procmod::ClientOptions options;
  options.module.name = argv[2];
  options.module.reconnect = true;
  options.module.timeouts.connect = std::chrono::seconds(30);
  options.module.linger = std::chrono::milliseconds(100);
  auto client = procmod::Client::Connect(url, options);
  if (!client.ok()) {
    Say("ERROR " + client.status().ToString());
    return 4;
  }
  Say("UP");
  uint64_t served = 0, failed = 0;
  bool serving = false;
  bool first = true;
  while (stop == 0) {
    // Shorter than the heartbeat's window, so a ping sent into the outage is not
    // what delays noticing the way back.
    const auto sent = std::chrono::steady_clock::now();
    procmod::Result<procmod::Reply> reply =
        (*client)->Request("ping", {}, std::chrono::milliseconds(1000)).get();
    if (reply.ok()) {
      ++served;
      if (!serving || std::chrono::steady_clock::now() - sent > std::chrono::milliseconds(250)) {
        Say("SERVED " + std::to_string(served));
      }
      serving = true;
    } else {
      ++failed;
      if (serving || first) Say("FAILED " + reply.status().ToString());
      serving = false;
    }
    first = false;
    std::this_thread::sleep_for(period);  // the pace of the load, not a synchronisation
  }
  Say("END " + std::to_string(served) + " " + std::to_string(failed));
  return 0;
}
