// End to end: the module in this test process talks to procmod_test_peer, a
// separate program built only on the public headers, over real loopback TCP.
#include <signal.h>

#include <gtest/gtest.h>

#include "support/module_fixture.h"
#include "support/subprocess.h"

#ifndef PROCMOD_TEST_PEER
#error "PROCMOD_TEST_PEER must name the procmod_test_peer binary"
#endif

namespace procmod::testing {
namespace {

std::unique_ptr<Subprocess> Peer(std::vector<std::string> args) {
  args.insert(args.begin(), PROCMOD_TEST_PEER);
  return std::make_unique<Subprocess>(std::move(args));
}

// Starts a server peer and returns it with its real endpoint.
std::pair<std::unique_ptr<Subprocess>, std::string> ServerPeer(const std::string& multi) {
  auto peer = Peer({"server", "forward", multi, "tcp://127.0.0.1:0"});
  std::optional<std::string> endpoint = peer->WaitForLine("READY ", kDeadline);
  EXPECT_TRUE(endpoint.has_value());
  return {std::move(peer), endpoint.value_or("")};
}

Result<Reply> Echo(const Connection& c, std::string_view text) {
  Frames payload;
  payload.emplace_back(text.data(), text.size());
  return c.Request("ping", std::move(payload)).get();
}

class EndToEnd : public ModuleTest {};

TEST_F(EndToEnd, ForwardSingleSessionAndTheServerExitsWhenTheClientLeaves) {
  auto [server, endpoint] = ServerPeer("single");
  Options o = TestOptions(Role::kClient);
  o.server_url = endpoint;
  ProcessModule* client = Init(o);
  ASSERT_TRUE(client->Start().ok());
  Result<Connection> c = client->FindConnection(client->Connections().at(0).session);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->name(), "test-peer-server");
  Result<Reply> reply = Echo(*c, "round trip");
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  EXPECT_EQ(reply->payload.at(0).to_string(), "round trip");

  // F3 across processes: a second client is refused with 409 (exit 5).
  auto second = Peer({"client", "forward", "single", endpoint});
  EXPECT_NE(second->WaitForLine("ERROR ", kDeadline).value_or("").find("409"), std::string::npos);
  EXPECT_EQ(second->Wait(kDeadline), 5);

  ASSERT_TRUE(c->Close().ok());  // F4: BYE ends the server
  EXPECT_EQ(server->WaitForLine("END ", kDeadline), "peer left");
  EXPECT_EQ(server->Wait(kDeadline), 0);
}

TEST_F(EndToEnd, ServerExitsWith3WhenItsClientDies) {
  auto [server, endpoint] = ServerPeer("single");
  RawDealer client(context_, endpoint);
  ASSERT_TRUE(client.Hello(MakeHello()).has_value());
  // The client goes silent as if SIGKILLed: 200 ms x 3 later the server gives up.
  EXPECT_EQ(server->WaitForLine("END ", kDeadline), "peer lost");
  EXPECT_EQ(server->Wait(kDeadline), 3);
}

TEST_F(EndToEnd, ClientSeesItsServerKilled) {
  auto [server, endpoint] = ServerPeer("single");
  Options o = TestOptions(Role::kClient);
  o.server_url = endpoint;
  o.resume.grace = milliseconds(0);  // no resume: the loss ends the session at expiry
  ProcessModule* client = Init(o);
  ASSERT_TRUE(client->Start().ok());
  auto run = Async([client] { return client->Run(); });
  server->Signal(SIGKILL);
  // The server's WELCOME set a 200 ms x 3 heartbeat: lost well within a second.
  ASSERT_EQ(run.wait_for(milliseconds(2000)), std::future_status::ready);
  EXPECT_EQ(run.get(), RunEnd::kPeerLost);
}

TEST_F(EndToEnd, ReverseSessionServerDialsTheClient) {
  Options o = TestOptions(Role::kClient, Mode::kReverse);
  ProcessModule* client = Init(o);
  auto start = Async([client] { return client->Start(); });
  ASSERT_TRUE(Eventually([client] { return !client->ListenEndpoint().empty(); }));
  auto server = Peer({"server", "reverse", "single", client->ListenEndpoint()});
  ASSERT_EQ(start.wait_for(kDeadline), std::future_status::ready);
  ASSERT_TRUE(start.get().ok());
  Result<Connection> c = client->FindConnection(client->Connections().at(0).session);
  ASSERT_TRUE(c.ok());
  Result<Reply> reply = Echo(*c, "reverse");
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  EXPECT_EQ(reply->payload.at(0).to_string(), "reverse");
  ASSERT_TRUE(c->Close().ok());  // R3
  EXPECT_EQ(server->WaitForLine("END ", kDeadline), "peer left");
  EXPECT_EQ(server->Wait(kDeadline), 0);
}

TEST_F(EndToEnd, MultiServerServesClientsOneAfterAnotherAndStaysUp) {
  auto [server, endpoint] = ServerPeer("multi");
  for (int i = 0; i < 3; ++i) {
    auto client = Peer({"client", "forward", "multi", endpoint});
    EXPECT_EQ(client->WaitForLine("REPLY ", kDeadline), "hello");
    EXPECT_EQ(client->Wait(kDeadline), 0);
  }
  EXPECT_FALSE(server->Wait(milliseconds(100)).has_value());  // M1: still serving
}

TEST_F(EndToEnd, MultiClientConnectsToTwoServers) {
  auto [first, first_endpoint] = ServerPeer("single");
  auto [second, second_endpoint] = ServerPeer("single");
  Options o = TestOptions(Role::kClient);
  o.multiple_connections = true;
  ProcessModule* client = Init(o);
  ASSERT_TRUE(client->Start().ok());
  Result<Connection> a = client->ConnectToRemote(first_endpoint);
  Result<Connection> b = client->ConnectToRemote(second_endpoint);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_TRUE(Echo(*a, "a").ok());
  EXPECT_TRUE(Echo(*b, "b").ok());
  ProcessModule::Finalize();  // BYE to both: both servers end cleanly
  EXPECT_EQ(first->Wait(kDeadline), 0);
  EXPECT_EQ(second->Wait(kDeadline), 0);
}

TEST_F(EndToEnd, ReverseMultiClientMonitorsTwoServersIn) {
  Options o = TestOptions(Role::kClient, Mode::kReverse);
  o.multiple_connections = true;
  ProcessModule* client = StartAcceptor(o);
  auto s1 = Peer({"server", "reverse", "single", endpoint_});
  auto s2 = Peer({"server", "reverse", "single", endpoint_});
  int admitted = 0;
  const auto deadline = std::chrono::steady_clock::now() + kDeadline;
  while (admitted < 2 && std::chrono::steady_clock::now() < deadline) {
    Result<int> n = client->MonitorConnections(milliseconds(500));
    ASSERT_TRUE(n.ok());
    admitted += *n;
  }
  EXPECT_EQ(admitted, 2);
  EXPECT_EQ(client->Connections().size(), 2u);
}

TEST_F(EndToEnd, ConnectIdMismatchIsDeniedAcrossProcesses) {
  auto server = Peer({"server", "forward", "single", "tcp://127.0.0.1:0", "7"});
  std::optional<std::string> endpoint = server->WaitForLine("READY ", kDeadline);
  ASSERT_TRUE(endpoint.has_value());
  Options o = TestOptions(Role::kClient);
  o.server_url = *endpoint;
  o.connect_id = 8;
  ProcessModule* client = Init(o);
  Status s = client->Start();
  EXPECT_TRUE(s.IsPermissionDenied()) << s.ToString();
  EXPECT_EQ(s.pmp_code(), 403u);
}

}  // namespace
}  // namespace procmod::testing
