#include "launch/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

extern char** environ;

namespace procmod {
namespace {

using std::chrono::milliseconds;

constexpr size_t kTailLines = 20;

// posix_spawn rather than fork: the launcher may have threads (a process module's),
// and a forked child of a threaded process may call only async-signal-safe functions.
Result<pid_t> Spawn(const std::vector<std::string>& argv, int stdin_fd, int stdout_fd) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, stdin_fd, STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, stdout_fd, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, stdout_fd, STDERR_FILENO);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  // Its own process group; the signals the launcher blocks or ignores, back to normal.
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT}) sigaddset(&defaults, s);
  posix_spawnattr_setflags(&attributes,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attributes, 0);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int error = posix_spawnp(&pid, args[0], &actions, &attributes, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (error != 0) {
    return NotFoundError("cannot run " + argv[0] + ": " + std::strerror(error));
  }
  return pid;
}

std::optional<int> DecodeStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return std::nullopt;
}

}  // namespace

Result<std::unique_ptr<ChildProcess>> ChildProcess::Start(const std::vector<std::string>& argv) {
  if (argv.empty() || argv[0].empty()) return InvalidArgumentError("no command to run");
  int out[2], in[2];
  if (pipe2(out, O_CLOEXEC) != 0) return InternalError(std::strerror(errno));
  if (pipe2(in, O_CLOEXEC) != 0) {
    close(out[0]);
    close(out[1]);
    return InternalError(std::strerror(errno));
  }
  Result<pid_t> pid = Spawn(argv, in[0], out[1]);
  close(out[1]);
  close(in[0]);
  if (!pid.ok()) {
    close(out[0]);
    close(in[1]);
    return pid.status();
  }
  std::unique_ptr<ChildProcess> child(new ChildProcess());
  child->pid_ = *pid;
  child->output_fd_ = out[0];
  child->input_fd_ = in[1];
  return child;
}

ChildProcess::~ChildProcess() {
  Stop(milliseconds(2000));
  if (output_fd_ >= 0) close(output_fd_);
  CloseInput();
}

std::optional<std::string> ChildProcess::ReadLine(Clock::time_point deadline) {
  for (;;) {
    if (size_t newline = pending_.find('\n'); newline != std::string::npos) {
      std::string line = pending_.substr(0, newline);
      pending_.erase(0, newline + 1);
      tail_.push_back(line);
      if (tail_.size() > kTailLines) tail_.pop_front();
      return line;
    }
    if (output_ended_) {
      if (pending_.empty()) return std::nullopt;
      pending_ += '\n';  // its last line had no newline
      continue;
    }
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd fd{output_fd_, POLLIN, 0};
    const int ready = poll(&fd, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (ready < 0 && errno != EINTR) return std::nullopt;
    if (ready <= 0) continue;
    char buffer[4096];
    const ssize_t n = read(output_fd_, buffer, sizeof buffer);
    if (n > 0) {
      pending_.append(buffer, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      output_ended_ = true;
    }
  }
}

std::string ChildProcess::Tail() const {
  std::string text;
  for (const std::string& line : tail_) text += "\n  " + line;
  return text;
}

std::optional<int> ChildProcess::Exited() {
  if (status_ || pid_ < 0) return status_;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) status_ = DecodeStatus(status);
  return status_;
}

void ChildProcess::CloseInput() {
  if (input_fd_ >= 0) close(input_fd_);
  input_fd_ = -1;
}

int ChildProcess::Stop(milliseconds grace) {
  if (pid_ < 0) return -1;
  if (Exited()) {
    kill(-pid_, SIGKILL);  // whatever it started and left behind in its group
    return *status_;
  }
  CloseInput();
  kill(-pid_, SIGTERM);
  const auto deadline = Clock::now() + grace;
  while (!Exited() && Clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(10));  // waitpid has no timeout
  }
  kill(-pid_, SIGKILL);
  if (!status_) {
    int status = 0;
    if (waitpid(pid_, &status, 0) == pid_) status_ = DecodeStatus(status);
  }
  return status_.value_or(-1);
}

Result<CommandOutput> RunCommand(const std::vector<std::string>& argv, milliseconds timeout) {
  Result<std::unique_ptr<ChildProcess>> child = ChildProcess::Start(argv);
  if (!child.ok()) return child.status();
  (*child)->CloseInput();
  const auto deadline = ChildProcess::Clock::now() + timeout;
  CommandOutput result;
  while (std::optional<std::string> line = (*child)->ReadLine(deadline)) {
    result.output += *line + "\n";
  }
  if (!(*child)->output_ended()) {
    (*child)->Stop(milliseconds(0));
    return DeadlineExceededError(argv[0] + " did not finish within " +
                                 std::to_string(timeout.count()) + " ms");
  }
  result.exit_code = (*child)->Stop(milliseconds(timeout));
  return result;
}

std::string ShellQuote(const std::string& word) {
  if (!word.empty() && word.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                              "0123456789_-./:=@,+%") == std::string::npos) {
    return word;
  }
  std::string quoted = "'";
  for (char c : word) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

}  // namespace procmod
