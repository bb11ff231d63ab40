// End to end: ParaView's connection URLs (cs://, csrc://, cdsrs://, cdsrsrc://) and
// connection files, through the real procmod CLI, real procmod-server processes
// (combined, data and render servers, forward and reverse) and the client façade.
//
// Loopback only, no fixed ports (servers bind port 0 and print the real one; the CLI
// and the façade listen on 127.0.0.1 port 0 and say where), no sleeping to
// synchronise: every wait is for a line or an exit, with a deadline. Every process
// is reaped (ServerProcess and Subprocess kill what is still running).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "procmod/client.h"
#include "procmod/connection_file.h"
#include "support/daemons.h"
#include "support/lines.h"
#include "support/module_fixture.h"
#include "support/run_cli.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"

#ifndef PROCMOD_SERVER
#error "PROCMOD_SERVER must name the procmod-server binary"
#endif

namespace procmod::testing {
namespace {

// procmod-server with `args`, no admin endpoint, its log kept for a failed test.
std::unique_ptr<ServerProcess> Server(std::vector<std::string> args) {
  return std::make_unique<ServerProcess>(PROCMOD_SERVER, std::move(args));
}

// "tcp://127.0.0.1:40123" -> "HOST:PORT" as ParaView's URLs write it.
std::string HostPort(const std::string& endpoint) {
  EXPECT_TRUE(StartsWith(endpoint, "tcp://")) << endpoint;
  return endpoint.substr(std::string_view("tcp://").size());
}

// "listening on ENDPOINT SUFFIX" -> ENDPOINT.
std::string ListeningOn(const std::string& line, std::string_view suffix) {
  constexpr std::string_view kPrefix = "listening on ";
  EXPECT_TRUE(StartsWith(line, kPrefix)) << line;
  EXPECT_TRUE(line.ends_with(suffix)) << line;
  if (line.size() < kPrefix.size() + suffix.size()) return "";
  return line.substr(kPrefix.size(), line.size() - kPrefix.size() - suffix.size());
}

// ---------------------------------------------------------------------------------
// Forward: cs:// and cdsrs://
// ---------------------------------------------------------------------------------

TEST(ParaViewUrlCli, PingThroughCs) {
  auto server = Server({"--port", "0", "--multi-clients", "--name", "pv-cs"});
  const std::string url = "cs://" + HostPort(server->WaitReady());

  ToolRun run = RunCli({"ping", "-c", "2", "-i", "50ms", url});
  EXPECT_EQ(run.code, 0) << run.output;
  const std::vector<std::string> lines = Lines(run.output);
  EXPECT_EQ(CountStartingWith(lines, "reply from " + url + " (pv-cs): seq="), 2u) << run.output;
  EXPECT_TRUE(Contains(lines, "2 sent, 2 received, 0% loss")) << run.output;
}

TEST(ParaViewUrlCli, ConnectReachesADataAndARenderServerThroughCdsrs) {
  auto data = Server({"--port", "0", "--server-type", "data", "--name", "pv-ds"});
  auto render = Server({"--port", "0", "--server-type", "render", "--name", "pv-rs"});
  const std::string url =
      "cdsrs://" + HostPort(data->WaitReady()) + "/" + HostPort(render->WaitReady());

  ToolRun run = RunCli({"connect", url});
  EXPECT_EQ(run.code, 0) << run.output;
  const std::vector<std::string> lines = Lines(run.output);
  EXPECT_TRUE(Contains(lines, "connected to " + url)) << run.output;
  EXPECT_TRUE(Contains(lines, "  name:     pv-ds")) << run.output;
  EXPECT_TRUE(Contains(lines, "  role:     data-server")) << run.output;
  EXPECT_TRUE(Contains(lines, "  name:     pv-rs")) << run.output;
  EXPECT_TRUE(Contains(lines, "  role:     render-server")) << run.output;
  EXPECT_EQ(CountStartingWith(lines, "  session:  "), 2u) << run.output;
  EXPECT_TRUE(Contains(lines, "said BYE")) << run.output;
  // Single-client servers end cleanly on their one client's BYE: both got theirs.
  EXPECT_EQ(data->Wait(), 0) << data->Transcript();
  EXPECT_EQ(render->Wait(), 0) << render->Transcript();
}

TEST(ParaViewUrlCli, PingAndSendThroughCdsrsGoToTheDataServer) {
  auto data = Server({"--port", "0", "--server-type", "data", "--multi-clients", "--name", "ds"});
  auto render =
      Server({"--port", "0", "--server-type", "render", "--multi-clients", "--name", "rs"});
  const std::string url =
      "cdsrs://" + HostPort(data->WaitReady()) + "/" + HostPort(render->WaitReady());

  ToolRun ping = RunCli({"ping", "-c", "1", url});
  EXPECT_EQ(ping.code, 0) << ping.output;
  EXPECT_EQ(CountStartingWith(Lines(ping.output), "reply from " + url + " (ds): seq=1"), 1u)
      << ping.output;
  ToolRun send = RunCli({"send", url, "hello"});
  EXPECT_EQ(send.code, 0) << send.output;
  EXPECT_TRUE(Contains(Lines(send.output), "sent 5 bytes to " + url)) << send.output;
}

TEST(ParaViewUrlCli, ARenderServerWhereTheDataServerShouldBeIsRefused) {
  auto render = Server({"--port", "0", "--server-type", "render"});
  auto other = Server({"--port", "0", "--server-type", "render"});
  const std::string url =
      "cdsrs://" + HostPort(render->WaitReady()) + "/" + HostPort(other->WaitReady());

  ToolRun run = RunCli({"connect", url}, /*stderr_only=*/true);
  EXPECT_EQ(run.code, 2) << run.output;
  EXPECT_EQ(Lines(run.output).size(), 1u) << run.output;
  EXPECT_NE(run.output.find("expected a data-server"), std::string::npos) << run.output;
}

// ---------------------------------------------------------------------------------
// Reverse: csrc:// and cdsrsrc://
// ---------------------------------------------------------------------------------

TEST(ParaViewUrlCli, WaitTakesAReverseServerThroughCsrc) {
  Subprocess cli({PROCMOD_CLI, "wait", "--listen", "csrc://127.0.0.1:0"}, /*merge_stderr=*/true);
  std::optional<std::string> line = cli.ReadLine(kDeadline);
  ASSERT_TRUE(line.has_value());
  const std::string endpoint = ListeningOn(*line, "");
  ASSERT_TRUE(StartsWith(endpoint, "tcp://127.0.0.1:")) << endpoint;
  ASSERT_NE(endpoint, "tcp://127.0.0.1:0");

  // The server's client_url may be a cs:// URL too.
  auto server =
      Server({"--reverse", "--client-url", "cs://" + HostPort(endpoint), "--name", "pv-reverse"});
  const std::vector<std::string> lines = Lines(cli.ReadAll(kDeadline));
  EXPECT_EQ(cli.Wait(kDeadline), 0);
  EXPECT_EQ(CountStartingWith(lines, "server connected from 127.0.0.1"), 1u);
  EXPECT_TRUE(Contains(lines, "  name:     pv-reverse"));
  EXPECT_TRUE(Contains(lines, "said BYE"));
  EXPECT_EQ(server->Wait(), 0) << server->Transcript();
}

TEST(ParaViewUrlCli, WaitTakesADataAndARenderServerOnTwoPortsThroughCdsrsrc) {
  Subprocess cli({PROCMOD_CLI, "wait", "--listen", "cdsrsrc://127.0.0.1:0/127.0.0.1:0"},
                 /*merge_stderr=*/true);
  std::optional<std::string> first = cli.ReadLine(kDeadline);
  std::optional<std::string> second = cli.ReadLine(kDeadline);
  ASSERT_TRUE(first.has_value() && second.has_value());
  const std::string data_endpoint = ListeningOn(*first, " for the data server");
  const std::string render_endpoint = ListeningOn(*second, " for the render server");
  ASSERT_TRUE(StartsWith(data_endpoint, "tcp://127.0.0.1:")) << data_endpoint;
  ASSERT_TRUE(StartsWith(render_endpoint, "tcp://127.0.0.1:")) << render_endpoint;
  EXPECT_NE(data_endpoint, render_endpoint);  // two ports, each resolved from 0

  auto data = Server(
      {"--reverse", "--client-url", data_endpoint, "--server-type", "data", "--name", "pv-ds"});
  auto render = Server(
      {"--reverse", "--client-url", render_endpoint, "--server-type", "render", "--name", "pv-rs"});
  const std::string output = cli.ReadAll(kDeadline);
  const std::vector<std::string> lines = Lines(output);
  EXPECT_EQ(cli.Wait(kDeadline), 0) << output;
  EXPECT_EQ(CountStartingWith(lines, "data server connected from 127.0.0.1"), 1u) << output;
  EXPECT_EQ(CountStartingWith(lines, "render server connected from 127.0.0.1"), 1u) << output;
  EXPECT_TRUE(Contains(lines, "  name:     pv-ds")) << output;
  EXPECT_TRUE(Contains(lines, "  role:     data-server")) << output;
  EXPECT_TRUE(Contains(lines, "  name:     pv-rs")) << output;
  EXPECT_TRUE(Contains(lines, "  role:     render-server")) << output;
  EXPECT_TRUE(Contains(lines, "said BYE")) << output;
  // Each got its BYE, the render server's through the second port too.
  EXPECT_EQ(data->Wait(), 0) << data->Transcript();
  EXPECT_EQ(render->Wait(), 0) << render->Transcript();
}

TEST(ParaViewUrlCli, WaitingForAPairNamesWhoDidNotCome) {
  Subprocess cli(
      {PROCMOD_CLI, "wait", "--listen", "cdsrsrc://127.0.0.1:0/127.0.0.1:0", "--timeout", "1s"},
      /*merge_stderr=*/true);
  std::optional<std::string> first = cli.ReadLine(kDeadline);
  std::optional<std::string> second = cli.ReadLine(kDeadline);
  ASSERT_TRUE(first.has_value() && second.has_value());
  const std::string data_endpoint = ListeningOn(*first, " for the data server");
  const std::string render_endpoint = ListeningOn(*second, " for the render server");
  auto data = Server({"--reverse", "--client-url", data_endpoint, "--server-type", "data"});

  const std::vector<std::string> lines = Lines(cli.ReadAll(kDeadline));
  EXPECT_EQ(cli.Wait(kDeadline), 4);
  EXPECT_TRUE(
      Contains(lines, "procmod: no render server connected to " + render_endpoint + " within 1s"))
      << ::testing::PrintToString(lines);
  EXPECT_TRUE(data->Wait().has_value());  // its client went away: it ends too
}

TEST(ParaViewUrlServer, AReverseServerCannotDialAListeningUrl) {
  auto server = Server({"--reverse", "--client-url", "csrc://127.0.0.1:1"});
  EXPECT_EQ(server->Wait(), 2);  // bad configuration, with the line saying why
  EXPECT_NE(server->Transcript().find("csrc:// is where a client listens"), std::string::npos)
      << server->Transcript();
}

// ---------------------------------------------------------------------------------
// --connection-file
// ---------------------------------------------------------------------------------

TEST(ParaViewUrlCli, PingFromAConnectionFile) {
  TempDir dir;
  auto server = Server({"--port", "0", "--name", "pv-file"});
  ConnectionInfo info;
  info.endpoint = server->WaitReady();
  info.name = "pv-file";
  info.role = "server";
  const std::string file = dir.path() + "/viz.json";
  ASSERT_TRUE(WriteConnectionFile(file, info).ok());

  ToolRun run = RunCli({"ping", "-c", "1", "--connection-file", file});
  EXPECT_EQ(run.code, 0) << run.output;
  EXPECT_EQ(CountStartingWith(Lines(run.output), "reply from " + info.endpoint + " (pv-file)"), 1u)
      << run.output;
}

// `procmod-server --connection-file F & procmod ping --connection-file F`: the file
// comes once the server accepts, and the client waits for it (the README's example).
TEST(ParaViewUrlCli, AClientWaitsForTheConnectionFileToAppear) {
  TempDir dir;
  const std::string file = dir.path() + "/viz.json";
  Subprocess ping({PROCMOD_CLI, "ping", "-c", "1", "--connection-file", file},
                  /*merge_stderr=*/true);
  auto server = Server({"--port", "0", "--name", "late", "--connection-file", file});
  const std::string endpoint = server->WaitReady();
  EXPECT_EQ(ping.Wait(kDeadline), 0);
  EXPECT_THAT(ping.ReadAll(kDeadline), ::testing::HasSubstr("reply from " + endpoint + " (late)"));

  ToolRun none = RunCli(
      {"--connect-timeout", "300ms", "ping", "--connection-file", dir.path() + "/never.json"},
      /*stderr_only=*/true);
  EXPECT_EQ(none.code, 4) << none.output;
  EXPECT_EQ(none.output, "procmod: no connection file " + dir.path() +
                             "/never.json within 300ms (is the server running?)\n");
}

TEST(ParaViewUrlCli, AConnectionFileGivesTheServersCurveKey) {
  TempDir dir;
  for (const char* name : {"server", "alice"}) {
    ToolRun keygen = RunCli({"keygen", "--out", dir.path() + "/keys", name});
    ASSERT_EQ(keygen.code, 0) << keygen.output;
  }
  std::filesystem::create_directories(dir.path() + "/authorized");
  std::filesystem::copy_file(dir.path() + "/keys/alice.pub", dir.path() + "/authorized/alice.pub");
  const std::string config =
      dir.Write("server.yaml", "security:\n  curve:\n    secret_key_file: " + dir.path() +
                                   "/keys/server.key\n    authorized_keys_dir: " + dir.path() +
                                   "/authorized\n");
  auto server = Server({"--config", config, "--port", "0", "--multi-clients"});
  ConnectionInfo info;
  info.endpoint = server->WaitReady();
  std::ifstream(dir.path() + "/keys/server.pub") >> info.public_key;
  ASSERT_EQ(info.public_key.size(), 40u);
  const std::string file = dir.path() + "/viz.json";
  ASSERT_TRUE(WriteConnectionFile(file, info).ok());

  // --key and no --server-key: the file's public key is the server's.
  ToolRun run = RunCli(
      {"ping", "-c", "1", "--connection-file", file, "--key", dir.path() + "/keys/alice.key"});
  EXPECT_EQ(run.code, 0) << run.output;
  // Without --key the CLI speaks plain, which a CURVE server does not answer.
  ToolRun plain = RunCli({"--timeout", "1s", "ping", "-c", "1", "--connection-file", file},
                         /*stderr_only=*/true);
  EXPECT_EQ(plain.code, 5) << plain.output;
}

TEST(ParaViewUrlCli, UrlAndConnectionFileAreOneOrTheOther) {
  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
           {"ping", "tcp://127.0.0.1:1", "--connection-file", "/nonexistent-dir/viz.json"},
           {"connect"},
           {"send", "--channel", "x"}}) {
    ToolRun run = RunCli(args, /*stderr_only=*/true);
    EXPECT_EQ(run.code, 2) << run.output;
    EXPECT_EQ(Lines(run.output).size(), 1u) << run.output;
    EXPECT_TRUE(StartsWith(run.output, "procmod: ")) << run.output;
  }
  EXPECT_EQ(RunCli({"connect"}, true).output,
            "procmod: URL or --connection-file is required; see procmod connect --help\n");
  EXPECT_EQ(RunCli({"connect", "tcp://127.0.0.1:1", "--connection-file", "f"}, true).output,
            "procmod: give the server's URL or --connection-file, not both; see procmod connect "
            "--help\n");
  ToolRun missing = RunCli({"connect", "--connection-file", "/nonexistent-dir/viz.json"}, true);
  EXPECT_EQ(missing.code, 2);
  EXPECT_EQ(Lines(missing.output).size(), 1u) << missing.output;
}

TEST(ParaViewUrlCli, BadUrlsAreOneLineAndExit2) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> table = {
      {{"ping", "cs://host:99999"},
       "procmod: bad URL 'cs://host:99999': port 99999 is out of range 1-65535\n"},
      {{"connect", "cdsrs://a"},
       "procmod: bad URL 'cdsrs://a': expected DSHOST[:PORT]/RSHOST[:PORT]\n"},
      {{"connect", "csrc://:1"},
       "procmod: bad URL 'csrc://:1': csrc:// is a reverse connection, where this side "
       "listens: use procmod wait --listen csrc://:1\n"},
      {{"wait", "--listen", "cs://viz"},
       "procmod: bad URL 'cs://viz': cs:// is a forward connection, where this side dials: use "
       "procmod connect, ping or send\n"},
  };
  for (const auto& [args, expected] : table) {
    ToolRun run = RunCli(args, /*stderr_only=*/true);
    EXPECT_EQ(run.code, 2) << run.output;
    EXPECT_EQ(run.output, expected);
  }
}

// ---------------------------------------------------------------------------------
// The client façade (this process; one Client at a time, rule S1)
// ---------------------------------------------------------------------------------

TEST(ParaViewUrlClient, ConnectTakesCdsrsAndTheTwoUrlForm) {
  auto data = Server({"--port", "0", "--server-type", "data", "--multi-clients"});
  auto render = Server({"--port", "0", "--server-type", "render", "--multi-clients"});
  const std::string data_endpoint = data->WaitReady();
  const std::string render_endpoint = render->WaitReady();
  {
    Result<std::unique_ptr<Client>> client =
        Client::Connect("cdsrs://" + HostPort(data_endpoint) + "/" + HostPort(render_endpoint));
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    EXPECT_EQ((*client)->server().role(), "data-server");
    EXPECT_EQ((*client)->render_server().role(), "render-server");
    EXPECT_TRUE((*client)->Request("ping").get().ok());
  }
  {
    // pvpython's Connect(ds, rs): each URL may be cs:// too.
    Result<std::unique_ptr<Client>> client = Client::Connect(
        "cs://" + HostPort(data_endpoint), render_endpoint, std::chrono::milliseconds(5000));
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    EXPECT_EQ((*client)->server().role(), "data-server");
    EXPECT_EQ((*client)->render_server().role(), "render-server");
  }
  {
    // An empty render URL: one combined server, which a data server is not.
    Result<std::unique_ptr<Client>> client =
        Client::Connect(data_endpoint, "", std::chrono::milliseconds(5000));
    ASSERT_FALSE(client.ok());
    EXPECT_NE(client.status().message().find("data-server"), std::string::npos)
        << client.status().ToString();
  }
}

TEST(ParaViewUrlClient, WaitForServerTakesARenderPairThroughCdsrsrc) {
  std::vector<std::string> endpoints;
  std::vector<std::unique_ptr<ServerProcess>> servers;
  Result<std::unique_ptr<Client>> client = Client::WaitForServer(
      "cdsrsrc://127.0.0.1:0/127.0.0.1:0", {}, [&](const std::string& endpoint) {
        endpoints.push_back(endpoint);
        const char* type = endpoints.size() == 1 ? "data" : "render";
        servers.push_back(Server({"--reverse", "--client-url", endpoint, "--server-type", type}));
      });
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  ASSERT_EQ(endpoints.size(), 2u);
  EXPECT_NE(endpoints[0], endpoints[1]);
  // Both are the module's own endpoints, as bound: each server dialed this process.
  EXPECT_EQ((*client)->module().ListenEndpoints(), endpoints);
  EXPECT_EQ((*client)->server().role(), "data-server");
  EXPECT_EQ((*client)->render_server().role(), "render-server");
  // Traffic both ways through the render server's port, not just the handshake.
  Result<Reply> pong = (*client)->render_server().Request("ping").get();
  EXPECT_TRUE(pong.ok()) << pong.status().ToString();
  client->reset();  // BYE to both: each reverse server exits 0
  for (auto& server : servers) EXPECT_EQ(server->Wait(), 0) << server->Transcript();
}

TEST(ParaViewUrlClient, UrlsOfTheWrongDirectionAreRefused) {
  Result<std::unique_ptr<Client>> reverse = Client::Connect("csrc://127.0.0.1:0");
  ASSERT_FALSE(reverse.ok());
  EXPECT_TRUE(reverse.status().IsInvalidArgument());
  EXPECT_EQ(reverse.status().message(),
            "bad URL 'csrc://127.0.0.1:0': csrc:// is a reverse connection, where the client "
            "listens: Client::WaitForServer takes it");
  Result<std::unique_ptr<Client>> forward = Client::WaitForServer("cdsrs://a/b");
  ASSERT_FALSE(forward.ok());
  EXPECT_TRUE(forward.status().IsInvalidArgument());
  Result<std::unique_ptr<Client>> port = Client::ReverseConnect(70000, kDeadline);
  EXPECT_TRUE(port.status().IsInvalidArgument());
}

}  // namespace
}  // namespace procmod::testing
