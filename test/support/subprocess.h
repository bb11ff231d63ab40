// subprocess.h: spawn a real binary, read its stdout lines with a deadline, and
// always reap it (SIGKILL in the destructor if it is still running).
#ifndef PROCMOD_TEST_SUPPORT_SUBPROCESS_H_
#define PROCMOD_TEST_SUPPORT_SUBPROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace procmod::testing {

class Subprocess {
 public:
  // Starts `argv[0]` with `argv`; stdout is piped to this object. stderr is
  // inherited, or with `merge_stderr` piped into the same stream (to read errors).
  explicit Subprocess(std::vector<std::string> argv, bool merge_stderr = false);
  ~Subprocess();  // kills (SIGKILL) and reaps if still running
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  // The next stdout line (without '\n'), or nothing on EOF or deadline.
  std::optional<std::string> ReadLine(std::chrono::milliseconds timeout);
  // Reads lines until one starts with `prefix`; returns the rest of it.
  std::optional<std::string> WaitForLine(const std::string& prefix,
                                         std::chrono::milliseconds timeout);
  // Waits for exit; the exit code (128 + signal if killed), or nothing on deadline.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  // Everything still to come on stdout until EOF or `timeout`.
  std::string ReadAll(std::chrono::milliseconds timeout);
  void Signal(int signal);

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string buffer_;
  std::optional<int> exit_code_;
};

// One finished run of a command-line tool.
struct ToolRun {
  std::optional<int> code;  // nothing if it did not exit by the deadline
  std::string output;
  std::chrono::milliseconds took{0};
};

// Runs `argv` to completion (up to `timeout`). `output` is stdout and stderr
// together, or with `stderr_only` what it wrote on stderr alone (stdout goes to
// /dev/null), to check a failure is reported where scripts look for it.
ToolRun RunTool(std::vector<std::string> argv, bool stderr_only, std::chrono::milliseconds timeout);

}  // namespace procmod::testing

#endif  // PROCMOD_TEST_SUPPORT_SUBPROCESS_H_
