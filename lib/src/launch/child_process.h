// child_process.h: a program the launcher runs and watches: procmod-server itself,
// mpiexec, ssh, or a batch system's command. Its stdout and stderr come back merged,
// line by line, with deadlines; it runs in a process group of its own, so that
// stopping it stops what it started (mpiexec's ranks), and Ctrl-C at the terminal
// reaches the launcher, which stops it on purpose, rather than racing it.
//
//   Result<std::unique_ptr<ChildProcess>> server = ChildProcess::Start({"procmod-server"});
//   std::optional<std::string> line = (*server)->ReadLine(deadline);
//   (*server)->Stop(std::chrono::seconds(3));   // SIGTERM, then SIGKILL; reaped
#ifndef PROCMOD_SRC_LAUNCH_CHILD_PROCESS_H_
#define PROCMOD_SRC_LAUNCH_CHILD_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "procmod/result.h"

namespace procmod {

class ChildProcess {
 public:
  using Clock = std::chrono::steady_clock;

  // Starts `argv` (looked up in PATH) with stdin a pipe this side holds open.
  static Result<std::unique_ptr<ChildProcess>> Start(const std::vector<std::string>& argv);
  ~ChildProcess();  // Stop(), briefly

  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  // The next line it printed (without '\n'); nothing at `deadline` or once its
  // output has ended (then output_ended()).
  std::optional<std::string> ReadLine(Clock::time_point deadline);
  bool output_ended() const { return output_ended_; }
  // Its last lines, for an error message.
  std::string Tail() const;
  // Its exit status once it has exited (128 + N for signal N), reaping it.
  std::optional<int> Exited();
  // Ends its stdin: what tells an ssh session's wrapper to stop the remote server.
  void CloseInput();
  // SIGTERM to its process group, then SIGKILL after `grace`; reaps. Idempotent.
  int Stop(std::chrono::milliseconds grace);

 private:
  ChildProcess() = default;

  pid_t pid_ = -1;
  int output_fd_ = -1;
  int input_fd_ = -1;
  bool output_ended_ = false;
  std::optional<int> status_;
  std::string pending_;  // bytes read after the last '\n'
  std::deque<std::string> tail_;
};

// Runs `argv` to its end (a batch system's sbatch, squeue, scancel) and returns its
// exit status and everything it printed; kDeadlineExceeded (it is killed) when it
// takes longer than `timeout`, kNotFound when it cannot be started.
struct CommandOutput {
  int exit_code = 0;
  std::string output;
};
Result<CommandOutput> RunCommand(const std::vector<std::string>& argv,
                                 std::chrono::milliseconds timeout);

// `word` quoted for a POSIX shell, as one word.
std::string ShellQuote(const std::string& word);

}  // namespace procmod

#endif  // PROCMOD_SRC_LAUNCH_CHILD_PROCESS_H_
