// End to end through procmod-broker: a real procmod-server registers a service, real
// clients (the procmod CLI, test peers, a Client in this process) reach it by
// broker+tcp://HOST:PORT/SERVICE. Both sides only dial out.
#include <signal.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "procmod/admin_client.h"
#include "procmod/client.h"
#include "support/daemons.h"
#include "support/module_fixture.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"

namespace procmod::testing {
namespace {

using json = nlohmann::json;

class BrokerE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    // 100 ms x 3 on every leg, so losses show within a few hundred ms.
    config_ = dir_.Write("fast.yaml", "heartbeat: {interval: 100ms, liveness: 3}\n");
    admin_ = "ipc://" + dir_.path() + "/broker.admin";  // its socket file goes with dir_
    broker_ = StartDaemon({PROCMOD_BROKER, "--config", config_, "--port", "0", "--admin", admin_},
                          kBrokerReady);
    ASSERT_FALSE(broker_.endpoint.empty());
  }

  // broker+tcp://HOST:PORT/SERVICE for this test's broker.
  std::string ServiceUrl(const std::string& service) const {
    return "broker+" + broker_.endpoint + "/" + service;
  }

  // procmod-server registered with this test's broker as the server of `service`.
  std::unique_ptr<Subprocess> StartServer(const std::string& service,
                                          std::vector<std::string> extra = {}) {
    // The fast heartbeat's config unless `extra` names one of its own.
    const bool own_config = std::find(extra.begin(), extra.end(), "--config") != extra.end();
    extra.insert(extra.begin(), {PROCMOD_SERVER, "--admin", "none", "--broker-url",
                                 broker_.endpoint, "--service", service});
    if (!own_config) extra.insert(extra.begin() + 1, {"--config", config_});
    return StartDaemon(std::move(extra), "procmod-server: registered as ").process;
  }

  std::unique_ptr<Subprocess> Cli(std::vector<std::string> args) {
    args.insert(args.begin(), PROCMOD_CLI);
    return std::make_unique<Subprocess>(std::move(args), /*merge_stderr=*/true);
  }

  // Ends the broker with `signal` and waits until it is gone.
  void StopBroker(int signal) {
    broker_.process->Signal(signal);
    ASSERT_TRUE(broker_.process->Wait(kDeadline).has_value());
  }

  // A new broker on the endpoint the last one had, as an operator restarts it.
  void StartBrokerAgain() {
    const std::string endpoint = broker_.endpoint;
    broker_ =
        StartDaemon({PROCMOD_BROKER, "--config", config_, "--listen", endpoint, "--admin", admin_},
                    kBrokerReady);
    ASSERT_EQ(broker_.endpoint, endpoint);
  }

  TempDir dir_;  // before broker_: the broker is killed before its directory goes
  std::string config_, admin_;
  Daemon broker_;
  Mailbox<std::string> events_;  // outlives any Client and its callbacks
};

TEST_F(BrokerE2E, ServerAndClientBothDialOutAndPingThroughTheBroker) {
  auto server = StartServer("viz", {"--name", "viz-1"});
  auto ping = Cli({"ping", ServiceUrl("viz"), "-c", "3", "-i", "50ms"});
  const std::string out = ping->ReadAll(kDeadline);
  EXPECT_EQ(ping->Wait(kDeadline), 0) << out;
  EXPECT_NE(out.find("3 sent, 3 received, 0% loss"), std::string::npos) << out;
  EXPECT_NE(out.find("viz-1"), std::string::npos) << out;
  // A single-connection server behind a broker exits when its client leaves (LEFT bye).
  EXPECT_EQ(server->Wait(kDeadline), 0);
}

TEST_F(BrokerE2E, SingleConnectionServerDeniesASecondClient409) {
  auto server = StartServer("viz");
  Result<std::unique_ptr<Client>> first = Client::Connect(ServiceUrl("viz"));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto second = Cli({"connect", ServiceUrl("viz")});
  const std::string out = second->ReadAll(kDeadline);
  EXPECT_EQ(second->Wait(kDeadline), 5) << out;
  EXPECT_NE(out.find("409"), std::string::npos) << out;
}

TEST_F(BrokerE2E, UnknownServiceIsDenied404) {
  auto client = Cli({"connect", ServiceUrl("nobody")});
  const std::string out = client->ReadAll(kDeadline);
  EXPECT_EQ(client->Wait(kDeadline), 5) << out;
  EXPECT_NE(out.find("404"), std::string::npos) << out;
}

TEST_F(BrokerE2E, MultiServiceRelaysRequestsAndBroadcastsBetweenSeveralClients) {
  auto server = StartServer("collab", {"--multi-clients"});
  Result<std::unique_ptr<Client>> client = Client::Connect(ServiceUrl("collab"));
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  (*client)->OnData([this](const Connection&, std::string_view channel, Frames payload) {
    if (channel == "broadcast") events_.Push(payload.at(0).to_string());
  });
  Frames payload;
  payload.emplace_back("through", 7);
  payload.emplace_back("the broker", 10);
  Result<Reply> pong = (*client)->Request("ping", std::move(payload)).get();
  ASSERT_TRUE(pong.ok()) << pong.status().ToString();
  ASSERT_EQ(pong->payload.size(), 2u);
  EXPECT_EQ(pong->payload[1].to_string(), "the broker");

  // Two more clients, one after the other, through the same broker.
  for (const char* text : {"hello from B", "hello from C"}) {
    auto other = Cli({"send", ServiceUrl("collab"), "--channel", "broadcast", text});
    EXPECT_EQ(other->Wait(kDeadline), 0) << other->ReadAll(milliseconds(100));
    EXPECT_EQ(events_.Pop(), std::optional<std::string>(text));
  }
  EXPECT_FALSE(server->Wait(milliseconds(50)).has_value());  // multi: still serving
}

TEST_F(BrokerE2E, KilledClientGivesLeftAndTheSingleServerExits3) {
  // Resume off: LEFT expired ends the session at once (the next test has it on).
  const std::string no_resume = dir_.Write(
      "no-resume.yaml", "heartbeat: {interval: 100ms, liveness: 3}\nresume: {grace: 0s}\n");
  auto server = StartServer("viz", {"--config", no_resume});
  auto client = std::make_unique<Subprocess>(std::vector<std::string>{
      PROCMOD_TEST_PEER, "client", "forward", "single", ServiceUrl("viz"), "0", "hold"});
  ASSERT_TRUE(client->WaitForLine("HOLDING", kDeadline).has_value());
  client->Signal(SIGKILL);
  // The broker expires the client (100 ms x 3) and sends LEFT expired.
  EXPECT_EQ(server->Wait(kDeadline), 3);
}

TEST_F(BrokerE2E, AKilledClientsResumableSessionIsKeptForTheGraceThenTheServerExits3) {
  const std::string short_grace = dir_.Write(
      "grace.yaml", "heartbeat: {interval: 100ms, liveness: 3}\nresume: {grace: 800ms}\n");
  auto server = StartServer("viz", {"--config", short_grace});
  auto client = std::make_unique<Subprocess>(std::vector<std::string>{
      PROCMOD_TEST_PEER, "client", "forward", "single", ServiceUrl("viz"), "0", "hold"});
  ASSERT_TRUE(client->WaitForLine("HOLDING", kDeadline).has_value());
  const auto killed_at = std::chrono::steady_clock::now();
  client->Signal(SIGKILL);
  // LEFT expired suspends the session; nobody resumes it within 800 ms.
  EXPECT_EQ(server->Wait(kDeadline), 3);
  EXPECT_GE(std::chrono::steady_clock::now() - killed_at, milliseconds(800));
}

TEST_F(BrokerE2E, KilledServerGivesItsClientsByeWithinIntervalTimesLiveness) {
  auto server = StartServer("viz", {"--multi-clients"});
  ClientOptions options;
  // Resume off: the broker's BYE ends the session (with resume the client would
  // wait for the server to come back, BrokerResume.* in broker_resume_e2e_test).
  options.module.resume.grace = milliseconds(0);
  Result<std::unique_ptr<Client>> client = Client::Connect(ServiceUrl("viz"), options);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  (*client)->OnDisconnected([this](const Connection&, const Disconnect& how) {
    events_.Push(std::string(DisconnectReasonName(how.reason)) + ": " + how.message);
  });
  const auto killed_at = std::chrono::steady_clock::now();
  server->Signal(SIGKILL);
  std::optional<std::string> reason = events_.Pop();
  ASSERT_TRUE(reason.has_value());
  // The broker's BYE (not our own expiry: that would take longer), read as the loss
  // it is rather than a goodbye.
  EXPECT_EQ(*reason, "expired: server lost");
  EXPECT_LT(std::chrono::steady_clock::now() - killed_at, milliseconds(300 + 100 + 200));
}

TEST_F(BrokerE2E, AReconnectingClientComesBackToItsServerRestartedAfterACrash) {
  auto server = StartServer("viz", {"--multi-clients"});
  ClientOptions options;
  options.module.resume.grace = milliseconds(0);
  options.module.reconnect = true;
  // Before the client: its callback may run until ~Client.
  std::atomic<int> attempts{0};
  std::atomic<uint32_t> last_code{0};
  Result<std::unique_ptr<Client>> client = Client::Connect(ServiceUrl("viz"), options);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  (*client)->OnDisconnected([this](const Connection&, const Disconnect& how) {
    events_.Push(std::string(DisconnectReasonName(how.reason)) + ": " + how.message);
  });
  (*client)->OnConnected(
      [this](const Connection& peer) { events_.Push("connected " + peer.name()); });
  (*client)->OnReconnecting([&](const std::string&, int attempt, const Status& why) {
    attempts = attempt;
    last_code = why.pmp_code();
  });

  server->Signal(SIGKILL);  // a crash: no BYE from the server
  EXPECT_EQ(events_.Pop(), std::optional<std::string>("expired: server lost"));
  // Until it is back, the broker answers DENY 404 (no such service): retried, and
  // the application told of each attempt.
  ASSERT_TRUE(Eventually([&] { return attempts.load() >= 1; }, milliseconds(5000)));
  EXPECT_EQ(last_code.load(), 404u);
  const auto restarted_at = std::chrono::steady_clock::now();
  server = StartServer("viz", {"--multi-clients"});
  std::optional<std::string> back = events_.Pop(milliseconds(10000));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->rfind("connected ", 0), 0u) << *back;
  // Backoff starts at 1 s and doubles: back within a few seconds of the restart.
  const auto took = std::chrono::steady_clock::now() - restarted_at;
  EXPECT_LT(took, std::chrono::seconds(8));
  std::printf(
      "recovery: server SIGKILLed behind the broker and restarted: the client back "
      "%lld ms after the server's restart\n",
      static_cast<long long>(std::chrono::duration_cast<milliseconds>(took).count()));
  Result<Reply> pong = (*client)->Request("ping", TextFrames({"again"})).get();
  ASSERT_TRUE(pong.ok()) << pong.status().ToString();
  EXPECT_EQ(Text(pong->payload.at(0)), "again");
}

TEST_F(BrokerE2E, AServerThatLeavesIsToldToItsClientsInTheBrokersWords) {
  auto server = StartServer("viz", {"--multi-clients"});
  Result<std::unique_ptr<Client>> client = Client::Connect(ServiceUrl("viz"));
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  (*client)->OnDisconnected([this](const Connection&, const Disconnect& how) {
    events_.Push(std::string(DisconnectReasonName(how.reason)) + ": " + how.message);
  });
  server->Signal(SIGTERM);  // BYE to the broker, which says BYE "server left" to us
  EXPECT_EQ(events_.Pop(), std::optional<std::string>("bye: server left"));
  EXPECT_EQ(server->Wait(kDeadline), 0);
}

TEST_F(BrokerE2E, AClientKickedAtTheBrokerHearsTheAdministratorClosedIt) {
  auto server = StartServer("viz", {"--multi-clients"});
  Result<std::unique_ptr<Client>> client = Client::Connect(ServiceUrl("viz"));
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  (*client)->OnDisconnected([this](const Connection&, const Disconnect& how) {
    events_.Push(std::string(DisconnectReasonName(how.reason)) + ": " + how.message);
  });
  // The broker's session of this client is the one its WELCOME named.
  const std::vector<uint8_t> args = json::to_msgpack({{"session", (*client)->server().session()}});
  Result<Reply> closed =
      AdminRequest(admin_, "connections.close", std::string(args.begin(), args.end()));
  ASSERT_TRUE(closed.ok()) << closed.status().ToString();
  EXPECT_EQ(events_.Pop(), std::optional<std::string>("bye: closed by the administrator"));
}

TEST_F(BrokerE2E, MonitorListsWhichClientIsWithWhichServer) {
  auto server = StartServer("viz", {"--name", "viz-1", "--multi-clients"});
  ClientOptions options;
  options.module.name = "alice";
  Result<std::unique_ptr<Client>> client = Client::Connect(ServiceUrl("viz"), options);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  auto monitor = std::make_unique<Subprocess>(
      std::vector<std::string>{PROCMOD_MONITOR, "--admin", admin_, "list", "--json"});
  const std::string out = monitor->ReadAll(kDeadline);
  ASSERT_EQ(monitor->Wait(kDeadline), 0) << out;
  json peers = json::parse(out);
  std::string server_session;
  for (const json& p : peers) {
    if (p["name"] == "viz-1") server_session = p["session"];
  }
  ASSERT_FALSE(server_session.empty()) << out;
  bool found_client = false;
  for (const json& p : peers) {
    if (p["name"] == "alice") {
      found_client = true;
      EXPECT_EQ(p["service"], "viz");
      EXPECT_EQ(p["server"], server_session);
    }
  }
  EXPECT_TRUE(found_client) << out;

  // `services`: the service, its server and its clients, as a table.
  auto services = std::make_unique<Subprocess>(
      std::vector<std::string>{PROCMOD_MONITOR, "--admin", admin_, "services"});
  const std::string table = services->ReadAll(kDeadline);
  ASSERT_EQ(services->Wait(kDeadline), 0) << table;
  EXPECT_NE(table.find("SERVICE"), std::string::npos) << table;
  EXPECT_NE(table.find("viz-1"), std::string::npos) << table;
  EXPECT_NE(table.find(server_session), std::string::npos) << table;
}

TEST_F(BrokerE2E, AServerStartedBeforeItsBrokerRegistersWhenTheBrokerComesUp) {
  zmq::context_t context;
  const std::string endpoint = FreeTcpEndpoint(context);
  ServerProcess server(PROCMOD_SERVER, {"--config", config_, "--broker-url", endpoint, "--service",
                                        "early", "--multi-clients"});
  // Not a failure: it says so on stderr and keeps dialing.
  ASSERT_TRUE(server.WaitFor("connection refused; retrying", milliseconds(3000)).has_value());
  Daemon late = StartDaemon(
      {PROCMOD_BROKER, "--config", config_, "--listen", endpoint, "--admin", "none"}, kBrokerReady);
  ASSERT_EQ(late.endpoint, endpoint);
  // libzmq redials at most 2 s apart.
  ASSERT_TRUE(server.WaitFor("registered as early").has_value());
  ToolRun ping = RunTool({PROCMOD_CLI, "ping", "-c", "1", "broker+" + endpoint + "/early"},
                         /*stderr_only=*/false, kDeadline);
  EXPECT_EQ(ping.code, 0) << ping.output;
}

// The server's own view, as an operator sees it: `procmod-monitor info --json`.
json ProcessInfo(const std::string& admin) {
  ToolRun run = RunTool({PROCMOD_MONITOR, "--admin", admin, "info", "--json"},
                        /*stderr_only=*/false, kDeadline);
  EXPECT_EQ(run.code, 0) << run.output;
  json info = json::parse(run.output, nullptr, /*allow_exceptions=*/false);
  return info.is_object() ? info : json::object();
}

// A broker restarted on the same port gets its servers back: multi-client and
// single-client (no client yet) alike, whether the old broker said BYE (SIGINT) or
// just vanished (SIGKILL, noticed by the heartbeat).
class BrokerRestartE2E : public BrokerE2E, public ::testing::WithParamInterface<int> {
 protected:
  // procmod-server registered as the server of `service`, with an admin endpoint.
  std::unique_ptr<ServerProcess> Server(const std::string& service, const std::string& admin,
                                        std::vector<std::string> extra = {}) {
    extra.insert(extra.begin(), {"--config", config_, "--admin", admin, "--name", service,
                                 "--broker-url", broker_.endpoint, "--service", service});
    auto server = std::make_unique<ServerProcess>(PROCMOD_SERVER, std::move(extra));
    EXPECT_TRUE(server->WaitFor("registered as " + service).has_value());
    return server;
  }

  int Ping(const std::string& service) {
    ToolRun run = RunTool({PROCMOD_CLI, "ping", "-c", "1", ServiceUrl(service)},
                          /*stderr_only=*/false, kDeadline);
    EXPECT_EQ(run.code, 0) << run.output;
    return run.code.value_or(-1);
  }
};

TEST_P(BrokerRestartE2E, ServersRegisterAgainWhenTheBrokerComesBack) {
  const std::string multi_admin = "ipc://" + dir_.path() + "/multi.admin";
  const std::string single_admin = "ipc://" + dir_.path() + "/single.admin";
  auto multi = Server("multi", multi_admin, {"--multi-clients"});
  auto single = Server("single", single_admin);
  EXPECT_EQ(ProcessInfo(multi_admin)["accepting"], true);
  EXPECT_EQ(ProcessInfo(single_admin)["accepting"], true);
  EXPECT_EQ(ProcessInfo(multi_admin)["broker"]["state"], "registered");

  StopBroker(GetParam());
  // At once on the broker's BYE; within 100 ms x 3 of its silence after SIGKILL.
  ASSERT_TRUE(multi->WaitFor("lost the broker").has_value());
  ASSERT_TRUE(single->WaitFor("lost the broker").has_value());
  // Unregistered is not accepting, and both are still there to come back.
  EXPECT_EQ(ProcessInfo(multi_admin)["accepting"], false);
  EXPECT_EQ(ProcessInfo(single_admin)["accepting"], false);
  // The monitor shows it trying (procmod-monitor info: "registering (attempt N)").
  json broker = ProcessInfo(multi_admin)["broker"];
  EXPECT_EQ(broker["state"], "registering") << broker.dump();
  EXPECT_TRUE(Eventually([&] {  // and counting: refused dials and retries
    return ProcessInfo(multi_admin)["broker"].value("attempt", 0) >= 2;
  })) << ProcessInfo(multi_admin)["broker"].dump();

  StartBrokerAgain();
  const auto back_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(multi->WaitFor("registered again").has_value());
  ASSERT_TRUE(single->WaitFor("registered again").has_value());
  // The first backoff (1 s + 25%) and libzmq's redial (at most 2 s) bound it.
  EXPECT_LT(std::chrono::steady_clock::now() - back_at, milliseconds(4000));
  EXPECT_EQ(ProcessInfo(multi_admin)["accepting"], true);
  EXPECT_EQ(ProcessInfo(single_admin)["accepting"], true);
  EXPECT_EQ(ProcessInfo(multi_admin)["broker"]["state"], "registered");

  // Served again: a real client reaches each service through the new broker.
  EXPECT_EQ(Ping("multi"), 0);
  EXPECT_EQ(Ping("single"), 0);
  EXPECT_EQ(single->Wait(), 0);  // its one client came and went
  EXPECT_FALSE(multi->Wait(milliseconds(0)).has_value());
}

// The broker SIGKILLed and restarted under a multi server and 20 clients that ride
// through it (procmod ping --reconnect; their sessions resume through the new broker,
// or reconnect): every client is served again within 2 x interval x liveness + the
// backoffs once the broker is back.
TEST_F(BrokerE2E, TwentyClientsAreServedAgainAfterABrokerRestart) {
  auto server = StartServer("viz", {"--multi-clients"});
  std::vector<std::unique_ptr<Subprocess>> clients;
  for (int i = 0; i < 20; ++i) {
    clients.push_back(Cli({"ping", "-c", "0", "-i", "100ms", "--reconnect", ServiceUrl("viz")}));
  }
  for (auto& client : clients) ASSERT_TRUE(client->WaitForLine("reply from ", kDeadline));
  // Each client's last answered sequence number before the broker goes.
  auto seq_of = [](const std::string& line) -> int64_t {
    const size_t at = line.find(" seq=");
    return at == std::string::npos ? -1 : std::atoll(line.c_str() + at + 5);
  };
  std::vector<int64_t> last(clients.size(), 0);
  for (size_t i = 0; i < clients.size(); ++i) {
    while (std::optional<std::string> line = clients[i]->ReadLine(milliseconds(0))) {
      if (line->find("reply from ") != std::string::npos) last[i] = seq_of(*line);
    }
  }

  StopBroker(SIGKILL);
  StartBrokerAgain();
  const auto back_at = std::chrono::steady_clock::now();
  milliseconds slowest{0};
  for (size_t i = 0; i < clients.size(); ++i) {
    // A reply two or more requests later than the last before: asked after the kill.
    bool served = false;
    const auto deadline = back_at + milliseconds(15000);
    while (!served && std::chrono::steady_clock::now() < deadline) {
      std::optional<std::string> line = clients[i]->ReadLine(milliseconds(500));
      served =
          line && line->find("reply from ") != std::string::npos && seq_of(*line) >= last[i] + 2;
    }
    ASSERT_TRUE(served) << "client " << i << " was not served again";
    slowest = std::max(slowest, std::chrono::duration_cast<milliseconds>(
                                    std::chrono::steady_clock::now() - back_at));
  }
  // 2 x 300 ms of silence, the server's first backoff (1 s + 25 %), a client's (at
  // most 2 s), with room for a loaded machine.
  EXPECT_LT(slowest, milliseconds(8000));
  std::printf(
      "recovery: broker SIGKILLed and restarted: 20 of 20 clients served again within "
      "%lld ms of the broker's return\n",
      static_cast<long long>(slowest.count()));
  for (auto& client : clients) client->Signal(SIGINT);
}

INSTANTIATE_TEST_SUITE_P(BySignal, BrokerRestartE2E, ::testing::Values(SIGINT, SIGKILL),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return std::string(info.param == SIGINT ? "Sigint" : "Sigkill");
                         });

}  // namespace
}  // namespace procmod::testing
