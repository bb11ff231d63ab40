// Launch (procmod/launch.h): the three kinds of profile as one sequence, start the
// server, wait for its own word that it is ready, hand back where to connect.
//   local, ssh   a child process (procmod-server, mpiexec or ssh) whose output
//                carries the server's ready line
//   batch        a job: its script written to the shared folder, submitted, watched
//                with the status command, ready when its connection file (or, via a
//                broker, its ready line in the job's log) appears
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <thread>

#include "launch/child_process.h"
#include "procmod/config.h"
#include "procmod/connection_file.h"
#include "procmod/launch.h"

namespace procmod {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::string_view kReadyOn = "procmod-server: ready on ";
constexpr std::string_view kRegistered = "procmod-server: registered as ";
// How long a scheduler command (sbatch, squeue, scancel) may take.
constexpr milliseconds kCommandTimeout{30000};
// How often a batch job's state and files are looked at while it starts.
constexpr milliseconds kJobPoll{500};

// Reports progress with the time since the launch began.
class Steps {
 public:
  explicit Steps(LaunchProgressCallback callback) : callback_(std::move(callback)) {}
  void operator()(std::string stage, std::string detail = {}) const {
    if (!callback_) return;
    callback_(LaunchProgress{std::move(stage), std::move(detail),
                             std::chrono::duration_cast<milliseconds>(Clock::now() - start_)});
  }

 private:
  LaunchProgressCallback callback_;
  Clock::time_point start_ = Clock::now();
};

std::string Listen(const LaunchProfile& p) {
  if (!p.listen.empty()) return p.listen;
  return p.kind == "local" ? "tcp://127.0.0.1:0" : "tcp://0.0.0.0:0";
}

// The server's command line, mpiexec first when it runs in parallel.
std::vector<std::string> ServerArgv(const LaunchProfile& p, const std::string& connection_file) {
  std::vector<std::string> argv;
  if (p.ranks > 0) {
    argv = {p.mpiexec, "-n", std::to_string(p.ranks)};
    argv.insert(argv.end(), p.mpiexec_args.begin(), p.mpiexec_args.end());
  }
  argv.push_back(p.command);
  if (!p.broker.empty()) {
    argv.insert(argv.end(), {"--broker-url", p.broker, "--service", p.service});
  } else {
    argv.insert(argv.end(), {"--listen", Listen(p)});
  }
  if (!connection_file.empty()) argv.insert(argv.end(), {"--connection-file", connection_file});
  if (p.walltime.count() > 0)
    argv.insert(argv.end(), {"--session-timeout", FormatDuration(p.walltime)});
  argv.insert(argv.end(), p.args.begin(), p.args.end());
  return argv;
}

std::string ShellLine(const std::vector<std::string>& argv) {
  std::string line;
  for (const std::string& word : argv) line += (line.empty() ? "" : " ") + ShellQuote(word);
  return line;
}

// An endpoint bound to every interface names no host to dial: the host's name does.
std::string Dialable(std::string endpoint, const std::string& host) {
  for (std::string_view any : {"tcp://0.0.0.0:", "tcp://*:"}) {
    if (endpoint.rfind(any, 0) == 0 && !host.empty()) {
      endpoint = "tcp://" + host + ":" + endpoint.substr(any.size());
    }
  }
  return endpoint;
}

// broker+tcp://HOST:PORT/SERVICE from tcp://HOST:PORT.
std::string BrokerUrl(const LaunchProfile& p) {
  std::string broker = p.broker;
  if (broker.rfind("tcp://", 0) == 0) broker = broker.substr(6);
  return "broker+tcp://" + broker + "/" + p.service;
}

// The URL a ready line announces, or "" when `line` is not one.
std::string UrlOfReadyLine(const std::string& line, const LaunchProfile& p,
                           const std::string& host) {
  if (size_t at = line.find(kReadyOn); at != std::string::npos) {
    std::string endpoint = line.substr(at + kReadyOn.size());
    return Dialable(endpoint.substr(0, endpoint.find(' ')), host);  // " (ranks: N)"
  }
  if (line.find(kRegistered) != std::string::npos && !p.broker.empty()) return BrokerUrl(p);
  return "";
}

// ---- local and ssh: a child process that prints the ready line --------------

class ProcessServer : public LaunchedServer {
 public:
  ProcessServer(std::unique_ptr<ChildProcess> child, std::string url)
      : child_(std::move(child)), url_(std::move(url)) {}
  ~ProcessServer() override { (void)Stop(); }

  const std::string& url() const override { return url_; }
  bool Running() override { return !child_->Exited().has_value(); }
  Status Stop() override {
    // ssh: the end of its stdin is what stops the remote server (the wrapper in
    // SshArgv); then the local ssh, and anything else in its group, goes.
    child_->CloseInput();
    const auto deadline = Clock::now() + milliseconds(3000);
    while (!child_->Exited() && Clock::now() < deadline) {
      (void)child_->ReadLine(Clock::now() + milliseconds(50));  // keep its pipe drained
    }
    child_->Stop(milliseconds(3000));
    return Status();
  }

 private:
  std::unique_ptr<ChildProcess> child_;
  std::string url_;
};

// Runs "$@" (on the remote host, or here) and ends it when the ssh channel's stdin does: sshd
// sends a command without a terminal no signal when its client goes (killed or
// closed), and `ssh -tt` would rely on the server dying of SIGHUP and mangle its
// output. SIGTERM, then SIGKILL after 5 s; POSIX sh, cat, kill and sleep only. An
// asynchronous list gets /dev/null as its stdin, hence the channel kept on fd 3.
constexpr const char* kRemoteWrapper = R"(exec 3<&0
"$@" 0</dev/null 3<&- &
pid=$!
( cat >/dev/null
  kill -TERM "$pid" 2>/dev/null
  n=0
  while kill -0 "$pid" 2>/dev/null && [ "$n" -lt 50 ]; do sleep 0.1; n=$((n+1)); done
  kill -KILL "$pid" 2>/dev/null
) 0<&3 3<&- >/dev/null 2>&1 &
watcher=$!
exec 3<&- 0</dev/null
wait "$pid"; rc=$?
kill "$watcher" 2>/dev/null
exit "$rc")";

// ssh -T with BatchMode, its stdin a pipe only this process holds (closing it stops
// the remote server), the server under kRemoteWrapper.
std::vector<std::string> SshArgv(const LaunchProfile& p) {
  std::vector<std::string> argv = {p.ssh, "-T", "-o", "BatchMode=yes"};
  if (p.port > 0) argv.insert(argv.end(), {"-p", std::to_string(p.port)});
  if (!p.identity.empty()) argv.insert(argv.end(), {"-i", p.identity});
  if (!p.user.empty()) argv.insert(argv.end(), {"-l", p.user});
  argv.insert(argv.end(), p.ssh_options.begin(), p.ssh_options.end());
  // ssh joins its arguments into one line for the remote login shell: quoted here.
  argv.insert(argv.end(), {p.host, "exec sh -c " + ShellQuote(kRemoteWrapper) + " sh " +
                                       ShellLine(ServerArgv(p, ""))});
  return argv;
}

// Until `deadline`, in slices, so that a cancel is seen within a fifth of a second.
class Waiting {
 public:
  Waiting(milliseconds timeout, std::function<bool()> cancelled)
      : deadline_(Clock::now() + timeout), cancelled_(std::move(cancelled)) {}
  bool cancelled() const { return cancelled_ && cancelled_(); }
  bool over() const { return Clock::now() >= deadline_ || cancelled(); }
  Clock::time_point slice() const { return std::min(deadline_, Clock::now() + milliseconds(200)); }

 private:
  Clock::time_point deadline_;
  std::function<bool()> cancelled_;
};

Result<std::unique_ptr<LaunchedServer>> LaunchProcess(const LaunchProfile& p, const Steps& progress,
                                                      const Waiting& waiting) {
  const bool ssh = p.kind == "ssh";
  // A local server under the same wrapper: if this process dies (even by SIGKILL),
  // the end of the pipe stops the server, which runs in a process group of its own.
  std::vector<std::string> argv = ssh ? SshArgv(p) : ServerArgv(p, "");
  if (!ssh) argv.insert(argv.begin(), {"/bin/sh", "-c", kRemoteWrapper, "sh"});
  Result<std::unique_ptr<ChildProcess>> child = ChildProcess::Start(argv);
  if (!child.ok()) return child.status();
  progress("starting", ssh ? "ssh " + p.host : ShellLine(ServerArgv(p, "")));
  while (!waiting.over() && !(*child)->output_ended()) {
    std::optional<std::string> line = (*child)->ReadLine(waiting.slice());
    if (!line) continue;
    std::string url = UrlOfReadyLine(*line, p, ssh ? p.host : "127.0.0.1");
    if (url.empty()) continue;
    progress("ready", url);
    return std::unique_ptr<LaunchedServer>(new ProcessServer(std::move(*child), url));
  }
  const bool ended = (*child)->output_ended();
  std::string tail = (*child)->Tail();
  const int status = (*child)->Stop(milliseconds(3000));
  const std::string what = ssh ? "the server on " + p.host + " (through ssh)" : "the server";
  if (waiting.cancelled()) return AbortedError("cancelled; " + what + " was stopped");
  if (ended) {
    return UnavailableError(what + " exited (status " + std::to_string(status) +
                            ") before it was ready; its last lines:" + tail);
  }
  return DeadlineExceededError(what + " was not ready within " + FormatDuration(p.ready_timeout) +
                               "; its last lines:" + tail);
}

// ---- batch: a job ---------------------------------------------------------

class BatchServer : public LaunchedServer {
 public:
  BatchServer(LaunchProfile profile, std::string job, std::string url)
      : profile_(std::move(profile)), job_(std::move(job)), url_(std::move(url)) {}
  ~BatchServer() override { (void)Stop(); }

  const std::string& url() const override { return url_; }
  bool Running() override {
    Result<CommandOutput> state = RunCommand(StateArgv(profile_, job_), kCommandTimeout);
    return state.ok() &&
           (Trimmed(state->output) == "RUNNING" || Trimmed(state->output) == "PENDING");
  }
  Status Stop() override {
    if (stopped_.exchange(true)) return Status();
    return Cancel(profile_, job_);
  }

  static std::vector<std::string> StateArgv(const LaunchProfile& p, const std::string& job) {
    // -t all: a job that has ended is listed too (COMPLETED, FAILED, CANCELLED, ...)
    // rather than not at all, until the scheduler forgets it.
    return {p.status, "-h", "-t", "all", "-j", job, "-o", "%T"};
  }
  static std::string Trimmed(const std::string& text) {
    const size_t first = text.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) return "";
    const size_t last = text.find_last_not_of(" \t\r\n");
    return text.substr(first, last - first + 1);
  }
  static Status Cancel(const LaunchProfile& p, const std::string& job) {
    Result<CommandOutput> out = RunCommand({p.cancel, job}, kCommandTimeout);
    if (!out.ok()) return out.status();
    if (out->exit_code != 0) {
      return UnavailableError(p.cancel + " " + job + " failed: " + Trimmed(out->output));
    }
    return Status();
  }

 private:
  LaunchProfile profile_;
  std::string job_;
  std::string url_;
  std::atomic<bool> stopped_{false};
};

// "HH:MM:SS" for a job's time limit.
std::string SlurmTime(milliseconds walltime) {
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(walltime).count();
  char text[32];
  std::snprintf(text, sizeof text, "%02lld:%02lld:%02lld", static_cast<long long>(seconds / 3600),
                static_cast<long long>(seconds / 60 % 60), static_cast<long long>(seconds % 60));
  return text;
}

void Replace(std::string& text, const std::string& placeholder, const std::string& value) {
  for (size_t at = text.find(placeholder); at != std::string::npos;
       at = text.find(placeholder, at + value.size())) {
    text.replace(at, placeholder.size(), value);
  }
}

// The job script: the profile's template, or Slurm's plain one, with its placeholders.
std::string JobScript(const LaunchProfile& p, const std::string& server, const std::string& log,
                      const std::string& unique) {
  std::string script = p.script;
  if (script.empty()) {
    script = "#!/bin/sh\n#SBATCH --job-name={name}\n#SBATCH --output={log}\n";
    if (p.walltime.count() > 0) script += "#SBATCH --time={walltime}\n";
    script += "exec {server}\n";
  }
  Replace(script, "{server}", server);
  Replace(script, "{log}", log);
  Replace(script, "{name}", unique);
  Replace(script, "{walltime}", SlurmTime(p.walltime));
  return script;
}

// The ready line in the job's log, or "".
std::string ReadyUrlInLog(const std::string& log, const LaunchProfile& p) {
  std::ifstream in(log);
  std::string line;
  while (std::getline(in, line)) {
    if (std::string url = UrlOfReadyLine(line, p, ""); !url.empty()) return url;
  }
  return "";
}

std::string TailOf(const std::string& path) {
  std::ifstream in(path);
  std::deque<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    lines.push_back(line);
    if (lines.size() > 20) lines.pop_front();
  }
  std::string text;
  for (const std::string& l : lines) text += "\n  " + l;
  return text.empty() ? " (the job's log " + path + " is empty or missing)" : text;
}

Result<std::string> Submit(const LaunchProfile& p, const std::string& script_path) {
  Result<CommandOutput> out = RunCommand({p.submit, "--parsable", script_path}, kCommandTimeout);
  if (!out.ok()) return out.status();
  const std::string text = BatchServer::Trimmed(out->output);
  if (out->exit_code != 0 || text.empty()) {
    return UnavailableError(p.submit + " refused the job (status " +
                            std::to_string(out->exit_code) + "): " + text);
  }
  return text.substr(0, text.find(';'));  // "JOBID[;CLUSTER]"
}

Result<std::unique_ptr<LaunchedServer>> LaunchBatch(const LaunchProfile& p, const Steps& progress,
                                                    const Waiting& waiting) {
  static std::atomic<int> counter{0};
  const std::string unique =
      "procmod-" + p.name + "-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
  const std::string base = p.shared_dir + "/" + unique;
  const std::string connection_file = p.broker.empty() ? base + ".json" : "";
  const std::string log = base + ".log";
  std::error_code error;
  std::filesystem::create_directories(p.shared_dir, error);
  {
    std::ofstream script(base + ".sh");
    script << JobScript(p, ShellLine(ServerArgv(p, connection_file)), log, unique);
    if (!script) return UnavailableError("cannot write the job script " + base + ".sh");
  }
  Result<std::string> job = Submit(p, base + ".sh");
  if (!job.ok()) return job.status();
  progress("submitted", "job " + *job);
  std::string last_state;
  while (!waiting.over()) {
    std::string url;
    if (!connection_file.empty()) {
      if (Result<ConnectionInfo> info = ReadConnectionFile(connection_file); info.ok()) {
        url = info->endpoint;
      }
    } else {
      url = ReadyUrlInLog(log, p);
    }
    Result<CommandOutput> state = RunCommand(BatchServer::StateArgv(p, *job), kCommandTimeout);
    const std::string now =
        state.ok() && state->exit_code == 0 ? BatchServer::Trimmed(state->output) : "";
    if (!url.empty()) {
      if (url.rfind("tcp://0.0.0.0:", 0) == 0) {
        Result<CommandOutput> node =
            RunCommand({p.status, "-h", "-j", *job, "-o", "%N"}, kCommandTimeout);
        if (node.ok()) url = Dialable(url, BatchServer::Trimmed(node->output));
      }
      progress("ready", url);
      return std::unique_ptr<LaunchedServer>(new BatchServer(p, *job, url));
    }
    if (now != last_state && (now == "PENDING" || now == "RUNNING")) {
      progress(now == "PENDING" ? "queued" : "starting", "job " + *job);
      last_state = now;
    }
    if (now != "PENDING" && now != "RUNNING" && now != "CONFIGURING") {
      (void)BatchServer::Cancel(p, *job);
      return UnavailableError("job " + *job + " ended (" + (now.empty() ? "gone" : now) +
                              ") before the server was ready; the job's log:" + TailOf(log));
    }
    std::this_thread::sleep_for(kJobPoll);  // a batch system has nothing to wait on
  }
  (void)BatchServer::Cancel(p, *job);
  if (waiting.cancelled()) return AbortedError("cancelled; job " + *job + " was cancelled");
  return DeadlineExceededError("job " + *job + ": the server was not ready within " +
                               FormatDuration(p.ready_timeout) + " (" +
                               (last_state.empty() ? "never started" : last_state) +
                               "); cancelled. The job's log:" + TailOf(log));
}

}  // namespace

Result<std::unique_ptr<LaunchedServer>> Launch(const LaunchProfile& profile,
                                               LaunchProgressCallback callback,
                                               std::function<bool()> cancelled) {
  Steps progress(std::move(callback));
  Waiting waiting(profile.ready_timeout, std::move(cancelled));
  if (profile.kind == "local" || profile.kind == "ssh") {
    return LaunchProcess(profile, progress, waiting);
  }
  if (profile.kind == "batch") return LaunchBatch(profile, progress, waiting);
  return InvalidArgumentError("profile " + profile.source + ": unknown kind '" + profile.kind +
                              "'");
}

}  // namespace procmod
