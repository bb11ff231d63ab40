// bench_util.h: the small harness under procmod's benchmarks: clocks, statistics,
// child processes that are always reaped, and /proc readers.
//
// Nothing here knows about procmod; cases.cc and peers.cc use it.
#ifndef PROCMOD_BENCH_BENCH_UTIL_H_
#define PROCMOD_BENCH_BENCH_UTIL_H_

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace procmod::bench {

using SteadyClock = std::chrono::steady_clock;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;

// CLOCK_MONOTONIC in ns: the same clock in every process of the machine, so a child
// can report when something happened and the driver can compare it with its own.
int64_t MonotonicNs();

// Percentile (0..100) of `samples` by nearest rank; sorts a copy. 0 when empty.
double Percentile(std::vector<double> samples, double percent);
double Median(std::vector<double> samples);

// A child process: argv[0] is run with execv. stdin and stdout are pipes to us;
// stderr goes to `stderr_path` (appended), or is inherited when that is empty. The
// child gets SIGKILL when this process dies (PR_SET_PDEATHSIG), and the destructor
// kills (SIGKILL) and reaps it if it still runs, so no child outlives a case.
// `cpu` >= 0 pins the child (and every thread it starts) to that CPU.
class Child {
 public:
  Child(std::vector<std::string> argv, const std::string& stderr_path = {}, int cpu = -1);
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  // The next stdout line without '\n', or nothing on EOF or timeout.
  std::optional<std::string> ReadLine(milliseconds timeout);
  // Reads lines until one starts with `prefix` and returns the rest of it.
  std::optional<std::string> WaitForLine(const std::string& prefix, milliseconds timeout);
  // Writes `line` and '\n' to the child's stdin; false once the child is gone.
  bool WriteLine(const std::string& line);
  void CloseStdin();
  void Signal(int signal);
  // SIGKILL (if running) and reap. Idempotent.
  void Kill();
  // Waits for exit; the exit status (128 + signal when killed) or nothing.
  std::optional<int> Wait(milliseconds timeout);

 private:
  pid_t pid_ = -1;
  int in_fd_ = -1;
  int out_fd_ = -1;
  std::string buffer_;
  std::optional<int> status_;
};

// The CPUs this process may run on (sched_getaffinity), lowest first.
std::vector<int> UsableCpus();

// Sets the CPU affinity of every thread process `pid` has now (/proc/PID/task);
// threads they start later inherit it. False if any thread could not be set.
bool PinThreads(pid_t pid, const std::vector<int>& cpus);

// /proc/PID/stat utime + stime, in seconds of CPU.
double CpuSeconds(pid_t pid);
// The CPU time all threads of `pid` have run, in ns (/proc/PID/task/*/schedstat:
// the scheduler's own count, exact where utime + stime are sampled at the tick).
// Threads that already exited are not counted.
int64_t ThreadCpuNs(pid_t pid);
// /proc/PID/status VmRSS in KiB (0 when unreadable).
int64_t RssKiB(pid_t pid);
// /proc/PID/status VmHWM in KiB: the most RSS the process had since it started (0
// when unreadable).
int64_t PeakRssKiB(pid_t pid);

// A fresh directory under /tmp (mkdtemp) removed with its contents by the destructor.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The path of this executable (/proc/self/exe), to start its own peer roles.
std::string SelfExe();

// "12.3", "4.56", "1234" with about three significant digits.
std::string Fmt(double value);

// The first line of a command's stdout (popen), trimmed; "" on failure.
std::string CommandOutput(const std::string& command);

void SleepFor(nanoseconds duration);

}  // namespace procmod::bench

#endif  // PROCMOD_BENCH_BENCH_UTIL_H_
