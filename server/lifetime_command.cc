#include "lifetime_command.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include <spdlog/spdlog.h>

#include "procmod/config.h"

extern char** environ;

namespace procmod::server {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr milliseconds kCommandDeadline{10000};

std::string_view Trim(std::string_view text) {
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
}

}  // namespace

std::optional<milliseconds> ParseTimeLeft(std::string_view output) {
  const std::string text(Trim(output));
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  const double minutes = std::strtod(text.c_str(), &end);
  if (end != nullptr && *end == '\0') {
    if (!std::isfinite(minutes) || minutes < 0 || minutes > 1e8) return std::nullopt;
    return milliseconds(std::llround(minutes * 60'000));
  }
  Result<milliseconds> duration = ParseDuration(text);  // "90s", "2m"
  if (!duration.ok()) return std::nullopt;
  return *duration;
}

LifetimeCommand::LifetimeCommand(ProcessModule& module, std::string command, milliseconds interval)
    : module_(module), command_(std::move(command)), interval_(interval) {
  thread_ = std::thread([this] { Loop(); });
}

LifetimeCommand::~LifetimeCommand() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void LifetimeCommand::Loop() {
  for (;;) {
    if (std::optional<std::string> output = RunOnce()) {
      if (std::optional<milliseconds> left = ParseTimeLeft(*output)) {
        module_.SetLifetime(*left);  // first: once this line is logged, WELCOME says it
        spdlog::info("procmod-server: lifetime command: {:.1f} min left", left->count() / 60'000.0);
      } else {
        spdlog::warn("procmod-server: lifetime command printed '{}', not minutes; ignored",
                     std::string(Trim(*output)).substr(0, 80));
      }
    }
    std::unique_lock<std::mutex> lock(mu_);
    if (cv_.wait_for(lock, interval_, [this] { return stopping_; })) return;
  }
}

std::optional<std::string> LifetimeCommand::RunOnce() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return std::nullopt;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attributes, &none);  // the daemon blocks its signals
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK);
  std::string shell = "/bin/sh", dash_c = "-c", command = command_;
  char* argv[] = {shell.data(), dash_c.data(), command.data(), nullptr};
  pid_t pid = -1;
  const int spawned = posix_spawn(&pid, argv[0], &actions, &attributes, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  close(fds[1]);
  if (spawned != 0) {
    close(fds[0]);
    spdlog::warn("procmod-server: cannot run the lifetime command: {}", std::strerror(spawned));
    return std::nullopt;
  }
  // Read until EOF, the deadline, or a stop (checked every 100 ms).
  std::string output;
  const Clock::time_point deadline = Clock::now() + kCommandDeadline;
  bool eof = false;
  while (!eof && Clock::now() < deadline) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) break;
    }
    pollfd p{fds[0], POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char buffer[512];
    const ssize_t n = read(fds[0], buffer, sizeof buffer);
    if (n <= 0) {
      eof = n == 0 || errno != EINTR;
    } else if (output.size() < 4096) {
      output.append(buffer, static_cast<size_t>(n));
    }
  }
  close(fds[0]);
  if (!eof) kill(pid, SIGKILL);  // too slow, or we are stopping
  int status = 0;
  waitpid(pid, &status, 0);
  if (!eof) {
    spdlog::warn("procmod-server: lifetime command did not finish within 10 s; ignored");
    return std::nullopt;
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    spdlog::warn("procmod-server: lifetime command failed (status {}); ignored", status);
    return std::nullopt;
  }
  return output;
}

}  // namespace procmod::server
