// How the end of a session reaches OnDisconnected on every path a BYE (or a broker's
// LEFT) arrives by: the reason, and the other side's own words in
// Disconnect::message. Raw peers play that side: a client, a server, a broker.
#include <gtest/gtest.h>

#include "support/module_fixture.h"

namespace procmod::testing {
namespace {

// One end, as the callback saw it.
struct Ended {
  std::string session;
  DisconnectReason reason;
  std::string message;
};

class Disconnects : public ModuleTest {
 protected:
  // A module for `options` whose every end is recorded in ended_, from before Start().
  ProcessModule* InitRecording(const Options& options) {
    ProcessModule* module = Init(options);
    if (module == nullptr) return nullptr;
    module->OnDisconnected([this](const Connection& peer, const Disconnect& how) {
      ended_.Push({peer.session(), how.reason, how.message});
    });
    return module;
  }

  // A forward client admitted by `server` (a raw one); the HELLO it sent.
  ProcessModule* ConnectedClient(RawRouter& server, std::optional<RawRouter::Incoming>& hello) {
    Options o = TestOptions(Role::kClient);
    o.server_url = server.endpoint();
    ProcessModule* client = InitRecording(o);
    auto start = Async([client] { return client->Start(); });
    hello = server.AcceptHello("server");
    EXPECT_EQ(start.wait_for(kDeadline), std::future_status::ready);
    EXPECT_TRUE(hello.has_value() && start.get().ok());
    return client;
  }

  // A multi-client server registered with `broker` (a raw one) for service "viz";
  // the broker's HELLO from it.
  ProcessModule* RegisteredServer(RawRouter& broker, std::optional<RawRouter::Incoming>& hello) {
    Options o = TestOptions(Role::kServer, Mode::kBroker);
    o.broker_url = broker.endpoint();
    o.service = "viz";
    o.multiple_connections = true;
    ProcessModule* server = InitRecording(o);
    auto start = Async([server] { return server->Start(); });
    hello = broker.AcceptHello("broker", "procmod-broker");
    EXPECT_EQ(start.wait_for(kDeadline), std::future_status::ready);
    EXPECT_TRUE(hello.has_value() && start.get().ok());
    return server;
  }

  // Both outlive the module (see Mailbox).
  Mailbox<Ended> ended_;
  Mailbox<DisconnectReason> reasons_;
};

TEST_F(Disconnects, AClientsByeReasonReachesTheServer) {
  ProcessModule* server = InitRecording(TestOptions(Role::kServer));
  ASSERT_TRUE(server->Start().ok());
  RawDealer client(context_, server->ListenEndpoint());
  std::optional<pmp::Welcome> welcome = client.Hello(MakeHello());
  ASSERT_TRUE(welcome.has_value());
  client.Send(pmp::Bye{"user closed the window"});
  std::optional<Ended> ended = ended_.Pop();
  ASSERT_TRUE(ended.has_value());
  EXPECT_EQ(ended->session, welcome->session);
  EXPECT_EQ(ended->reason, DisconnectReason::kBye);
  EXPECT_EQ(ended->message, "user closed the window");
}

TEST_F(Disconnects, AServersByeReasonReachesTheClientThatDialedIt) {
  RawRouter server(context_);
  std::optional<RawRouter::Incoming> hello;
  ConnectedClient(server, hello);
  ASSERT_TRUE(hello.has_value());
  server.SendTo(hello->routing_id, pmp::Bye{"closed by the administrator"});
  std::optional<Ended> ended = ended_.Pop();
  ASSERT_TRUE(ended.has_value());
  EXPECT_EQ(ended->reason, DisconnectReason::kBye);
  EXPECT_EQ(ended->message, "closed by the administrator");
}

TEST_F(Disconnects, ByeWithoutAReasonHasAnEmptyMessage) {
  RawRouter server(context_);
  std::optional<RawRouter::Incoming> hello;
  ConnectedClient(server, hello);
  ASSERT_TRUE(hello.has_value());
  server.SendTo(hello->routing_id, pmp::Bye{});
  std::optional<Ended> ended = ended_.Pop();
  ASSERT_TRUE(ended.has_value());
  EXPECT_EQ(ended->reason, DisconnectReason::kBye);
  EXPECT_EQ(ended->message, "");
}

TEST_F(Disconnects, OurOwnCloseIsNotThePeersWords) {
  RawRouter server(context_);
  std::optional<RawRouter::Incoming> hello;
  ProcessModule* client = ConnectedClient(server, hello);
  ASSERT_TRUE(hello.has_value());
  Result<Connection> peer = client->FindConnection(client->Connections().at(0).session);
  ASSERT_TRUE(peer.ok());
  ASSERT_TRUE(peer->Close("done here").ok());
  std::optional<Ended> ended = ended_.Pop();
  ASSERT_TRUE(ended.has_value());
  EXPECT_EQ(ended->reason, DisconnectReason::kClosed);
  EXPECT_EQ(ended->message, "");
}

TEST_F(Disconnects, ARelayedClientsEndCarriesTheBrokersLeftReason) {
  RawRouter broker(context_);
  std::optional<RawRouter::Incoming> hello;
  RegisteredServer(broker, hello);
  ASSERT_TRUE(hello.has_value());
  broker.SendTo(hello->routing_id, pmp::Joined{.session = "c1", .name = "alice"});
  broker.SendTo(hello->routing_id, pmp::Joined{.session = "c2", .name = "bob"});
  broker.SendTo(hello->routing_id, pmp::Left{.session = "c1", .reason = "bye"});
  broker.SendTo(hello->routing_id, pmp::Left{.session = "c2", .reason = "expired"});
  std::optional<Ended> left = ended_.Pop();
  ASSERT_TRUE(left.has_value());
  EXPECT_EQ(left->session, "c1");
  EXPECT_EQ(left->reason, DisconnectReason::kBye);
  EXPECT_EQ(left->message, "bye");
  std::optional<Ended> expired = ended_.Pop();
  ASSERT_TRUE(expired.has_value());
  EXPECT_EQ(expired->session, "c2");
  EXPECT_EQ(expired->reason, DisconnectReason::kExpired);
  EXPECT_EQ(expired->message, "expired");
}

TEST_F(Disconnects, ABrokersByeEndsItsRelayedClientsInItsWords) {
  RawRouter broker(context_);
  std::optional<RawRouter::Incoming> hello;
  RegisteredServer(broker, hello);
  ASSERT_TRUE(hello.has_value());
  broker.SendTo(hello->routing_id, pmp::Joined{.session = "c1", .name = "alice"});
  broker.SendTo(hello->routing_id, pmp::Bye{"broker shutting down"});
  // The relayed client first, then the broker's own session. The client did not
  // leave: its session is lost with the relay (kExpired), in the broker's words.
  std::optional<Ended> client = ended_.Pop();
  ASSERT_TRUE(client.has_value());
  EXPECT_EQ(client->session, "c1");
  EXPECT_EQ(client->reason, DisconnectReason::kExpired);
  EXPECT_EQ(client->message, "broker shutting down");
  std::optional<Ended> broker_session = ended_.Pop();
  ASSERT_TRUE(broker_session.has_value());
  EXPECT_NE(broker_session->session, "c1");
  EXPECT_EQ(broker_session->reason, DisconnectReason::kBye);
  EXPECT_EQ(broker_session->message, "broker shutting down");
}

TEST_F(Disconnects, TheFormWithoutWordsStillGetsTheReason) {
  RawRouter server(context_);
  Options o = TestOptions(Role::kClient);
  o.server_url = server.endpoint();
  ProcessModule* client = Init(o);
  client->OnDisconnected([this](const Connection&, DisconnectReason r) { reasons_.Push(r); });
  auto start = Async([client] { return client->Start(); });
  std::optional<RawRouter::Incoming> hello = server.AcceptHello("server");
  ASSERT_TRUE(hello.has_value());
  ASSERT_TRUE(start.get().ok());
  server.SendTo(hello->routing_id, pmp::Bye{"closed by the administrator"});
  EXPECT_EQ(reasons_.Pop(), std::optional<DisconnectReason>(DisconnectReason::kBye));
}

}  // namespace
}  // namespace procmod::testing
