// Rules M0-M3: SupportMultipleConnections.
#include <gtest/gtest.h>

#include <iterator>
#include <vector>

#include <zmq_addon.hpp>

#include "support/module_fixture.h"

namespace procmod::testing {
namespace {

class Multi : public ModuleTest {};

TEST_F(Multi, M0_SettingItAfterStartIsAnError) {
  ProcessModule* server = Init(TestOptions(Role::kServer));
  ASSERT_TRUE(server->SetSupportMultipleConnections(true).ok());
  EXPECT_TRUE(server->SupportMultipleConnections());
  ASSERT_TRUE(server->Start().ok());
  Status s = server->SetSupportMultipleConnections(false);
  EXPECT_TRUE(s.IsFailedPrecondition()) << s.ToString();
  EXPECT_NE(s.ToString().find("M0"), std::string::npos);
  EXPECT_TRUE(server->SupportMultipleConnections());
}

TEST_F(Multi, M1_ServerKeepsAdmittingAndOutlivesItsClients) {
  Options o = TestOptions(Role::kServer);
  o.multiple_connections = true;
  ProcessModule* server = StartAcceptor(o);
  server->RegisterHandler(
      "echo", [](IncomingRequest& r) { return Reply{.payload = std::move(r.payload)}; });
  auto run = Async([server] { return server->Run(); });
  RawDealer a(context_, endpoint_), b(context_, endpoint_);
  std::optional<pmp::Welcome> wa = a.Hello(MakeHello("client", "a"));
  ASSERT_TRUE(wa.has_value());
  EXPECT_TRUE(wa->multi);
  ASSERT_TRUE(b.Hello(MakeHello("client", "b")).has_value());
  EXPECT_EQ(server->Connections().size(), 2u);
  a.Send(pmp::Bye{"done"});
  EXPECT_TRUE(Eventually([&] { return server->Connections().size() == 1; }));
  // The server still serves b and admits newcomers; Run() goes on.
  b.Send(pmp::Request{.id = 1, .method = "echo"}, TextFrames({"still here"}));
  std::optional<pmp::Message> reply = b.Receive();
  ASSERT_TRUE(As<pmp::Reply>(reply).has_value());
  EXPECT_EQ(Text(reply->payload[0]), "still here");
  RawDealer c(context_, endpoint_);
  ASSERT_TRUE(c.Hello(MakeHello("client", "c")).has_value());
  EXPECT_EQ(server->Connections().size(), 2u);
  EXPECT_EQ(run.wait_for(milliseconds(50)), std::future_status::timeout);
  server->Stop();
  EXPECT_EQ(run.get(), RunEnd::kStopped);
}

TEST_F(Multi, M1_AnExpiredClientsConnectionIsClosedWhileTheServerGoesOn) {
  Options o = TestOptions(Role::kServer);
  o.multiple_connections = true;
  o.heartbeat.interval = milliseconds(100);
  ProcessModule* server = StartAcceptor(o);
  auto run = Async([server] { return server->Run(); });
  RawDealer silent(context_, endpoint_);
  ASSERT_TRUE(silent.Hello(MakeHello("client", "silent")).has_value());
  // It stays connected and says nothing more, as a stopped process would: its
  // kernel would keep the TCP connection, and the server's queue for it, for ever.
  zmq::socket_t events(context_, zmq::socket_type::pair);
  ASSERT_EQ(zmq_socket_monitor(silent.socket().handle(), "inproc://silent-client",
                               ZMQ_EVENT_DISCONNECTED),
            0);
  events.connect("inproc://silent-client");
  events.set(zmq::sockopt::rcvtimeo, 10000);
  EXPECT_TRUE(Eventually([&] { return server->Connections().empty(); }));
  // Expired, and the server shut its connection down (the multi server goes on,
  // so nothing else would close it).
  std::vector<zmq::message_t> event;
  EXPECT_TRUE(zmq::recv_multipart(events, std::back_inserter(event)).has_value())
      << "the expired client's TCP connection stayed open";
  zmq_socket_monitor(silent.socket().handle(), nullptr, 0);
  EXPECT_EQ(run.wait_for(milliseconds(0)), std::future_status::timeout);
  server->Stop();
  EXPECT_EQ(run.get(), RunEnd::kStopped);
}

TEST_F(Multi, M1_MaxConnectionsIsDenied503) {
  Options o = TestOptions(Role::kServer);
  o.multiple_connections = true;
  o.limits.max_connections = 2;
  StartAcceptor(o);
  RawDealer a(context_, endpoint_), b(context_, endpoint_), c(context_, endpoint_);
  ASSERT_TRUE(a.Hello(MakeHello()).has_value());
  ASSERT_TRUE(b.Hello(MakeHello()).has_value());
  c.Send(MakeHello());
  const auto deny = As<pmp::Deny>(c.Receive());
  ASSERT_TRUE(deny.has_value());
  EXPECT_EQ(deny->code, 503u);
}

TEST_F(Multi, M2_ClientStartConnectsNowhereAndConnectToRemoteReachesSeveralServers) {
  RawRouter s1(context_), s2(context_);
  Options o = TestOptions(Role::kClient);
  o.multiple_connections = true;
  o.server_url = s1.endpoint();  // ignored in multi mode
  ProcessModule* client = Init(o);
  ASSERT_TRUE(client->Start().ok());
  EXPECT_FALSE(s1.Receive(milliseconds(100)).has_value());  // nobody knocked
  EXPECT_TRUE(client->Connections().empty());

  auto c1 = Async([&] { return client->ConnectToRemote(s1.endpoint()); });
  ASSERT_TRUE(s1.AcceptHello("server", "one").has_value());
  auto c2 = Async([&] { return client->ConnectToRemote(s2.endpoint()); });
  ASSERT_TRUE(s2.AcceptHello("server", "two").has_value());
  Result<Connection> one = c1.get(), two = c2.get();
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  ASSERT_TRUE(two.ok()) << two.status().ToString();
  EXPECT_EQ(one->name(), "one");
  EXPECT_EQ(two->name(), "two");
  EXPECT_EQ(client->Connections().size(), 2u);

  // Each connection talks to its own server.
  ASSERT_TRUE(two->Send("to two", "chat").ok());
  std::optional<RawRouter::Incoming> data = s2.Receive();
  ASSERT_TRUE(data.has_value());
  EXPECT_EQ(std::get<pmp::Data>(data->message.header).channel, "chat");
  EXPECT_EQ(Text(data->message.payload[0]), "to two");
}

TEST_F(Multi, M3_ReverseClientStartDoesNotWaitAndMonitorReturnsZeroOnTimeout) {
  Options o = TestOptions(Role::kClient, Mode::kReverse);
  o.multiple_connections = true;
  ProcessModule* client = StartAcceptor(o);  // returns at once: binds only
  Result<int> none = client->MonitorConnections(milliseconds(100));
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, 0);
}

TEST_F(Multi, M3_MonitorConnectionsAdmitsServersThatConnect) {
  Options o = TestOptions(Role::kClient, Mode::kReverse);
  o.multiple_connections = true;
  ProcessModule* client = StartAcceptor(o);
  // A server knocks before anyone monitors: it waits, unanswered.
  RawDealer early(context_, endpoint_);
  early.Send(MakeHello("server", "early"));
  EXPECT_FALSE(early.Receive(milliseconds(100)).has_value());
  Result<int> admitted = client->MonitorConnections(kDeadline);
  ASSERT_TRUE(admitted.ok());
  EXPECT_EQ(*admitted, 1);
  EXPECT_TRUE(As<pmp::Welcome>(early.Receive()).has_value());
  // Another one while monitoring.
  auto monitor = Async([client] { return client->MonitorConnections(kDeadline); });
  RawDealer late(context_, endpoint_);
  ASSERT_TRUE(late.Hello(MakeHello("data-server", "late")).has_value());
  Result<int> second = monitor.get();
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*second, 1);
  EXPECT_EQ(client->Connections().size(), 2u);
}

// Options::extra_listen: one acceptor on several endpoints, as a reverse
// render-client binds its data server's and its render server's.
TEST_F(Multi, ExtraListenEndpointsAreOneAcceptor) {
  Options o = TestOptions(Role::kServer);
  o.multiple_connections = true;
  o.extra_listen = {"tcp://127.0.0.1:0"};
  ProcessModule* server = StartAcceptor(o);
  const std::vector<std::string> bound = server->ListenEndpoints();
  ASSERT_EQ(bound.size(), 2u);
  EXPECT_EQ(bound[0], server->ListenEndpoint());
  EXPECT_NE(bound[0], bound[1]);
  RawDealer a(context_, bound[0]), b(context_, bound[1]);
  ASSERT_TRUE(a.Hello(MakeHello("client", "a")).has_value());
  ASSERT_TRUE(b.Hello(MakeHello("client", "b")).has_value());
  EXPECT_EQ(server->Connections().size(), 2u);
}

TEST_F(Multi, AnExtraListenEndpointInUseFailsStart) {
  RawRouter taken(context_);
  Options o = TestOptions(Role::kServer);
  o.extra_listen = {taken.endpoint()};
  ProcessModule* server = Init(o);
  Status s = server->Start();
  EXPECT_TRUE(s.IsUnavailable()) << s.ToString();
  EXPECT_NE(s.ToString().find(taken.endpoint()), std::string::npos) << s.ToString();
}

}  // namespace
}  // namespace procmod::testing
