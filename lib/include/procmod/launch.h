// procmod/launch.h
//
// Starts a procmod-server somewhere and hands back where to connect once it is
// ready, as ParaView's server profiles (.pvsc "CommandStartup") do, without their
// fixed delays and hand-made tunnels. A profile (YAML) says how:
//   local   procmod-server on this machine (optionally under mpiexec with N ranks);
//   ssh     procmod-server on a host through the system's OpenSSH client, its ready
//           line read back over the ssh channel;
//   batch   a job script submitted to the batch system (Slurm's sbatch, squeue,
//           scancel), the server's connection file read from a shared folder;
// and any of them `via` a broker: the server registers with it, so the node needs
// no inbound port. Readiness is the server's own word (its ready line or connection
// file), never a delay; the server or the job is always stopped with the handle.
//
//   procmod::Result<procmod::LaunchProfile> profile =
//       procmod::LoadLaunchProfile(procmod::FindLaunchProfile("cluster").value());
//   auto server = procmod::Launch(*profile, [](const procmod::LaunchProgress& p) {
//     std::fprintf(stderr, "%s %s\n", p.stage.c_str(), p.detail.c_str());
//   });
//   if (!server.ok()) return 4;                     // why: in the Status
//   ConnectTo((*server)->url());                     // tcp://node:port or broker+tcp://...
//   (*server)->Stop();                               // or let the handle go
//
// docs/LAUNCH.md has every profile key, with a profile of each kind.
#ifndef PROCMOD_LAUNCH_H_
#define PROCMOD_LAUNCH_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "procmod/result.h"
#include "procmod/status.h"

namespace procmod {

// One profile file, as read (docs/LAUNCH.md).
struct LaunchProfile {
  std::string name;    // the file's stem: cluster.yaml -> "cluster"
  std::string source;  // the file it came from
  std::string kind;    // "local", "ssh" or "batch"

  // How the server runs. `command` is procmod-server (on the far side for ssh and
  // batch); `args` are its extra flags. `ranks` > 0 starts it under `mpiexec` with
  // that many ranks (and `mpiexec_args`, e.g. [--oversubscribe]).
  std::string command = "procmod-server";
  std::vector<std::string> args;
  int ranks = 0;
  std::string mpiexec = "mpiexec";
  std::vector<std::string> mpiexec_args;
  // Where the server binds (port 0: any free one). Default: tcp://127.0.0.1:0 for
  // local, tcp://0.0.0.0:0 for ssh and batch (the ready endpoint's 0.0.0.0 is then
  // read as the host's name).
  std::string listen;
  // How long the server may run (its session timeout, so clients get the lifetime
  // warnings); for batch also the job's time limit. 0: no limit.
  std::chrono::milliseconds walltime{0};
  // How long to wait for the server to be ready, queueing included.
  std::chrono::milliseconds ready_timeout{std::chrono::minutes(2)};

  // ssh: the system's OpenSSH client, always with BatchMode (no password prompt).
  std::string ssh = "ssh";
  std::string host;
  std::string user;
  int port = 0;  // 0: ssh's default
  std::string identity;
  std::vector<std::string> ssh_options;

  // batch: the scheduler's commands (Slurm's by default), the job script template
  // (placeholders {server}, {walltime}, {name}, {log}) and the folder both sides
  // see, where the job writes its connection file and log.
  std::string submit = "sbatch";
  std::string status = "squeue";
  std::string cancel = "scancel";
  std::string script;
  std::string shared_dir;

  // via a broker: the server registers as `service` with `broker` (tcp://HOST:PORT);
  // the URL handed back is broker+tcp://HOST:PORT/SERVICE.
  std::string broker;
  std::string service;
};

// Reads a profile. `overrides` are "key=value" pairs applied to the file first
// (`procmod launch --set ssh.host=node7`): a dotted key, a YAML value. Errors are
// kInvalidArgument naming the file, the line and the key, like the server's config.
Result<LaunchProfile> LoadLaunchProfile(const std::string& path,
                                        const std::vector<std::string>& overrides = {});

// The file of profile `name`: `name` itself when it is a path to a file, else
// NAME.yaml in the first of `dirs` that has it; `dirs` empty: the defaults,
// $XDG_CONFIG_HOME/procmod/profiles (~/.config/procmod/profiles), then
// /etc/procmod/profiles. kNotFound lists where it looked.
Result<std::string> FindLaunchProfile(const std::string& name, std::vector<std::string> dirs = {});

// A step of a launch: "submitted", "queued", "starting", "ready", with details
// (the job id, the URL) and the time since the launch began.
struct LaunchProgress {
  std::string stage;
  std::string detail;
  std::chrono::milliseconds elapsed{0};
};
using LaunchProgressCallback = std::function<void(const LaunchProgress& progress)>;

// A launched server. Stop() (or the destructor) ends it: the local process group,
// the ssh session (the remote server with it), or the batch job (scancel).
class LaunchedServer {
 public:
  virtual ~LaunchedServer() = default;
  // Where clients connect: tcp://HOST:PORT, or broker+tcp://HOST:PORT/SERVICE.
  virtual const std::string& url() const = 0;
  // False once the server (or its ssh session, or its job) has ended by itself.
  virtual bool Running() = 0;
  // Idempotent; waits (a few seconds at most) for the server to be gone.
  virtual Status Stop() = 0;
};

// Starts the server the profile describes and returns once it is ready: the server
// said so, in its ready line or its connection file. Otherwise why not: a profile
// that cannot work (kInvalidArgument), a job that ended or failed to start, a
// server that exited (kUnavailable, with the last lines it printed), or no
// readiness within `ready_timeout` (kDeadlineExceeded, with the same lines). Nothing
// is left running when it fails.
// `cancelled`, asked a few times a second while it waits, gives up (kAborted) when
// it says so (Ctrl-C), stopping what was started.
Result<std::unique_ptr<LaunchedServer>> Launch(const LaunchProfile& profile,
                                               LaunchProgressCallback progress = {},
                                               std::function<bool()> cancelled = {});

}  // namespace procmod

#endif  // PROCMOD_LAUNCH_H_
