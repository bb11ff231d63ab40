#include "monitor.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "procmod/admin_client.h"
#include "procmod/config.h"  // FormatDuration
#include "table.h"
#include "wait_notice.h"

namespace procmod::monitor {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// What one command produced: text for stdout, or an exit code and the line for stderr.
struct Outcome {
  int exit_code = kExitOk;
  std::string out;
  std::string error;  // without the "procmod-monitor: " prefix
};

Outcome Failure(int exit_code, std::string error) {
  return Outcome{.exit_code = exit_code, .error = std::move(error)};
}

// AdminRequest's three "nobody (admin) answered" codes are exit 4; a malformed
// endpoint is a bad flag (2); a refused CURVE handshake is 5, as in every tool;
// anything else is the endpoint saying no (1). A REPLY 400
// also maps to kInvalidArgument, but carries its PMP code, which a bad endpoint lacks.
int ExitCodeFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kDeadlineExceeded:
    case StatusCode::kUnavailable:
    case StatusCode::kInternal:
      return kExitUnreachable;
    case StatusCode::kInvalidArgument:
      return status.pmp_code() == 0 ? kExitUsage : kExitFailed;
    case StatusCode::kPermissionDenied:  // a CURVE handshake the process refused
      return status.pmp_code() == 0 ? kExitDenied : kExitFailed;
    default:
      return kExitFailed;
  }
}

Outcome FailureFor(const Invocation& inv, const std::string& method, const Status& status) {
  if (status.IsDeadlineExceeded()) {
    return Failure(kExitUnreachable, "no answer from " + inv.endpoint + " within " +
                                         FormatDuration(inv.timeout) +
                                         " (is the server running? try --admin)");
  }
  const int code = ExitCodeFor(status);
  if (code == kExitFailed) {
    return Failure(code, method + " failed: " + status.ToString());
  }
  return Failure(code, std::string(status.message()));
}

// Asks `method` with `args` (null: none); the decoded msgpack result (null: none).
Result<json> Ask(const Invocation& inv, const std::string& method, const json& args) {
  std::string packed;
  if (!args.is_null()) {
    std::vector<uint8_t> bytes = json::to_msgpack(args);
    packed.assign(bytes.begin(), bytes.end());
  }
  Result<Reply> reply = [&] {
    // A --watch frame says itself when an answer is late.
    std::optional<tool::WaitNotice> notice;
    if (!inv.watch)
      notice.emplace("procmod-monitor", "no answer yet from " + inv.endpoint, inv.timeout);
    return AdminRequest(inv.endpoint, method, std::move(packed), inv.timeout, inv.curve);
  }();
  if (!reply.ok()) return reply.status();
  if (reply->result.empty()) return json(nullptr);
  json result = json::from_msgpack(reply->result, /*strict=*/true, /*allow_exceptions=*/false);
  if (result.is_discarded()) {
    return Status(StatusCode::kRemoteError, "the result is not valid msgpack");
  }
  return result;
}

Outcome List(const Invocation& inv) {
  Result<json> peers = Ask(inv, "connections.list", nullptr);
  if (!peers.ok()) return FailureFor(inv, "connections.list", peers.status());
  if (!peers->is_array()) {
    return Failure(kExitFailed, "connections.list returned " + peers->dump() + ", not a list");
  }
  return Outcome{.out = inv.json ? peers->dump(2) + "\n" : ConnectionsTable(*peers)};
}

Outcome Info(const Invocation& inv) {
  Result<json> info = Ask(inv, "process.info", nullptr);
  if (!info.ok()) return FailureFor(inv, "process.info", info.status());
  if (!info->is_object()) {
    return Failure(kExitFailed, "process.info returned " + info->dump() + ", not a map");
  }
  return Outcome{.out = inv.json ? info->dump(2) + "\n" : ProcessInfoText(*info)};
}

Outcome Services(const Invocation& inv) {
  Result<json> services = Ask(inv, "services.list", nullptr);
  if (!services.ok()) {
    if (services.status().IsNotFound()) {
      return Failure(kExitFailed, inv.endpoint + " has no services: it is not a procmod-broker");
    }
    return FailureFor(inv, "services.list", services.status());
  }
  if (!services->is_array()) {
    return Failure(kExitFailed, "services.list returned " + services->dump() + ", not a list");
  }
  return Outcome{.out = inv.json ? services->dump(2) + "\n" : ServicesTable(*services)};
}

Outcome Kick(const Invocation& inv) {
  Result<json> closed = Ask(inv, "connections.close", json{{"session", inv.session}});
  if (closed.ok()) return Outcome{.out = "closed session " + inv.session + "\n"};
  // REPLY 404: the admin service knows no such session (docs/PROTOCOL.md §13).
  if (closed.status().IsNotFound()) return Failure(kExitFailed, "no session " + inv.session);
  return FailureFor(inv, "connections.close", closed.status());
}

int Emit(const Outcome& outcome) {
  std::fputs(outcome.out.c_str(), stdout);
  std::fflush(stdout);
  if (!outcome.error.empty()) std::fprintf(stderr, "procmod-monitor: %s\n", outcome.error.c_str());
  return outcome.exit_code;
}

// SIGINT and SIGTERM, blocked so they stay pending until WaitUntil() takes them:
// no handler, no flag, and a signal that comes mid-request ends the next wait at once.
// Blocked before any ZeroMQ thread exists, so those threads inherit the mask.
class StopSignals {
 public:
  StopSignals() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
  }

  // True when a stop signal came before `deadline`.
  bool WaitUntil(Clock::time_point deadline) {
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - Clock::now());
      if (left.count() <= 0) return Pending();
      const timespec wait{.tv_sec = static_cast<time_t>(left.count() / 1'000'000'000),
                          .tv_nsec = static_cast<long>(left.count() % 1'000'000'000)};
      if (sigtimedwait(&set_, nullptr, &wait) > 0) return true;
      if (errno == EAGAIN) return false;  // the deadline passed; EINTR: wait again
    }
  }

 private:
  bool Pending() {
    const timespec zero{};
    return sigtimedwait(&set_, nullptr, &zero) > 0;
  }

  sigset_t set_;
};

// The line above each watched table, as watch(1) has: what, where, how often, when.
std::string WatchHeader(const Invocation& inv) {
  const std::time_t now = std::time(nullptr);
  char clock[16];
  std::strftime(clock, sizeof clock, "%H:%M:%S", std::localtime(&now));
  return "procmod-monitor list: " + inv.endpoint + ", every " + FormatDuration(*inv.watch) + ", " +
         clock + "\n\n";
}

// One snapshot; a failure is shown in the frame instead of ending the watch, so a
// server restart is watched through.
std::string WatchFrame(const Invocation& inv, const Outcome& outcome) {
  if (outcome.exit_code != kExitOk) {
    return WatchHeader(inv) + "procmod-monitor: " + outcome.error + "\n";
  }
  return inv.json ? outcome.out : WatchHeader(inv) + outcome.out;
}

int Watch(const Invocation& inv) {
  StopSignals stop;
  const bool terminal = isatty(STDOUT_FILENO) == 1;
  bool drawn = false;
  Clock::time_point next = Clock::now();
  for (;;) {
    Outcome outcome = List(inv);
    if (outcome.exit_code == kExitUsage) return Emit(outcome);  // will never work
    if (inv.json && outcome.exit_code != kExitOk && !terminal) {
      (void)Emit(outcome);  // keep stdout a stream of JSON documents: failures on stderr
    } else {
      // On a terminal: cursor home and clear screen, then the new frame in place.
      // Elsewhere (a file, a pipe): snapshots one after another, a blank line apart.
      const char* separator = terminal ? "\x1b[H\x1b[2J" : drawn ? "\n" : "";
      std::fputs((separator + WatchFrame(inv, outcome)).c_str(), stdout);
      std::fflush(stdout);
      drawn = true;
    }
    next = std::max(next + *inv.watch, Clock::now());  // fell behind: do not catch up
    if (stop.WaitUntil(next)) return kExitOk;
  }
}

}  // namespace

int Run(const Invocation& inv) {
  switch (inv.command) {
    case Command::kList:
      return inv.watch ? Watch(inv) : Emit(List(inv));
    case Command::kInfo:
      return Emit(Info(inv));
    case Command::kKick:
      return Emit(Kick(inv));
    case Command::kServices:
      return Emit(Services(inv));
  }
  return kExitUsage;
}

}  // namespace procmod::monitor
