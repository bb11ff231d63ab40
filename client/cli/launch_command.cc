#include "launch_command.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "interrupt.h"
#include "procmod/exit_codes.h"
#include "procmod/launch.h"

extern char** environ;

namespace procmod::cli {
namespace {

using std::chrono::milliseconds;

void ShowProgress(const LaunchProgress& p) {
  std::fprintf(stderr, "procmod launch: %s%s%s (%.1f s)\n", p.stage.c_str(),
               p.detail.empty() ? "" : ": ", p.detail.c_str(), p.elapsed.count() / 1000.0);
}

int Fail(const Status& status) {
  std::fprintf(stderr, "procmod launch: %s\n", std::string(status.message()).c_str());
  if (status.IsInvalidArgument() || status.IsNotFound()) return kExitUsage;
  if (status.IsAborted()) return kExitFailed;
  return kExitUnreachable;
}

// Runs `command` in this terminal with PROCMOD_URL set; its exit status.
int RunWithUrl(const std::vector<std::string>& command, const std::string& url) {
  setenv("PROCMOD_URL", url.c_str(), 1);
  std::vector<char*> argv;
  for (const std::string& word : command) argv.push_back(const_cast<char*>(word.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (int error = posix_spawnp(&pid, argv[0], nullptr, nullptr, argv.data(), environ); error != 0) {
    std::fprintf(stderr, "procmod launch: cannot run %s: %s\n", argv[0], std::strerror(error));
    return 127;
  }
  int status = 0;
  // Ctrl-C reaches the command too (the same process group); it decides.
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : kExitFailed;
}

// Until Ctrl-C, or until the server (its process, its ssh session, its job) ends.
void HoldUntilDone(LaunchedServer& server) {
  auto next_check = std::chrono::steady_clock::now();
  while (!Interrupted()) {
    if (std::chrono::steady_clock::now() >= next_check) {
      if (!server.Running()) {
        std::fprintf(stderr, "procmod launch: the server ended\n");
        return;
      }
      next_check += milliseconds(1000);
    }
    std::this_thread::sleep_for(kInterruptCheck);
  }
}

}  // namespace

int Launch(const LaunchFlags& flags) {
  std::vector<std::string> dirs;
  if (!flags.profiles_dir.empty()) dirs.push_back(flags.profiles_dir);
  Result<std::string> path = FindLaunchProfile(flags.profile, dirs);
  if (!path.ok()) return Fail(path.status());
  Result<LaunchProfile> profile = LoadLaunchProfile(*path, flags.sets);
  if (!profile.ok()) return Fail(profile.status());
  std::fprintf(stderr, "procmod launch: %s (%s, from %s)\n", profile->name.c_str(),
               profile->kind.c_str(), path->c_str());
  InstallInterruptHandler();
  Result<std::unique_ptr<LaunchedServer>> server =
      procmod::Launch(*profile, ShowProgress, [] { return Interrupted(); });
  if (!server.ok()) return Fail(server.status());
  int code = kExitOk;
  if (flags.command.empty()) {
    std::printf("%s\n", (*server)->url().c_str());
    std::fflush(stdout);
    HoldUntilDone(**server);
  } else {
    code = RunWithUrl(flags.command, (*server)->url());
  }
  std::fprintf(stderr, "procmod launch: stopping the server\n");
  if (Status s = (*server)->Stop(); !s.ok()) {
    std::fprintf(stderr, "procmod launch: %s\n", std::string(s.message()).c_str());
  }
  return code;
}

}  // namespace procmod::cli
