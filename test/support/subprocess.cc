#include "support/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace procmod::testing {

using Clock = std::chrono::steady_clock;

Subprocess::Subprocess(std::vector<std::string> argv, bool merge_stderr) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  if (merge_stderr) posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  const int rc = posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    throw std::runtime_error("posix_spawn " + argv[0] + " failed");
  }
  stdout_fd_ = fds[0];
}

Subprocess::~Subprocess() {
  if (!exit_code_) {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  if (stdout_fd_ >= 0) close(stdout_fd_);
}

std::optional<std::string> Subprocess::ReadLine(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return line;
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd p{stdout_fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char chunk[4096];
    const ssize_t n = read(stdout_fd_, chunk, sizeof chunk);
    if (n <= 0) return std::nullopt;  // EOF
    buffer_.append(chunk, static_cast<size_t>(n));
  }
}

std::optional<std::string> Subprocess::WaitForLine(const std::string& prefix,
                                                   std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    std::optional<std::string> line = ReadLine(left);
    if (!line) return std::nullopt;
    if (line->rfind(prefix, 0) == 0) return line->substr(prefix.size());
  }
}

std::optional<int> Subprocess::Wait(std::chrono::milliseconds timeout) {
  if (exit_code_) return exit_code_;
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return exit_code_;
    }
    if (Clock::now() >= deadline) return std::nullopt;
    // waitpid has no timeout; poll it at a short interval until the deadline.
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

std::string Subprocess::ReadAll(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::string all;
  while (std::optional<std::string> line = ReadLine(
             std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()))) {
    all += *line + "\n";
  }
  all += buffer_;  // a last line without '\n'
  buffer_.clear();
  return all;
}

ToolRun RunTool(std::vector<std::string> argv, bool stderr_only,
                std::chrono::milliseconds timeout) {
  if (stderr_only) {
    // $0 and "$@" pass the arguments through the shell untouched.
    argv.insert(argv.begin(), {"/bin/sh", "-c", R"(exec "$0" "$@" 2>&1 >/dev/null)"});
  }
  const Clock::time_point start = Clock::now();
  Subprocess process(std::move(argv), /*merge_stderr=*/!stderr_only);
  ToolRun run;
  run.output = process.ReadAll(timeout);
  run.code = process.Wait(timeout);
  run.took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  return run;
}

void Subprocess::Signal(int signal) {
  if (!exit_code_) kill(pid_, signal);
}

}  // namespace procmod::testing
