#include "support/daemons.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <system_error>

namespace procmod::testing {
namespace {

using Clock = std::chrono::steady_clock;

milliseconds Left(Clock::time_point deadline) {
  return std::max(milliseconds(0),
                  std::chrono::duration_cast<milliseconds>(deadline - Clock::now()));
}

}  // namespace

Daemon StartDaemon(std::vector<std::string> argv, std::string_view ready_prefix,
                   bool merge_stderr) {
  const std::string binary = argv.at(0);
  Daemon daemon;
  daemon.process = std::make_unique<Subprocess>(std::move(argv), merge_stderr);
  std::optional<std::string> endpoint =
      daemon.process->WaitForLine(std::string(ready_prefix), kDeadline);
  EXPECT_TRUE(endpoint.has_value()) << "no '" << ready_prefix << "' line from " << binary;
  daemon.endpoint = endpoint.value_or("");
  daemon.endpoint = daemon.endpoint.substr(0, daemon.endpoint.find(' '));  // " (ranks: N)"
  return daemon;
}

ServerProcess::ServerProcess(std::string binary, std::vector<std::string> args) {
  if (std::find(args.begin(), args.end(), "--admin") == args.end()) {
    args.insert(args.end(), {"--admin", "none"});
  }
  args.insert(args.begin(), std::move(binary));
  for (const std::string& a : args) command_ += a + " ";
  process_ = std::make_unique<Subprocess>(std::move(args), /*merge_stderr=*/true);
}

ServerProcess::~ServerProcess() {
  if (!::testing::Test::HasFailure()) return;
  // What it said since the last wait too; a server still running gets a moment only.
  const bool exited = process_->Wait(milliseconds(0)).has_value();
  std::istringstream rest(process_->ReadAll(exited ? kDeadline : milliseconds(200)));
  for (std::string line; std::getline(rest, line);) lines_.push_back(line);
  std::fprintf(stderr, "--- %s\n%s---\n", command_.c_str(), Transcript().c_str());
}

std::optional<std::string> ServerProcess::WaitFor(std::string_view needle, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    std::optional<std::string> line = process_->ReadLine(Left(deadline));
    if (!line) return std::nullopt;
    lines_.push_back(*line);
    if (line->find(needle) != std::string::npos) return line;
  }
}

std::string ServerProcess::WaitReady() {
  std::optional<std::string> line = WaitFor(kServerReady);
  EXPECT_TRUE(line.has_value()) << "no ready line from " << command_;
  ready_at_ = Clock::now();
  if (!line) return "";
  // A parallel server adds " (ranks: N)" after the endpoint.
  const std::string rest = line->substr(line->find(kServerReady) + kServerReady.size());
  return rest.substr(0, rest.find(' '));
}

std::optional<int> ServerProcess::Wait(milliseconds timeout) {
  std::optional<int> code = process_->Wait(timeout);
  if (code) {
    std::istringstream rest(process_->ReadAll(kDeadline));
    for (std::string line; std::getline(rest, line);) lines_.push_back(line);
  }
  return code;
}

std::string ServerProcess::Transcript() const {
  std::string all;
  for (const std::string& line : lines_) all += line + "\n";
  return all;
}

std::string UniqueAdminEndpoint(std::string_view prefix) {
  static std::atomic<int> n{0};
  return "ipc:///tmp/" + std::string(prefix) + "-" + std::to_string(getpid()) + "-" +
         std::to_string(++n) + ".admin";
}

void RemoveIpcFile(const std::string& endpoint) {
  constexpr std::string_view kIpc = "ipc://";
  if (endpoint.rfind(kIpc, 0) != 0) return;
  std::error_code ignored;  // gone already where its owner unbound it
  std::filesystem::remove(endpoint.substr(kIpc.size()), ignored);
}

int FreeTcpPort(zmq::context_t& /*context*/) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  const bool bound = fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&address), length) == 0 &&
                     getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  const int error = errno;
  if (fd >= 0) close(fd);  // never listened: nothing lingers on the port
  EXPECT_TRUE(bound) << "no free loopback port: " << std::strerror(error);
  return bound ? ntohs(address.sin_port) : 0;
}

std::string FreeTcpEndpoint(zmq::context_t& context) {
  return "tcp://127.0.0.1:" + std::to_string(FreeTcpPort(context));
}

}  // namespace procmod::testing
