// End to end: the real procmod CLI against real procmod-server processes (and, where a
// test needs a server that misbehaves on cue, a RawRouter speaking raw PMP/1). Each
// test checks what a user sees: the lines printed, on which stream, the exit code and
// how long it took.
//
// Loopback only, no fixed ports (servers bind port 0 and print the real one; a free
// port comes from binding a RawRouter and closing it), no sleeping to synchronise:
// every wait is for a line, a frame or an exit, with a deadline.
#include <signal.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "procmod/admin_client.h"
#include "support/daemons.h"
#include "support/lines.h"
#include "support/module_fixture.h"
#include "support/raw_peer.h"
#include "support/run_cli.h"
#include "support/subprocess.h"

#ifndef PROCMOD_SERVER
#error "PROCMOD_SERVER must name the procmod-server binary"
#endif

namespace procmod::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::duration_cast;

// procmod-server with `args` and without an admin endpoint. Its stderr (the log) is
// merged into the lines it reads, and printed if the test failed (see ServerProcess).
class Server : public ServerProcess {
 public:
  explicit Server(std::vector<std::string> args) : ServerProcess(PROCMOD_SERVER, std::move(args)) {}
};

// The next REQUEST `router` receives, skipping nothing else silently.
std::optional<RawRouter::Incoming> NextRequest(RawRouter& router) {
  std::optional<RawRouter::Incoming> in = router.Receive();
  if (!in || in->message.command() != pmp::Command::kRequest) {
    ADD_FAILURE() << "expected a REQUEST, got "
                  << (in ? std::string(pmp::CommandName(in->message.command())) : "nothing");
    return std::nullopt;
  }
  return in;
}

// Answers REQUEST `in` as procmod-server's ping does: the same payload back.
void Echo(RawRouter& router, RawRouter::Incoming& in) {
  const auto& request = std::get<pmp::Request>(in.message.header);
  router.SendTo(in.routing_id, pmp::Reply{.id = request.id}, std::move(in.message.payload));
}

// The session of the one peer `admin`'s process has ("" and a test failure if not one).
std::string OnlySession(const std::string& admin) {
  Result<Reply> list = AdminRequest(admin, "connections.list");
  EXPECT_TRUE(list.ok()) << list.status().ToString();
  if (!list.ok()) return "";
  const nlohmann::json peers = nlohmann::json::from_msgpack(list->result);
  EXPECT_EQ(peers.size(), 1u) << peers.dump();
  return peers.size() == 1 ? peers[0].value("session", "") : "";
}

// Ends `session` as `procmod-monitor kick` does: admin method connections.close.
Status Kick(const std::string& admin, const std::string& session) {
  const std::vector<uint8_t> args = nlohmann::json::to_msgpack({{"session", session}});
  return AdminRequest(admin, "connections.close", std::string(args.begin(), args.end())).status();
}

// ---------------------------------------------------------------------------------
// ping
// ---------------------------------------------------------------------------------

TEST(CliPing, CountsRepliesAndPrintsTheSummary) {
  Server server({"--port", "0", "--multi-clients", "--name", "e2e-viz"});
  const std::string url = server.WaitReady();

  ToolRun run = RunCli({"ping", "-c", "3", "-i", "50ms", url});
  EXPECT_EQ(run.code, 0) << run.output;
  const std::vector<std::string> lines = Lines(run.output);
  EXPECT_EQ(CountStartingWith(lines, "reply from " + url + " (e2e-viz): seq="), 3u) << run.output;
  EXPECT_TRUE(Contains(lines, "--- " + url + " ping statistics ---")) << run.output;
  EXPECT_TRUE(Contains(lines, "3 sent, 3 received, 0% loss")) << run.output;
  EXPECT_EQ(CountStartingWith(lines, "rtt min/avg/max/p99 = "), 1u) << run.output;
  EXPECT_LT(run.took, milliseconds(3000));  // 50 ms apart, not the default 1 s
}

TEST(CliPing, NothingListeningIsOneLineAndExit4AtOnce) {
  zmq::context_t context;
  const std::string url = FreeTcpEndpoint(context);

  // A refused connect is the answer: the 10 s default timeout is not waited out.
  ToolRun run = RunCli({"ping", "-c", "1", url}, /*stderr_only=*/true);
  EXPECT_EQ(run.code, 4);
  EXPECT_EQ(run.output, "procmod: " + url + ": connection refused (nothing is listening there)\n");
  EXPECT_LT(run.took, milliseconds(2000));
}

TEST(CliPing, BusySingleClientServerIsDenied409AndExit5) {
  zmq::context_t context;
  Server server({"--port", "0"});
  const std::string url = server.WaitReady();
  RawDealer occupant(context, url);
  ASSERT_TRUE(occupant.Hello(MakeHello("client", "occupant")).has_value());

  ToolRun run = RunCli({"ping", url}, /*stderr_only=*/true);
  EXPECT_EQ(run.code, 5);
  const std::vector<std::string> lines = Lines(run.output);
  ASSERT_EQ(lines.size(), 1u) << run.output;
  EXPECT_TRUE(StartsWith(lines[0], "procmod: " + url + " refused the connection: ")) << lines[0];
  EXPECT_NE(lines[0].find("(409)"), std::string::npos) << lines[0];
}

TEST(CliPing, UnansweredRequestsTimeOutAndExit1) {
  zmq::context_t context;
  RawRouter router(context);
  Subprocess cli({PROCMOD_CLI, "ping", "-c", "2", "-i", "0", "-W", "300ms", router.endpoint()},
                 /*merge_stderr=*/true);
  ASSERT_TRUE(router.AcceptHello("server", "raw-viz").has_value());
  std::optional<RawRouter::Incoming> first = NextRequest(router);
  ASSERT_TRUE(first.has_value());
  Echo(router, *first);
  ASSERT_TRUE(NextRequest(router).has_value());  // the second one gets no answer

  const std::vector<std::string> lines = Lines(cli.ReadAll(kDeadline));
  EXPECT_EQ(cli.Wait(kDeadline), 1);
  EXPECT_EQ(CountStartingWith(lines, "reply from " + router.endpoint() + " (raw-viz): seq=1 "), 1u);
  EXPECT_TRUE(Contains(lines, "request seq=2 timed out after 300ms"));
  EXPECT_TRUE(Contains(lines, "2 sent, 1 received, 50% loss"));
}

TEST(CliPing, ServerSayingByeEndsItWithTheSummaryAndExit3) {
  zmq::context_t context;
  RawRouter router(context);
  Subprocess cli({PROCMOD_CLI, "ping", "-c", "0", "-i", "0", router.endpoint()},
                 /*merge_stderr=*/true);
  ASSERT_TRUE(router.AcceptHello("server", "raw-viz").has_value());
  std::optional<RawRouter::Incoming> first = NextRequest(router);
  ASSERT_TRUE(first.has_value());
  Echo(router, *first);
  std::optional<RawRouter::Incoming> second = NextRequest(router);
  ASSERT_TRUE(second.has_value());
  router.SendTo(second->routing_id, pmp::Bye{"going down"});

  const std::vector<std::string> lines = Lines(cli.ReadAll(kDeadline));
  EXPECT_EQ(cli.Wait(kDeadline), 3);
  EXPECT_TRUE(Contains(lines, "1 sent, 1 received, 0% loss"));
  EXPECT_TRUE(Contains(
      lines, "procmod: lost " + router.endpoint() + ": the server closed the session: going down"));
}

TEST(CliPing, AKickedPingSaysTheAdministratorClosedItAndExits3) {
  const std::string admin = UniqueAdminEndpoint("procmod-cli-kick");
  Server server({"--port", "0", "--multi-clients", "--admin", admin});
  const std::string url = server.WaitReady();
  Subprocess cli({PROCMOD_CLI, "ping", "-c", "0", "-i", "50ms", url}, /*merge_stderr=*/true);
  ASSERT_TRUE(cli.WaitForLine("reply from ", kDeadline).has_value());

  const std::string session = OnlySession(admin);
  ASSERT_FALSE(session.empty());
  ASSERT_TRUE(Kick(admin, session).ok());
  const std::string rest = cli.ReadAll(kDeadline);
  EXPECT_EQ(cli.Wait(kDeadline), 3) << rest;
  EXPECT_TRUE(Contains(Lines(rest), "procmod: lost " + url +
                                        ": the server closed the session: closed by the "
                                        "administrator"))
      << rest;

  server.Signal(SIGTERM);
  EXPECT_EQ(server.Wait(), 0);
  RemoveIpcFile(admin);
}

TEST(CliPing, CtrlCStopsItAndStillPrintsTheSummary) {
  Server server({"--port", "0", "--multi-clients"});
  const std::string url = server.WaitReady();
  Subprocess cli({PROCMOD_CLI, "ping", "-c", "0", "-i", "50ms", url}, /*merge_stderr=*/true);
  ASSERT_TRUE(cli.WaitForLine("reply from ", kDeadline).has_value());
  ASSERT_TRUE(cli.WaitForLine("reply from ", kDeadline).has_value());

  cli.Signal(SIGINT);
  const std::string rest = cli.ReadAll(kDeadline);
  EXPECT_EQ(cli.Wait(kDeadline), 0) << rest;
  EXPECT_TRUE(Contains(Lines(rest), "--- " + url + " ping statistics ---")) << rest;
  EXPECT_NE(rest.find(" 0% loss"), std::string::npos) << rest;
}

TEST(CliPing, ReconnectRidesThroughAServerRestartAndSaysHowLongItWasGone) {
  zmq::context_t context;
  const std::string port = std::to_string(FreeTcpPort(context));  // the restart reuses it
  auto first =
      std::make_unique<Server>(std::vector<std::string>{"--port", port, "--multi-clients"});
  const std::string url = first->WaitReady();
  Subprocess cli({PROCMOD_CLI, "ping", "-c", "0", "-i", "100ms", "--reconnect", url},
                 /*merge_stderr=*/true);
  ASSERT_TRUE(cli.WaitForLine("reply from ", kDeadline).has_value());

  first->Signal(SIGTERM);  // BYE "shutdown" to the ping, then gone
  EXPECT_EQ(first->Wait(), 0);
  first.reset();
  std::optional<std::string> lost = cli.WaitForLine("lost ", kDeadline);
  ASSERT_TRUE(lost.has_value());
  EXPECT_NE(lost->find("shutdown; reconnecting"), std::string::npos) << *lost;

  Server second({"--port", port, "--multi-clients"});
  ASSERT_EQ(second.WaitReady(), url);
  std::optional<std::string> back = cli.WaitForLine("back: " + url, kDeadline);
  ASSERT_TRUE(back.has_value());
  EXPECT_NE(back->find(" ms"), std::string::npos) << *back;            // how long it was gone
  ASSERT_TRUE(cli.WaitForLine("reply from ", kDeadline).has_value());  // and it goes on

  cli.Signal(SIGINT);
  const std::string rest = cli.ReadAll(kDeadline);
  EXPECT_EQ(cli.Wait(kDeadline), 1) << rest;  // a request was lost on the way
  EXPECT_TRUE(Contains(Lines(rest), "--- " + url + " ping statistics ---")) << rest;
}

TEST(CliConnect, ReconnectWaitsForAServerThatIsNotUpYet) {
  zmq::context_t context;
  const std::string port = std::to_string(FreeTcpPort(context));
  const std::string url = "tcp://127.0.0.1:" + port;
  Subprocess cli({PROCMOD_CLI, "connect", "--reconnect", "--connect-timeout", "20s", url},
                 /*merge_stderr=*/true);
  Server server({"--port", port});  // after the CLI's first refused dial, most likely
  ASSERT_EQ(server.WaitReady(), url);
  const std::string output = cli.ReadAll(kDeadline);
  EXPECT_EQ(cli.Wait(kDeadline), 0) << output;
  EXPECT_TRUE(Contains(Lines(output), "connected to " + url)) << output;
}

// ---------------------------------------------------------------------------------
// connect, send, wait
// ---------------------------------------------------------------------------------

TEST(CliConnect, ShowsTheServersWelcomeAndSaysBye) {
  Server server({"--port", "0", "--multi-clients", "--name", "e2e-viz"});
  const std::string url = server.WaitReady();

  ToolRun run = RunCli({"connect", url, "--name", "e2e-cli"});
  EXPECT_EQ(run.code, 0) << run.output;
  const std::vector<std::string> lines = Lines(run.output);
  EXPECT_TRUE(Contains(lines, "connected to " + url)) << run.output;
  EXPECT_TRUE(Contains(lines, "  name:     e2e-viz")) << run.output;
  EXPECT_TRUE(Contains(lines, "  role:     server")) << run.output;
  EXPECT_TRUE(Contains(lines, "  version:  " + std::string(pmp::kProtocolVersion))) << run.output;
  EXPECT_EQ(CountStartingWith(lines, "  session:  "), 1u) << run.output;
  EXPECT_TRUE(Contains(lines, "said BYE")) << run.output;
  // The server logs the session under our --name, ended by our BYE.
  EXPECT_TRUE(server.WaitFor("\"e2e-cli\"").has_value());
}

TEST(CliSend, BroadcastReachesTheOtherClient) {
  zmq::context_t context;
  Server server({"--port", "0", "--multi-clients"});
  const std::string url = server.WaitReady();
  RawDealer listener(context, url);
  ASSERT_TRUE(listener.Hello(MakeHello("client", "listener")).has_value());

  ToolRun run = RunCli({"send", url, "--channel", "broadcast", "hello from the shell"});
  EXPECT_EQ(run.code, 0) << run.output;
  EXPECT_TRUE(Contains(Lines(run.output), "sent 20 bytes on channel broadcast to " + url))
      << run.output;

  // Collab news (the CLI joining and leaving) comes on channel collab: skip it.
  const Clock::time_point deadline = Clock::now() + kDeadline;
  for (;;) {
    std::optional<pmp::Message> m = listener.Receive(
        std::max(milliseconds(0), duration_cast<milliseconds>(deadline - Clock::now())));
    std::optional<pmp::Data> data = As<pmp::Data>(m);
    ASSERT_TRUE(data.has_value()) << "no DATA on channel broadcast";
    if (data->channel != "broadcast") continue;
    ASSERT_EQ(m->payload.size(), 1u);
    EXPECT_EQ(Text(m->payload[0]), "hello from the shell");
    break;
  }
}

TEST(CliWait, TakesAReverseServerShowsItAndSaysBye) {
  Subprocess cli({PROCMOD_CLI, "wait", "--listen", "tcp://127.0.0.1:0"}, /*merge_stderr=*/true);
  std::optional<std::string> endpoint = cli.WaitForLine("listening on ", kDeadline);
  ASSERT_TRUE(endpoint.has_value());
  ASSERT_TRUE(StartsWith(*endpoint, "tcp://127.0.0.1:")) << *endpoint;
  ASSERT_NE(*endpoint, "tcp://127.0.0.1:0");  // the real port

  Server server({"--reverse", "--client-url", *endpoint, "--name", "e2e-reverse"});
  const std::vector<std::string> lines = Lines(cli.ReadAll(kDeadline));
  EXPECT_EQ(cli.Wait(kDeadline), 0);
  EXPECT_EQ(CountStartingWith(lines, "server connected from "), 1u);
  EXPECT_TRUE(Contains(lines, "  name:     e2e-reverse"));
  EXPECT_TRUE(Contains(lines, "  role:     server"));
  EXPECT_EQ(CountStartingWith(lines, "  session:  "), 1u);
  EXPECT_TRUE(Contains(lines, "said BYE"));
  EXPECT_EQ(server.Wait(), 0);  // its one client said BYE: a clean end
}

TEST(CliWait, NobodyDialingInIsExit4) {
  ToolRun run = RunCli({"wait", "--listen", "tcp://127.0.0.1:0", "--timeout", "200ms"});
  EXPECT_EQ(run.code, 4) << run.output;
  const std::vector<std::string> lines = Lines(run.output);
  ASSERT_EQ(lines.size(), 2u) << run.output;
  ASSERT_TRUE(StartsWith(lines[0], "listening on "));
  EXPECT_EQ(lines[1], "procmod: no server connected to " +
                          lines[0].substr(std::string("listening on ").size()) + " within 200ms");
}

// ---------------------------------------------------------------------------------
// Usage
// ---------------------------------------------------------------------------------

TEST(CliUsage, BadUrlIsOneLineAndExit2) {
  for (std::vector<std::string> args :
       std::vector<std::vector<std::string>>{{"ping", "foo://x"},
                                             {"connect", "tcp://host"},
                                             {"send", "", "text"},
                                             {"wait", "--listen", "inproc://x"}}) {
    const std::string url = args[0] == "wait" ? args[2] : args[1];
    ToolRun run = RunCli(args, /*stderr_only=*/true);
    EXPECT_EQ(run.code, 2) << url;
    ASSERT_EQ(Lines(run.output).size(), 1u) << run.output;
    EXPECT_TRUE(StartsWith(run.output, "procmod: bad URL '" + url + "': ")) << run.output;
  }
  EXPECT_EQ(RunCli({"ping", "foo://x"}, true).output,
            "procmod: bad URL 'foo://x': expected tcp://HOST:PORT, ipc://PATH or "
            "broker+tcp://HOST:PORT/SERVICE\n");
}

TEST(CliUsage, BadFlagsAreOneLineAndExit2) {
  for (std::vector<std::string> args :
       std::vector<std::vector<std::string>>{{"ping", "-c", "many", "tcp://127.0.0.1:1"},
                                             {"ping", "-i", "fast", "tcp://127.0.0.1:1"},
                                             {"--timeout", "soon", "connect", "tcp://127.0.0.1:1"},
                                             {"ping"},
                                             {}}) {
    ToolRun run = RunCli(args, /*stderr_only=*/true);
    EXPECT_EQ(run.code, 2) << run.output;
    EXPECT_EQ(Lines(run.output).size(), 1u) << run.output;
    EXPECT_TRUE(StartsWith(run.output, "procmod: ")) << run.output;
  }
}

TEST(CliUsage, HelpReadsLikeAManPage) {
  ToolRun help = RunCli({"--help"});
  EXPECT_EQ(help.code, 0);
  for (const char* section : {"EXIT STATUS", "EXAMPLES", "ping", "connect", "wait", "send"}) {
    EXPECT_NE(help.output.find(section), std::string::npos) << section;
  }
  ToolRun ping_help = RunCli({"ping", "--help"});
  EXPECT_EQ(ping_help.code, 0);
  EXPECT_NE(ping_help.output.find("--count"), std::string::npos) << ping_help.output;
  ToolRun version = RunCli({"--version"});
  EXPECT_EQ(version.code, 0);
  EXPECT_TRUE(StartsWith(version.output, "procmod ")) << version.output;
}

}  // namespace
}  // namespace procmod::testing
