// End to end: `procmod launch` as a user runs it, with real profiles (YAML files), the
// real procmod-server, and the real engines behind each kind: mpiexec for a parallel
// local server, an OpenSSH server started by the test on 127.0.0.1 with a throw-away
// key (test/support/sshd_local.sh), and a batch system (test/support/slurm_local.sh
// starts a one-node Slurm; where it cannot run, a stand-in with the same commands).
// Each test checks what the user sees: progress, the URL, the command's exit status,
// a clear error for a bad profile, and that nothing is left running afterwards.
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "procmod/launch.h"
#include "support/daemons.h"
#include "support/raw_peer.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"

#ifndef PROCMOD_CLI
#error "PROCMOD_CLI must name the procmod binary"
#endif
#ifndef PROCMOD_SERVER
#error "PROCMOD_SERVER must name the procmod-server binary"
#endif
#ifndef PROCMOD_SUPPORT_DIR
#error "PROCMOD_SUPPORT_DIR must name test/support"
#endif

namespace procmod::testing {
namespace {

using Clock = std::chrono::steady_clock;

constexpr milliseconds kLaunchDeadline{30000};

// Every running process whose command line contains `needle`.
std::vector<pid_t> ProcessesWith(const std::string& needle) {
  std::vector<pid_t> found;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return found;
  while (dirent* entry = readdir(proc)) {
    const pid_t pid = static_cast<pid_t>(std::atoi(entry->d_name));
    if (pid <= 0 || pid == getpid()) continue;
    std::ifstream file("/proc/" + std::string(entry->d_name) + "/cmdline");
    std::string cmdline((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    std::ifstream stat("/proc/" + std::string(entry->d_name) + "/stat");
    std::string stat_line;
    std::getline(stat, stat_line);
    const size_t paren = stat_line.rfind(')');
    const bool zombie =
        paren != std::string::npos && paren + 2 < stat_line.size() && stat_line[paren + 2] == 'Z';
    if (!zombie && cmdline.find(needle) != std::string::npos) found.push_back(pid);
  }
  closedir(proc);
  return found;
}

// True once no process has `needle` in its command line, within `timeout`.
bool NoneLeft(const std::string& needle, milliseconds timeout = milliseconds(10000)) {
  const auto deadline = Clock::now() + timeout;
  while (!ProcessesWith(needle).empty()) {
    if (Clock::now() > deadline) return false;
    usleep(20'000);  // a process table has nothing to wait on
  }
  return true;
}

// A unique server name per test, so the test finds its own processes only.
std::string UniqueName(const std::string& what) {
  static int counter = 0;
  return "launch-" + what + "-" + std::to_string(getpid()) + "-" + std::to_string(++counter);
}

std::string WriteProfile(const TempDir& dir, const std::string& name, const std::string& yaml) {
  const std::string path = dir.path() + "/" + name + ".yaml";
  std::ofstream(path) << yaml;
  return path;
}

// `procmod launch ARGS...`, stdout and stderr merged, to its end.
struct LaunchRun {
  std::optional<int> code;
  std::string output;
};
LaunchRun Launch(std::vector<std::string> args, milliseconds timeout = kLaunchDeadline) {
  args.insert(args.begin(), {PROCMOD_CLI, "launch"});
  Subprocess process(std::move(args), /*merge_stderr=*/true);
  LaunchRun run;
  run.output = process.ReadAll(timeout);
  run.code = process.Wait(timeout);
  return run;
}

std::string LocalProfile(const std::string& name, const std::string& extra = "") {
  return "kind: local\n"
         "server:\n"
         "  command: " PROCMOD_SERVER
         "\n"
         "  args: [--admin, none, --name, " +
         name + "]\n" + extra + "ready_timeout: 20s\n";
}

// A command that pings the launched server twice, through PROCMOD_URL.
std::vector<std::string> PingCommand() {
  return {"--", "sh", "-c", std::string(PROCMOD_CLI) + " ping -c 2 -i 0.1 \"$PROCMOD_URL\""};
}

// ---------------------------------------------------------------------------------

TEST(LaunchLocal, RunsTheCommandWithTheUrlThenStopsTheServer) {
  TempDir dir;
  const std::string name = UniqueName("local");
  const std::string profile = WriteProfile(dir, "viz", LocalProfile(name, "  walltime: 1h\n"));
  std::vector<std::string> args = {"viz", "--profiles", dir.path()};
  for (const std::string& word : PingCommand()) args.push_back(word);
  LaunchRun run = Launch(args);
  EXPECT_EQ(run.code, 0) << run.output;
  EXPECT_NE(run.output.find("procmod launch: ready: tcp://127.0.0.1:"), std::string::npos)
      << run.output;
  EXPECT_NE(run.output.find("2 sent, 2 received"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("--session-timeout 1h"), std::string::npos)  // walltime -> lifetime
      << run.output;
  EXPECT_TRUE(NoneLeft(name)) << "the server outlived its launcher";
}

TEST(LaunchLocal, TheCommandsExitStatusIsTheLaunchers) {
  TempDir dir;
  const std::string name = UniqueName("status");
  const std::string profile = WriteProfile(dir, "viz", LocalProfile(name));
  LaunchRun run = Launch({profile, "--", "sh", "-c", "exit 7"});
  EXPECT_EQ(run.code, 7) << run.output;
  EXPECT_TRUE(NoneLeft(name));
}

TEST(LaunchLocal, PrintsTheUrlAndStopsTheServerOnCtrlC) {
  TempDir dir;
  const std::string name = UniqueName("ctrlc");
  const std::string profile = WriteProfile(dir, "viz", LocalProfile(name, "  walltime: 1h\n"));
  Subprocess launcher({PROCMOD_CLI, "launch", profile});
  std::optional<std::string> url = launcher.ReadLine(kLaunchDeadline);
  ASSERT_TRUE(url.has_value());
  EXPECT_EQ(url->rfind("tcp://127.0.0.1:", 0), 0u) << *url;
  EXPECT_FALSE(ProcessesWith(name).empty());  // the server, alive while we hold it
  // The walltime is the server's lifetime: a client reads what is left in WELCOME.
  zmq::context_t context;
  RawDealer client(context, *url);
  std::optional<pmp::Welcome> welcome = client.Hello(MakeHello("client", "reader"));
  ASSERT_TRUE(welcome.has_value());
  EXPECT_GT(welcome->expires_in_ms, 3'500'000u);
  EXPECT_LE(welcome->expires_in_ms, 3'600'000u);
  launcher.Signal(SIGINT);
  EXPECT_EQ(launcher.Wait(kLaunchDeadline), 0);
  EXPECT_TRUE(NoneLeft(name));
}

TEST(LaunchLocal, UnderMpiexecWithRanks) {
#ifndef PROCMOD_MPIEXEC
  GTEST_SKIP() << "procmod was built without MPI (PROCMOD_MPI=OFF)";
#else
  TempDir dir;
  const std::string name = UniqueName("mpi");
  setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);  // CI runs as root; Open MPI asks for both
  setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
  const std::string profile =
      WriteProfile(dir, "par",
                   LocalProfile(name, "  ranks: 2\n  mpiexec: " PROCMOD_MPIEXEC
                                      "\n  mpiexec_args: [--oversubscribe]\n"));
  LaunchRun run =
      Launch({profile, "--", "sh", "-c", std::string(PROCMOD_CLI) + " connect \"$PROCMOD_URL\""});
  EXPECT_EQ(run.code, 0) << run.output;
  EXPECT_NE(run.output.find("mpiexec -n 2 --oversubscribe"), std::string::npos) << run.output;
  EXPECT_TRUE(NoneLeft(name)) << "a rank outlived the launcher";
#endif
}

TEST(LaunchLocal, AKilledLauncherTakesItsServerWithIt) {
  TempDir dir;
  const std::string name = UniqueName("orphan");
  const std::string profile = WriteProfile(dir, "viz", LocalProfile(name));
  Subprocess launcher({PROCMOD_CLI, "launch", profile});
  ASSERT_TRUE(launcher.ReadLine(kLaunchDeadline).has_value());
  EXPECT_FALSE(ProcessesWith(name).empty());
  launcher.Signal(SIGKILL);  // no chance to stop anything itself
  launcher.Wait(kLaunchDeadline);
  EXPECT_TRUE(NoneLeft(name)) << "the server outlived its SIGKILLed launcher";
}

TEST(LaunchLocal, ViaABrokerTheUrlIsTheBrokersService) {
  Daemon broker = StartDaemon({PROCMOD_BROKER, "--port", "0", "--admin", "none"}, kBrokerReady,
                              /*merge_stderr=*/true);
  ASSERT_FALSE(broker.endpoint.empty());
  TempDir dir;
  const std::string name = UniqueName("via");
  const std::string profile = WriteProfile(
      dir, "viz",
      LocalProfile(name) + "via:\n  broker: " + broker.endpoint + "\n  service: " + name + "\n");
  LaunchRun run = Launch(
      {profile, "--", "sh", "-c", std::string(PROCMOD_CLI) + " ping -c 2 -i 0.1 \"$PROCMOD_URL\""});
  EXPECT_EQ(run.code, 0) << run.output;
  EXPECT_NE(run.output.find("ready: broker+tcp://" + broker.endpoint.substr(6) + "/" + name),
            std::string::npos)
      << run.output;
  EXPECT_NE(run.output.find("2 sent, 2 received"), std::string::npos) << run.output;
  EXPECT_TRUE(NoneLeft(name));
}

// ---- bad profiles and servers that never get ready ------------------------------

// The examples docs/LAUNCH.md shows are real, loadable profiles.
TEST(LaunchProfiles, EveryExampleProfileLoads) {
  int loaded = 0;
  for (const auto& entry : std::filesystem::directory_iterator(PROCMOD_PROFILES_DIR)) {
    Result<LaunchProfile> profile = LoadLaunchProfile(entry.path().string());
    EXPECT_TRUE(profile.ok()) << profile.status().ToString();
    ++loaded;
  }
  EXPECT_GE(loaded, 5);
  Result<LaunchProfile> cluster = LoadLaunchProfile(PROCMOD_PROFILES_DIR "/cluster.yaml",
                                                    {"server.ranks=8", "batch.shared_dir=/tmp/x"});
  ASSERT_TRUE(cluster.ok()) << cluster.status().ToString();
  EXPECT_EQ(cluster->ranks, 8);
  EXPECT_EQ(cluster->shared_dir, "/tmp/x");
  EXPECT_EQ(cluster->walltime, std::chrono::hours(2));
}

TEST(LaunchProfiles, AnUnknownKindNamesTheFileLineAndTheNearestKind) {
  TempDir dir;
  const std::string profile = WriteProfile(dir, "bad", "# a typo\nkind: sssh\n");
  LaunchRun run = Launch({profile});
  EXPECT_EQ(run.code, 2);
  EXPECT_NE(run.output.find("bad.yaml:2: kind: expected one of local, ssh, batch, got \"sssh\" "
                            "(did you mean 'ssh'?)"),
            std::string::npos)
      << run.output;
}

TEST(LaunchProfiles, AnSshProfileWithoutAHostIsRefusedBeforeAnythingRuns) {
  TempDir dir;
  const std::string profile = WriteProfile(dir, "nohost", "kind: ssh\nssh:\n  user: alice\n");
  LaunchRun run = Launch({profile});
  EXPECT_EQ(run.code, 2);
  EXPECT_NE(run.output.find("nohost.yaml:1: ssh.host: required for kind ssh"), std::string::npos)
      << run.output;
}

TEST(LaunchProfiles, SetOverridesAKeyAndItsErrorsAreReportedToo) {
  TempDir dir;
  const std::string name = UniqueName("set");
  const std::string profile = WriteProfile(dir, "viz", LocalProfile(name));
  LaunchRun bad = Launch({profile, "--set", "ssh.port=99999"});
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.output.find("ssh.port: expected a whole number from 1 to 65535, got 99999"),
            std::string::npos)
      << bad.output;
  LaunchRun unknown = Launch({"no-such-profile", "--profiles", dir.path()});
  EXPECT_EQ(unknown.code, 2);
  EXPECT_NE(unknown.output.find("no profile 'no-such-profile'"), std::string::npos)
      << unknown.output;
}

TEST(LaunchProfiles, AServerThatNeverGetsReadyTimesOutShowingItsLastLines) {
  TempDir dir;
  const std::string name = UniqueName("never");
  const std::string script = dir.path() + "/stuck-server";
  // A unique length of sleep, so the test finds its own (the script execs it).
  const std::string sleep_for = "59." + std::to_string(getpid());
  std::ofstream(script) << "#!/bin/sh\necho \"loading the data set ($*)\"\necho 'still loading'\n"
                           "exec sleep " +
                               sleep_for + "\n";
  chmod(script.c_str(), 0755);
  const std::string profile = WriteProfile(
      dir, "stuck", "kind: local\nserver:\n  command: " + script + "\nready_timeout: 1s\n");
  const auto start = Clock::now();
  LaunchRun run = Launch({profile});
  EXPECT_EQ(run.code, 4) << run.output;
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(8));
  EXPECT_NE(run.output.find("was not ready within 1s"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("still loading"), std::string::npos) << run.output;  // the tail
  EXPECT_TRUE(NoneLeft("sleep " + sleep_for));
}

TEST(LaunchProfiles, AServerThatExitsAtOnceIsReportedWithWhatItSaid) {
  TempDir dir;
  const std::string profile = WriteProfile(dir, "broken",
                                           "kind: local\nserver:\n  command: " PROCMOD_SERVER
                                           "\n  args: [--no-such-flag]\n");
  LaunchRun run = Launch({profile});
  EXPECT_EQ(run.code, 4) << run.output;
  EXPECT_NE(run.output.find("exited (status 2) before it was ready"), std::string::npos)
      << run.output;
  EXPECT_NE(run.output.find("--no-such-flag"), std::string::npos) << run.output;
}

// ---- ssh, against a real OpenSSH server on 127.0.0.1 ---------------------------

// sshd_local.sh's sshd for one test: started in a scratch folder, stopped after.
class LocalSshd {
 public:
  LocalSshd() {
    Subprocess start({"/bin/bash", PROCMOD_SUPPORT_DIR "/sshd_local.sh", "start", dir_.path()},
                     /*merge_stderr=*/true);
    const std::string output = start.ReadAll(kLaunchDeadline);
    code_ = start.Wait(kLaunchDeadline);
    std::istringstream lines(output);
    for (std::string line; std::getline(lines, line);) {
      if (size_t eq = line.find('='); eq != std::string::npos && line.rfind("SSHD_", 0) == 0) {
        values_[line.substr(0, eq)] = line.substr(eq + 1);
      }
    }
    output_ = output;
  }
  ~LocalSshd() {
    Subprocess stop({"/bin/bash", PROCMOD_SUPPORT_DIR "/sshd_local.sh", "stop", dir_.path()});
    stop.Wait(kLaunchDeadline);
  }
  std::optional<int> code() const { return code_; }
  const std::string& output() const { return output_; }
  std::string operator[](const std::string& key) const {
    auto it = values_.find(key);
    return it == values_.end() ? "" : it->second;
  }

 private:
  TempDir dir_;
  std::optional<int> code_;
  std::string output_;
  std::map<std::string, std::string> values_;
};

std::string SshProfile(const LocalSshd& sshd, const std::string& name) {
  return "kind: ssh\n"
         "server:\n"
         "  command: " PROCMOD_SERVER
         "\n"
         "  args: [--admin, none, --name, " +
         name +
         "]\n"
         "  listen: tcp://127.0.0.1:0\n"
         "ssh:\n"
         "  host: 127.0.0.1\n"
         "  port: " +
         sshd["SSHD_PORT"] +
         "\n"
         "  user: " +
         sshd["SSHD_USER"] +
         "\n"
         "  identity: " +
         sshd["SSHD_KEY"] +
         "\n"
         "  options: [-o, UserKnownHostsFile=" +
         sshd["SSHD_KNOWN_HOSTS"] +
         "]\n"
         "ready_timeout: 20s\n";
}

TEST(LaunchSsh, RunsTheServerThroughSshReadsItsReadyLineAndStopsItOnCtrlC) {
  LocalSshd sshd;
  if (sshd.code() == 77) GTEST_SKIP() << sshd.output();
  ASSERT_EQ(sshd.code(), 0) << sshd.output();
  TempDir dir;
  const std::string name = UniqueName("ssh");
  const std::string profile = WriteProfile(dir, "remote", SshProfile(sshd, name));

  LaunchRun run = Launch(
      {profile, "--", "sh", "-c", std::string(PROCMOD_CLI) + " ping -c 2 -i 0.1 \"$PROCMOD_URL\""});
  EXPECT_EQ(run.code, 0) << run.output;
  EXPECT_NE(run.output.find("starting: ssh 127.0.0.1"), std::string::npos) << run.output;
  EXPECT_TRUE(NoneLeft(name)) << "the remote server outlived its ssh session";

  Subprocess launcher({PROCMOD_CLI, "launch", profile});
  std::optional<std::string> url = launcher.ReadLine(kLaunchDeadline);
  ASSERT_TRUE(url.has_value());
  EXPECT_EQ(url->rfind("tcp://127.0.0.1:", 0), 0u) << *url;
  EXPECT_FALSE(ProcessesWith(name).empty());  // the remote server, while we hold it
  launcher.Signal(SIGINT);
  EXPECT_EQ(launcher.Wait(kLaunchDeadline), 0);
  EXPECT_TRUE(NoneLeft(name)) << "Ctrl-C left the remote server running";
}

TEST(LaunchSsh, AnUnreachableHostFailsWithSshsOwnWords) {
  LocalSshd sshd;
  if (sshd.code() == 77) GTEST_SKIP() << sshd.output();
  ASSERT_EQ(sshd.code(), 0) << sshd.output();
  TempDir dir;
  // The right sshd, the wrong key: ssh refuses (BatchMode: no password prompt).
  std::string yaml = SshProfile(sshd, UniqueName("denied"));
  const std::string wrong_key = dir.path() + "/not-a-key";
  std::ofstream(wrong_key) << "not a key\n";
  chmod(wrong_key.c_str(), 0600);
  yaml.replace(yaml.find(sshd["SSHD_KEY"]), sshd["SSHD_KEY"].size(), wrong_key);
  LaunchRun run = Launch({WriteProfile(dir, "denied", yaml)});
  EXPECT_EQ(run.code, 4) << run.output;
  EXPECT_NE(run.output.find("(through ssh) exited (status 255)"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("Permission denied"), std::string::npos) << run.output;
}

// ---- batch, against a one-node Slurm on this machine -----------------------------

// slurm_local.sh's Slurm for one test suite (munged, slurmctld, slurmd; loopback
// ports of its own), with SLURM_CONF set for the launcher's sbatch, squeue, scancel.
class LocalSlurm : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    Subprocess start({"/bin/bash", PROCMOD_SUPPORT_DIR "/slurm_local.sh", "start", dir_->path()},
                     /*merge_stderr=*/true);
    output_ = new std::string(start.ReadAll(kLaunchDeadline));
    code_ = start.Wait(kLaunchDeadline);
    if (code_ == 0) setenv("SLURM_CONF", (dir_->path() + "/slurm.conf").c_str(), 1);
  }
  static void TearDownTestSuite() {
    Subprocess stop({"/bin/bash", PROCMOD_SUPPORT_DIR "/slurm_local.sh", "stop", dir_->path()});
    stop.Wait(kLaunchDeadline);
    unsetenv("SLURM_CONF");
    delete dir_;
    delete output_;
  }
  void SetUp() override {
    if (code_ == 77) GTEST_SKIP() << *output_;
    ASSERT_EQ(code_, 0) << *output_;
  }

  std::string BatchProfile(const std::string& name, const std::string& args,
                           const std::string& extra = "") {
    return "kind: batch\n"
           "server:\n"
           "  command: " PROCMOD_SERVER
           "\n"
           "  args: [--admin, none, --name, " +
           name + args +
           "]\n"
           "  listen: tcp://127.0.0.1:0\n"
           "  walltime: 10m\n"
           "batch:\n"
           "  shared_dir: " +
           shared_.path() + "\n" + extra + "ready_timeout: 45s\n";
  }

  // The job's state as the scheduler tells it now.
  static std::string JobState(const std::string& job) {
    Subprocess squeue({"/usr/bin/squeue", "-h", "-t", "all", "-j", job, "-o", "%T"});
    std::string state = squeue.ReadAll(kLaunchDeadline);
    squeue.Wait(kLaunchDeadline);
    return state.substr(0, state.find('\n'));
  }

  static std::string JobOf(const std::string& output) {
    const std::string marker = "submitted: job ";
    const size_t at = output.find(marker);
    if (at == std::string::npos) return "";
    const size_t start = at + marker.size();
    return output.substr(start, output.find_first_not_of("0123456789", start) - start);
  }

  static inline TempDir* dir_ = nullptr;
  static inline std::string* output_ = nullptr;
  static inline std::optional<int> code_;
  TempDir shared_;  // the folder the job and the launcher both see
};

TEST_F(LocalSlurm, SubmitsWaitsForTheConnectionFileThenCancelsTheJob) {
  TempDir dir;
  const std::string name = UniqueName("batch");
  // --multi-clients: it outlives its client, so only the launcher's cancel ends it.
  const std::string profile = WriteProfile(dir, "cluster", BatchProfile(name, ", --multi-clients"));
  LaunchRun run = Launch(
      {profile, "--", "sh", "-c", std::string(PROCMOD_CLI) + " ping -c 2 -i 0.1 \"$PROCMOD_URL\""});
  EXPECT_EQ(run.code, 0) << run.output;
  const std::string job = JobOf(run.output);
  ASSERT_FALSE(job.empty()) << run.output;
  EXPECT_TRUE(run.output.find("queued: job " + job) != std::string::npos ||
              run.output.find("starting: job " + job) != std::string::npos)
      << run.output;
  EXPECT_NE(run.output.find("ready: tcp://127.0.0.1:"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("2 sent, 2 received"), std::string::npos) << run.output;
  // Cancelled, not left to run out its 10 minutes.
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (JobState(job) != "CANCELLED" && Clock::now() < deadline) usleep(100'000);
  EXPECT_EQ(JobState(job), "CANCELLED");
  EXPECT_TRUE(NoneLeft(name)) << "the job's server outlived the launcher";
}

TEST_F(LocalSlurm, AJobWhoseServerFailsIsReportedWithTheJobsLog) {
  TempDir dir;
  const std::string profile =
      WriteProfile(dir, "broken", BatchProfile(UniqueName("broken"), ", --no-such-flag"));
  LaunchRun run = Launch({profile});
  EXPECT_EQ(run.code, 4) << run.output;
  EXPECT_NE(run.output.find("before the server was ready; the job's log:"), std::string::npos)
      << run.output;
  EXPECT_NE(run.output.find("--no-such-flag"), std::string::npos) << run.output;
}

TEST_F(LocalSlurm, ARefusedSubmissionSaysWhatTheSchedulerSaid) {
  TempDir dir;
  // A partition that does not exist: sbatch refuses the job at once.
  const std::string profile =
      WriteProfile(dir, "refused",
                   BatchProfile(UniqueName("refused"), "",
                                "  script: \"#!/bin/sh\\n#SBATCH --partition=no-such-partition\\n"
                                "exec {server}\\n\"\n"));
  LaunchRun run = Launch({profile});
  EXPECT_EQ(run.code, 4) << run.output;
  EXPECT_NE(run.output.find("sbatch refused the job"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("partition"), std::string::npos) << run.output;
}

}  // namespace
}  // namespace procmod::testing
