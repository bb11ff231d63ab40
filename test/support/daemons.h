// daemons.h: the real daemons (procmod-server, procmod-broker) as child processes of a
// test, and the addresses a test hands them. StartDaemon waits for a daemon's ready
// line and returns the endpoint it names; ServerProcess also keeps every line the
// daemon prints, for tests about its output and exit; UniqueAdminEndpoint and
// FreeTcpPort give addresses no other test uses, so no test needs a fixed port and
// test binaries can run in parallel. Every wait has a deadline.
#ifndef PROCMOD_TEST_SUPPORT_DAEMONS_H_
#define PROCMOD_TEST_SUPPORT_DAEMONS_H_

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <zmq.hpp>

#include "support/raw_peer.h"
#include "support/subprocess.h"

namespace procmod::testing {

// What the daemons print on stdout once they accept, followed by the real endpoint.
inline constexpr std::string_view kServerReady = "procmod-server: ready on ";
inline constexpr std::string_view kBrokerReady = "procmod-broker: ready on ";

// A daemon that said it is ready, and the endpoint it said so with.
struct Daemon {
  std::unique_ptr<Subprocess> process;
  std::string endpoint;  // "" when no ready line came (a test failure already)
};

// Starts `argv` and reads its stdout up to the line that starts with `ready_prefix`
// (kDeadline at most); the rest of that line is the endpoint. Lines before it are
// dropped. With `merge_stderr` the log is read (and dropped) too instead of going to
// the test's output.
Daemon StartDaemon(std::vector<std::string> argv, std::string_view ready_prefix,
                   bool merge_stderr = false);

// procmod-server (`binary`) as a child process with stdout and stderr merged into one
// transcript kept line by line, so a test can wait for any line and read the log
// afterwards; the transcript is printed when the test has failed. `--admin none` is
// added unless `args` name an admin endpoint: tests not about it need no socket file.
// Nothing waits for the ready line here: a reverse server never prints one.
class ServerProcess {
 public:
  ServerProcess(std::string binary, std::vector<std::string> args);
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Reads output lines until one contains `needle`; returns that line.
  std::optional<std::string> WaitFor(std::string_view needle, milliseconds timeout = kDeadline);
  // Waits for kServerReady; returns the endpoint ("" and a test failure if none).
  std::string WaitReady();
  // The exit code (nothing on deadline). Once it exited, the rest of its output is
  // read into the transcript.
  std::optional<int> Wait(milliseconds timeout = kDeadline);
  void Signal(int signal) { process_->Signal(signal); }
  pid_t pid() const { return process_->pid(); }

  // When WaitReady() saw the ready line (construction, before that).
  std::chrono::steady_clock::time_point ready_at() const { return ready_at_; }
  const std::vector<std::string>& lines() const { return lines_; }
  std::string Transcript() const;

 private:
  std::string command_;
  std::unique_ptr<Subprocess> process_;
  std::vector<std::string> lines_;
  std::chrono::steady_clock::time_point ready_at_ = std::chrono::steady_clock::now();
};

// ipc:///tmp/<prefix>-<pid>-<n>.admin: unique per test process and call, never a port.
std::string UniqueAdminEndpoint(std::string_view prefix);

// libzmq leaves an ipc:// socket file behind when the socket closes (it unlinks a
// stale one at the next bind instead), so a test removes the files it made. Other
// transports have no file: nothing happens.
void RemoveIpcFile(const std::string& endpoint);

// A loopback port nothing listens on now: bound with port 0 by a plain socket, then
// closed, which (unlike closing a ZeroMQ socket, done later by libzmq's own thread)
// is over on return, so a dial right after is refused. For what port 0 cannot give: a
// server that comes back on the same port, or a peer that is not there yet.
// `context` is not used any more.
int FreeTcpPort(zmq::context_t& context);
// The same as tcp://127.0.0.1:PORT.
std::string FreeTcpEndpoint(zmq::context_t& context);

}  // namespace procmod::testing

#endif  // PROCMOD_TEST_SUPPORT_DAEMONS_H_
