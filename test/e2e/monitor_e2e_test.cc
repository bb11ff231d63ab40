// End to end: the real procmod-monitor binary against real admin endpoints: a
// procmod-server child process (multi-client, port 0, a unique ipc:// admin endpoint)
// whose clients are RawDealers or a real client process, and a reverse-mode client
// module in this process. Each test checks what a user of the monitor sees: the
// table, the JSON, the lines on stderr, the exit code, and how fast.
//
// No fixed ports, only loopback, and no sleeping to synchronise: every wait is for a
// line, a frame, a list that changed or an exit, polled with a deadline.
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "procmod/config.h"
#include "procmod/process_module.h"
#include "support/daemons.h"
#include "support/module_fixture.h"
#include "support/raw_peer.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"

#ifndef PROCMOD_MONITOR
#error "PROCMOD_MONITOR must name the procmod-monitor binary"
#endif
#ifndef PROCMOD_SERVER
#error "PROCMOD_SERVER must name the procmod-server binary"
#endif
#ifndef PROCMOD_TEST_PEER
#error "PROCMOD_TEST_PEER must name the procmod_test_peer binary"
#endif

namespace procmod::testing {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::duration_cast;

// Peers that are not about expiry must not expire while a slow machine runs the test:
// RawDealers never PING.
constexpr std::string_view kLongHeartbeat = "heartbeat: {interval: 10s, liveness: 3}\n";
// Where a test waits for expiry: 100 ms x 3.
constexpr std::string_view kShortHeartbeat = "heartbeat: {interval: 100ms, liveness: 3}\n";
constexpr milliseconds kShortExpiry{300};
// watch(1)-style frame header of `list --watch`, and the ANSI redraw sequence.
constexpr std::string_view kWatchHeader = "procmod-monitor list: ";
constexpr std::string_view kClearHome = "\x1b[H\x1b[2J";

milliseconds Since(Clock::time_point start) {
  return duration_cast<milliseconds>(Clock::now() - start);
}

milliseconds Left(Clock::time_point deadline) {
  return std::max(milliseconds(0), duration_cast<milliseconds>(deadline - Clock::now()));
}

// A multi-client procmod-server on port 0 with its own admin endpoint. Stopped with
// SIGTERM, as an operator would, then its ipc:// file is removed.
class Server {
 public:
  explicit Server(std::string_view yaml = kLongHeartbeat)
      : admin_(UniqueAdminEndpoint("procmod-mon")) {
    daemon_ = StartDaemon({PROCMOD_SERVER, "--config", dir_.Write("server.yaml", yaml), "--port",
                           "0", "--multi-clients", "--admin", admin_},
                          kServerReady, /*merge_stderr=*/true);
  }
  ~Server() {
    daemon_.process->Signal(SIGTERM);
    EXPECT_EQ(daemon_.process->Wait(kDeadline), 0) << "procmod-server did not exit cleanly";
    RemoveIpcFile(admin_);
  }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  const std::string& url() const { return daemon_.endpoint; }  // tcp://127.0.0.1:PORT
  const std::string& admin() const { return admin_; }          // ipc:///tmp/procmod-mon-...
  pid_t pid() const { return daemon_.process->pid(); }

 private:
  TempDir dir_;
  std::string admin_;
  Daemon daemon_;
};

struct MonitorRun {
  std::optional<int> exit_code;  // nothing: it did not exit within the deadline
  std::string output;            // stdout (and stderr when merged)
  milliseconds took{0};
};

// Runs procmod-monitor with `args` to completion.
MonitorRun Monitor(std::vector<std::string> args, bool merge_stderr = false) {
  args.insert(args.begin(), PROCMOD_MONITOR);
  const auto start = Clock::now();
  Subprocess process(std::move(args), merge_stderr);
  MonitorRun run;
  run.output = process.ReadAll(kDeadline);
  run.exit_code = process.Wait(kDeadline);
  run.took = Since(start);
  return run;
}

// `list --json` of `admin`: the peers, or a test failure and an empty array.
json ListJson(const std::string& admin) {
  MonitorRun run = Monitor({"--admin", admin, "list", "--json"});
  EXPECT_EQ(run.exit_code, 0) << run.output;
  json peers = json::parse(run.output, nullptr, /*allow_exceptions=*/false);
  EXPECT_TRUE(peers.is_array()) << run.output;
  return peers.is_array() ? peers : json::array();
}

std::multiset<std::string> NamesIn(const json& peers) {
  std::multiset<std::string> names;
  for (const json& peer : peers) names.insert(peer.value("name", ""));
  return names;
}

std::multiset<std::string> ListedNames(const std::string& admin) {
  return NamesIn(ListJson(admin));
}

std::string SessionOf(const json& peers, const std::string& name) {
  for (const json& peer : peers) {
    if (peer.value("name", "") == name) return peer.value("session", "");
  }
  return "";
}

// Polls `list --json` until `name` is listed (`present`) or not; false on deadline.
bool EventuallyListed(const std::string& admin, const std::string& name, bool present,
                      milliseconds timeout = kDeadline) {
  return Eventually([&] { return ListedNames(admin).contains(name) == present; }, timeout);
}

// The next BYE `dealer` receives; DATA before it (collab announcements) is skipped.
std::optional<pmp::Bye> ReceiveBye(RawDealer& dealer) {
  const auto deadline = Clock::now() + kDeadline;
  while (std::optional<pmp::Message> m = dealer.Receive(Left(deadline))) {
    if (auto* bye = std::get_if<pmp::Bye>(&m->header)) return *bye;
  }
  return std::nullopt;
}

size_t Count(std::string_view text, std::string_view needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string_view::npos;
       at = text.find(needle, at + needle.size())) {
    ++n;
  }
  return n;
}

// procmod-monitor on a pseudo-terminal (forkpty), so it sees a tty on stdout.
// Killed (SIGKILL) and reaped in the destructor if it is still running.
class PtyProcess {
 public:
  explicit PtyProcess(std::vector<std::string> argv) {
    std::vector<char*> args;  // built before fork: the child only calls execv
    for (std::string& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    pid_ = forkpty(&master_, nullptr, nullptr, nullptr);
    if (pid_ < 0) throw std::runtime_error("forkpty failed");
    if (pid_ == 0) {
      execv(args[0], args.data());
      _exit(127);
    }
  }
  ~PtyProcess() {
    if (!exit_code_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    close(master_);
  }
  PtyProcess(const PtyProcess&) = delete;
  PtyProcess& operator=(const PtyProcess&) = delete;

  // Reads what the terminal shows until `done(all output so far)` or `timeout`.
  template <typename Done>
  bool ReadUntil(Done done, milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (!done(output_)) {
      if (Left(deadline).count() == 0 || !ReadSome(Left(deadline))) return false;
    }
    return true;
  }

  // The exit code (128 + signal if killed), draining the terminal meanwhile so the
  // child never blocks writing to it.
  std::optional<int> Wait(milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return exit_code_;
      }
      if (Left(deadline).count() == 0) return std::nullopt;
      ReadSome(milliseconds(5));  // also the polling interval of waitpid
    }
  }

  void Signal(int signal) { kill(pid_, signal); }
  const std::string& output() const { return output_; }

 private:
  bool ReadSome(milliseconds timeout) {
    pollfd p{master_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
    char chunk[4096];
    const ssize_t n = read(master_, chunk, sizeof chunk);
    if (n <= 0) return false;  // EIO once the child has gone
    output_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int master_ = -1;
  std::string output_;
  std::optional<int> exit_code_;
};

// ---------------------------------------------------------------------------------
// list
// ---------------------------------------------------------------------------------

TEST(MonitorList, JsonShowsExactlyTheConnectedPeers) {
  Server server;
  zmq::context_t context;
  RawDealer alice(context, server.url()), bob(context, server.url());
  ASSERT_TRUE(alice.Hello(MakeHello("client", "alice")).has_value());
  ASSERT_TRUE(bob.Hello(MakeHello("client", "bob")).has_value());

  json peers = ListJson(server.admin());
  EXPECT_EQ(NamesIn(peers), (std::multiset<std::string>{"alice", "bob"}));
  for (const json& peer : peers) {
    for (const char* key : {"session", "name", "role", "address", "state", "master", "connected_ms",
                            "idle_ms", "rtt_us", "msgs_in", "msgs_out", "bytes_in", "bytes_out"}) {
      EXPECT_TRUE(peer.contains(key)) << key << " missing in " << peer.dump();
    }
    EXPECT_EQ(peer["role"], "client");
    EXPECT_EQ(peer["address"], "127.0.0.1");
  }
  EXPECT_EQ(peers[0]["master"], true);  // the oldest client
}

TEST(MonitorList, TableHasTheHeaderAndThePeerNames) {
  Server server;
  zmq::context_t context;
  RawDealer alice(context, server.url()), bob(context, server.url());
  ASSERT_TRUE(alice.Hello(MakeHello("client", "alice")).has_value());
  ASSERT_TRUE(bob.Hello(MakeHello("client", "bob")).has_value());

  MonitorRun run = Monitor({"--admin", server.admin(), "list"});
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const std::string header = run.output.substr(0, run.output.find('\n'));
  for (const char* column : {"SESSION", "NAME", "ROLE", "ADDRESS", "STATE", "MASTER", "CONNECTED",
                             "IDLE", "PING-RTT", "MSGS(in/out)", "BYTES(in/out)"}) {
    EXPECT_NE(header.find(column), std::string::npos) << column << " in " << header;
  }
  EXPECT_EQ(Count(run.output, "\n"), 3u) << run.output;  // header + one line per peer
  EXPECT_NE(run.output.find("alice"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("bob"), std::string::npos) << run.output;
  EXPECT_EQ(run.output.find("(no connections)"), std::string::npos) << run.output;
}

TEST(MonitorList, EmptyTableIsTheHeaderAndNoConnections) {
  Server server;
  MonitorRun run = Monitor({"--admin", server.admin(), "list"});
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(run.output.rfind("SESSION", 0), 0u) << run.output;
  EXPECT_NE(run.output.find("\n(no connections)\n"), std::string::npos) << run.output;
  EXPECT_EQ(ListJson(server.admin()), json::array());
}

TEST(MonitorList, PeerThatSaysByeIsGoneWithinOneSecond) {
  Server server;
  zmq::context_t context;
  RawDealer alice(context, server.url()), bob(context, server.url());
  ASSERT_TRUE(alice.Hello(MakeHello("client", "alice")).has_value());
  ASSERT_TRUE(bob.Hello(MakeHello("client", "bob")).has_value());
  ASSERT_TRUE(EventuallyListed(server.admin(), "alice", true));

  alice.Send(pmp::Bye{"done"});
  const auto said_bye = Clock::now();
  EXPECT_TRUE(EventuallyListed(server.admin(), "alice", false, milliseconds(1000)));
  EXPECT_LT(Since(said_bye), milliseconds(1000));
  EXPECT_EQ(ListedNames(server.admin()), std::multiset<std::string>{"bob"});
}

TEST(MonitorList, SilentPeerIsGoneWithinHeartbeatExpiry) {
  Server server(kShortHeartbeat);
  zmq::context_t context;
  RawDealer silent(context, server.url());  // never PINGs: silent from the start
  ASSERT_TRUE(silent.Hello(MakeHello("client", "silent")).has_value());
  const auto last_heard = Clock::now();

  EXPECT_TRUE(EventuallyListed(server.admin(), "silent", false));
  EXPECT_GE(Since(last_heard), kShortExpiry - milliseconds(50));
  EXPECT_LT(Since(last_heard), kShortExpiry + milliseconds(1000));
}

TEST(MonitorList, KilledPeerProcessIsGoneWithinHeartbeatExpiry) {
  // Resume off: the session ends at expiry.
  Server server(std::string(kShortHeartbeat) + "resume: {grace: 0s}\n");
  // A real procmod client in a process of its own: pings, then holds its session.
  Subprocess client({PROCMOD_TEST_PEER, "client", "forward", "single", server.url(), "0", "hold"},
                    /*merge_stderr=*/true);
  ASSERT_TRUE(client.WaitForLine("HOLDING", kDeadline).has_value());
  ASSERT_TRUE(EventuallyListed(server.admin(), "test-peer-client", true));

  client.Signal(SIGKILL);
  const auto killed = Clock::now();
  ASSERT_EQ(client.Wait(kDeadline), 128 + SIGKILL);
  EXPECT_TRUE(EventuallyListed(server.admin(), "test-peer-client", false));
  EXPECT_LT(Since(killed), kShortExpiry + milliseconds(1000));
}

// The state of the first peer named `name` in `list --json`, "" when none is.
std::string StateOf(const std::string& admin, const std::string& name, json* peer_out = nullptr) {
  for (const json& peer : ListJson(admin)) {
    if (peer.value("name", "") != name) continue;
    if (peer_out) *peer_out = peer;
    return peer.value("state", "");
  }
  return "";
}

TEST(MonitorList, AKilledPeersResumableSessionIsSuspendedThenGoneAfterTheGrace) {
  Server server(std::string(kShortHeartbeat) + "resume: {grace: 1500ms}\n");
  Subprocess client({PROCMOD_TEST_PEER, "client", "forward", "single", server.url(), "0", "hold"},
                    /*merge_stderr=*/true);
  ASSERT_TRUE(client.WaitForLine("HOLDING", kDeadline).has_value());
  ASSERT_TRUE(EventuallyListed(server.admin(), "test-peer-client", true));
  EXPECT_EQ(StateOf(server.admin(), "test-peer-client"), "admitted");

  client.Signal(SIGKILL);
  const auto killed = Clock::now();
  ASSERT_EQ(client.Wait(kDeadline), 128 + SIGKILL);
  // Noticed within the heartbeat's expiry, and kept for a resume meanwhile.
  ASSERT_TRUE(Eventually(
      [&] { return StateOf(server.admin(), "test-peer-client") == "suspended"; }, kDeadline));
  EXPECT_LT(Since(killed), kShortExpiry + milliseconds(1000));
  json peer;
  StateOf(server.admin(), "test-peer-client", &peer);
  ASSERT_TRUE(peer.contains("resume_left_ms")) << peer.dump();
  EXPECT_GT(peer["resume_left_ms"].get<int64_t>(), 0);
  EXPECT_LE(peer["resume_left_ms"].get<int64_t>(), 1500);
  const MonitorRun table = Monitor({"--admin", server.admin(), "list"});
  EXPECT_NE(table.output.find("suspended "), std::string::npos) << table.output;
  // Nobody resumes it: it goes when the grace period is over.
  EXPECT_TRUE(EventuallyListed(server.admin(), "test-peer-client", false));
  EXPECT_GE(Since(killed), milliseconds(1500));
}

// ---------------------------------------------------------------------------------
// list --watch
// ---------------------------------------------------------------------------------

TEST(MonitorWatch, RedrawsInPlaceOnATerminalAndExits0OnSigint) {
  Server server;
  zmq::context_t context;
  RawDealer alice(context, server.url());
  ASSERT_TRUE(alice.Hello(MakeHello("client", "alice")).has_value());

  PtyProcess monitor({PROCMOD_MONITOR, "--admin", server.admin(), "list", "--watch", "0.2"});
  ASSERT_TRUE(monitor.ReadUntil([](const std::string& out) { return Count(out, kClearHome) >= 1; },
                                kDeadline))
      << monitor.output();
  const auto first_frame = Clock::now();
  ASSERT_TRUE(monitor.ReadUntil([](const std::string& out) { return Count(out, kClearHome) >= 2; },
                                kDeadline))
      << monitor.output();
  EXPECT_LT(Since(first_frame), milliseconds(1000));
  EXPECT_NE(monitor.output().find("alice"), std::string::npos) << monitor.output();
  EXPECT_NE(monitor.output().find("SESSION"), std::string::npos) << monitor.output();

  monitor.Signal(SIGINT);
  EXPECT_EQ(monitor.Wait(kDeadline), 0) << monitor.output();
}

TEST(MonitorWatch, PrintsSnapshotsOneAfterAnotherWhenNotATerminal) {
  Server server;
  Subprocess monitor({PROCMOD_MONITOR, "--admin", server.admin(), "list", "--watch", "0.2"});
  std::vector<std::string> lines;
  int frames = 0;
  while (frames < 2) {
    std::optional<std::string> line = monitor.ReadLine(kDeadline);
    ASSERT_TRUE(line.has_value()) << "no second snapshot";
    if (line->rfind(kWatchHeader, 0) == 0) ++frames;
    lines.push_back(*line);
  }
  // header, blank, table header, "(no connections)", blank, header
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(lines[3], "(no connections)");
  EXPECT_EQ(lines[4], "");
  EXPECT_EQ(lines[5].find(kClearHome), std::string::npos);

  monitor.Signal(SIGINT);
  EXPECT_EQ(monitor.Wait(kDeadline), 0);
}

// ---------------------------------------------------------------------------------
// info, kick
// ---------------------------------------------------------------------------------

TEST(MonitorInfo, ShowsNamePidMultiAndAccepting) {
  Server server;
  MonitorRun human = Monitor({"--admin", server.admin(), "info"});
  ASSERT_EQ(human.exit_code, 0) << human.output;
  for (const std::string& line : std::vector<std::string>{
           "name:       procmod", "multi:      yes", "accepting:  yes", "peers:      0",
           "pid:        " + std::to_string(server.pid()), "admin:      " + server.admin()}) {
    EXPECT_NE(human.output.find(line + "\n"), std::string::npos) << line << "\n" << human.output;
  }

  MonitorRun run = Monitor({"--admin", server.admin(), "info", "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.output;
  json info = json::parse(run.output, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(info.is_object()) << run.output;
  EXPECT_EQ(info["name"], "procmod");
  EXPECT_EQ(info["pid"], server.pid());
  EXPECT_EQ(info["multi"], true);
  EXPECT_EQ(info["accepting"], true);
  EXPECT_EQ(info["listen"], server.url());
}

TEST(MonitorKick, EndsTheSessionThePeerGetsByeAndLeavesTheList) {
  Server server;
  zmq::context_t context;
  RawDealer alice(context, server.url()), bob(context, server.url());
  ASSERT_TRUE(alice.Hello(MakeHello("client", "alice")).has_value());
  ASSERT_TRUE(bob.Hello(MakeHello("client", "bob")).has_value());
  const std::string session = SessionOf(ListJson(server.admin()), "alice");
  ASSERT_FALSE(session.empty());

  MonitorRun run = Monitor({"--admin", server.admin(), "kick", session});
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(run.output, "closed session " + session + "\n");
  EXPECT_TRUE(ReceiveBye(alice).has_value()) << "alice got no BYE";
  EXPECT_EQ(ListedNames(server.admin()), std::multiset<std::string>{"bob"});
}

TEST(MonitorKick, UnknownSessionIsOneLineAndExit1) {
  Server server;
  MonitorRun run = Monitor({"--admin", server.admin(), "kick", "0123456789abcdef"},
                           /*merge_stderr=*/true);
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_EQ(run.output, "procmod-monitor: no session 0123456789abcdef\n");
}

// ---------------------------------------------------------------------------------
// Endpoints, failures and flags
// ---------------------------------------------------------------------------------

TEST(MonitorEndpoint, NothingListeningIsExit4WithinTheTimeout) {
  const std::string nowhere = UniqueAdminEndpoint("procmod-mon");  // never bound
  MonitorRun run =
      Monitor({"--admin", nowhere, "--timeout", "500ms", "list"}, /*merge_stderr=*/true);
  EXPECT_EQ(run.exit_code, 4);
  EXPECT_EQ(run.output, "procmod-monitor: no answer from " + nowhere +
                            " within 500ms (is the server running? try --admin)\n");
  EXPECT_GE(run.took, milliseconds(450));
  EXPECT_LT(run.took, milliseconds(2000));
}

TEST(MonitorEndpoint, DataEndpointIsNotAnAdminEndpoint) {
  Server server;
  MonitorRun run = Monitor({"--admin", server.url(), "list"}, /*merge_stderr=*/true);
  EXPECT_EQ(run.exit_code, 4);
  EXPECT_NE(run.output.find("is this an admin endpoint?"), std::string::npos) << run.output;
  EXPECT_EQ(Count(run.output, "\n"), 1u) << run.output;
}

TEST(MonitorEndpoint, NameAndEnvironmentPickTheEndpoint) {
  const std::string name = "mon-" + std::to_string(getpid()) + "-named";
  TempDir dir;
  Daemon server = StartDaemon({PROCMOD_SERVER, "--config", dir.Write("s.yaml", kLongHeartbeat),
                               "--port", "0", "--multi-clients", "--name", name},
                              kServerReady, /*merge_stderr=*/true);
  ASSERT_FALSE(server.endpoint.empty());

  MonitorRun by_name = Monitor({"--name", name, "info", "--json"});
  ASSERT_EQ(by_name.exit_code, 0) << by_name.output;
  EXPECT_EQ(json::parse(by_name.output)["name"], name);

  ASSERT_EQ(setenv("PROCMOD_ADMIN", DefaultAdminEndpoint(name).c_str(), 1), 0);
  MonitorRun by_env = Monitor({"info", "--json"});
  unsetenv("PROCMOD_ADMIN");
  ASSERT_EQ(by_env.exit_code, 0) << by_env.output;
  EXPECT_EQ(json::parse(by_env.output)["name"], name);

  server.process->Signal(SIGTERM);
  EXPECT_EQ(server.process->Wait(kDeadline), 0);
  RemoveIpcFile(DefaultAdminEndpoint(name));
}

TEST(MonitorFlags, BadFlagsAreExit2AndHelpReadsLikeAManPage) {
  for (std::vector<std::string> args :
       std::vector<std::vector<std::string>>{{},
                                             {"list", "--bogus"},
                                             {"kick"},
                                             {"frobnicate"},
                                             {"list", "--watch", "0"},
                                             {"--timeout", "soon", "list"},
                                             {"--admin", "x", "--name", "y", "list"},
                                             {"--admin", "not-an-endpoint", "list"}}) {
    MonitorRun run = Monitor(args, /*merge_stderr=*/true);
    EXPECT_EQ(run.exit_code, 2) << ::testing::PrintToString(args) << "\n" << run.output;
  }
  MonitorRun help = Monitor({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  for (const char* section :
       {"COMMANDS", "list", "info", "kick", "EXIT STATUS", "EXAMPLES", "PROCMOD_ADMIN"}) {
    EXPECT_NE(help.output.find(section), std::string::npos) << section;
  }
}

// ---------------------------------------------------------------------------------
// Any admin endpoint: a reverse-mode client that binds, in this process
// ---------------------------------------------------------------------------------

class MonitorReverseClient : public ModuleTest {
 protected:
  void TearDown() override {
    ModuleTest::TearDown();  // finalizes the module, closing the admin endpoint
    RemoveIpcFile(admin_);
  }
  const std::string admin_ = UniqueAdminEndpoint("procmod-mon");
};

TEST_F(MonitorReverseClient, ListShowsTheServerThatDialedIn) {
  Options o = TestOptions(Role::kClient, Mode::kReverse);
  o.name = "reverse-client";
  o.multiple_connections = true;
  o.admin.endpoint = admin_;
  ProcessModule* module = StartAcceptor(o);
  ASSERT_NE(module, nullptr);

  MonitorRun empty = Monitor({"--admin", o.admin.endpoint, "list"});
  ASSERT_EQ(empty.exit_code, 0) << empty.output;
  EXPECT_NE(empty.output.find("(no connections)"), std::string::npos) << empty.output;

  Subprocess server({PROCMOD_TEST_PEER, "server", "reverse", "single", endpoint_},
                    /*merge_stderr=*/true);
  Result<int> admitted = module->MonitorConnections(kDeadline);
  ASSERT_TRUE(admitted.ok()) << admitted.status().ToString();
  ASSERT_EQ(*admitted, 1);

  json peers = ListJson(o.admin.endpoint);
  ASSERT_EQ(peers.size(), 1u) << peers.dump();
  EXPECT_EQ(peers[0]["name"], "test-peer-server");
  EXPECT_EQ(peers[0]["role"], "server");
  MonitorRun info = Monitor({"--admin", o.admin.endpoint, "info", "--json"});
  ASSERT_EQ(info.exit_code, 0) << info.output;
  EXPECT_EQ(json::parse(info.output)["mode"], "reverse");
  EXPECT_EQ(json::parse(info.output)["role"], "client");
}

}  // namespace
}  // namespace procmod::testing
