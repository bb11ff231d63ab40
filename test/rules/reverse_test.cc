// Rules R1, R2, R3: reverse connections. The client binds; the server dials it.
#include <gtest/gtest.h>

#include "support/daemons.h"
#include "support/module_fixture.h"

namespace procmod::testing {
namespace {

class Reverse : public ModuleTest {
 protected:
  // A reverse client whose Start() runs on another thread (it waits for servers).
  std::future<Status> StartReverseClient(Options o) {
    client_ = Init(o);
    auto start = Async([this] { return client_->Start(); });
    EXPECT_TRUE(Eventually([this] { return !client_->ListenEndpoint().empty(); }));
    endpoint_ = client_->ListenEndpoint();
    return start;
  }

  ProcessModule* client_ = nullptr;
};

TEST_F(Reverse, R1_ClientBindsAndWaitsForItsServerAtStart) {
  auto start = StartReverseClient(TestOptions(Role::kClient, Mode::kReverse));
  EXPECT_EQ(start.wait_for(milliseconds(100)), std::future_status::timeout);
  RawDealer server(context_, endpoint_);
  std::optional<pmp::Welcome> welcome = server.Hello(MakeHello("server", "pvserver"));
  ASSERT_TRUE(welcome.has_value());
  EXPECT_EQ(welcome->role, "client");
  ASSERT_EQ(start.wait_for(kDeadline), std::future_status::ready);
  ASSERT_TRUE(start.get().ok());
  ASSERT_EQ(client_->Connections().size(), 1u);
  EXPECT_EQ(client_->Connections()[0].role, "server");
  // A second server is refused: the client has its one server.
  RawDealer second(context_, endpoint_);
  second.Send(MakeHello("server", "other"));
  const auto deny = As<pmp::Deny>(second.Receive());
  ASSERT_TRUE(deny.has_value());
  EXPECT_EQ(deny->code, 409u);
}

TEST_F(Reverse, R1_RenderClientWaitsForADataAndARenderServer) {
  Options o = TestOptions(Role::kClient, Mode::kReverse);
  o.render_client = true;
  auto start = StartReverseClient(o);
  RawDealer data(context_, endpoint_);
  ASSERT_TRUE(data.Hello(MakeHello("data-server", "ds")).has_value());
  EXPECT_EQ(start.wait_for(milliseconds(100)), std::future_status::timeout);
  // A combined server is the wrong type here.
  RawDealer combined(context_, endpoint_);
  combined.Send(MakeHello("server", "pvserver"));
  const auto deny = As<pmp::Deny>(combined.Receive());
  ASSERT_TRUE(deny.has_value());
  EXPECT_EQ(deny->code, 403u);
  RawDealer render(context_, endpoint_);
  ASSERT_TRUE(render.Hello(MakeHello("render-server", "rs")).has_value());
  ASSERT_EQ(start.wait_for(kDeadline), std::future_status::ready);
  EXPECT_TRUE(start.get().ok());
  EXPECT_EQ(client_->Connections().size(), 2u);
}

TEST_F(Reverse, R1_StartGivesUpAfterTimeoutsAccept) {
  Options o = TestOptions(Role::kClient, Mode::kReverse);
  o.timeouts.accept = milliseconds(150);
  auto start = StartReverseClient(o);
  ASSERT_EQ(start.wait_for(kDeadline), std::future_status::ready);
  Status s = start.get();
  EXPECT_TRUE(s.IsDeadlineExceeded()) << s.ToString();
}

TEST_F(Reverse, R2_ServerConnectsToItsClientAtStart) {
  RawRouter client(context_);
  Options o = TestOptions(Role::kServer, Mode::kReverse);
  o.client_url = client.endpoint();
  ProcessModule* server = Init(o);
  auto start = Async([server] { return server->Start(); });
  auto hello = client.AcceptHello("client", "paraview");
  ASSERT_TRUE(hello.has_value());
  EXPECT_EQ(std::get<pmp::Hello>(hello->message.header).role, "server");
  ASSERT_EQ(start.wait_for(kDeadline), std::future_status::ready);
  EXPECT_TRUE(start.get().ok());
}

TEST_F(Reverse, R2_ServerRetriesWithANewSocketAfterAnUnansweredHello) {
  RawRouter client(context_);
  Options o = TestOptions(Role::kServer, Mode::kReverse);
  o.client_url = client.endpoint();
  o.timeouts.handshake = milliseconds(200);
  ProcessModule* server = Init(o);
  auto start = Async([server] { return server->Start(); });
  // Ignore the first HELLO: the server must give up on it and try again.
  std::optional<RawRouter::Incoming> first = client.Receive();
  ASSERT_TRUE(first.has_value());
  auto second = client.AcceptHello("client");
  ASSERT_TRUE(second.has_value());
  EXPECT_NE(second->routing_id, first->routing_id);  // a new socket
  ASSERT_EQ(start.wait_for(kDeadline), std::future_status::ready);
  EXPECT_TRUE(start.get().ok());
}

TEST_F(Reverse, R2_ServerKeepsDialingThroughRefusalsUntilItsClientListens) {
  // A server may well start before its client: a refused connect is no failure.
  const std::string endpoint = FreeTcpEndpoint(context_);
  Options o = TestOptions(Role::kServer, Mode::kReverse);
  o.client_url = endpoint;
  ProcessModule* server = Init(o);
  auto start = Async([server] { return server->Start(); });
  EXPECT_EQ(start.wait_for(milliseconds(300)), std::future_status::timeout);
  RawRouter client(context_, endpoint);
  ASSERT_TRUE(client.AcceptHello("client").has_value());
  ASSERT_EQ(start.wait_for(kDeadline), std::future_status::ready);
  Status s = start.get();
  EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST_F(Reverse, R2_ServerGivesUpAfterTimeoutsConnect) {
  const std::string endpoint = FreeTcpEndpoint(context_);
  Options o = TestOptions(Role::kServer, Mode::kReverse);
  o.client_url = endpoint;
  o.timeouts.connect = milliseconds(300);
  ProcessModule* server = Init(o);
  Status s = server->Start();
  EXPECT_TRUE(s.IsDeadlineExceeded()) << s.ToString();
  // ... and says what it met meanwhile.
  EXPECT_NE(s.message().find("within timeouts.connect: connection refused "), std::string::npos)
      << s.ToString();
}

TEST_F(Reverse, R3_ServerRunEndsWhenItsClientGoes) {
  RawRouter client(context_);
  Options o = TestOptions(Role::kServer, Mode::kReverse);
  o.client_url = client.endpoint();
  ProcessModule* server = Init(o);
  auto start = Async([server] { return server->Start(); });
  auto hello = client.AcceptHello("client");
  ASSERT_TRUE(hello.has_value());
  ASSERT_TRUE(start.get().ok());
  auto run = Async([server] { return server->Run(); });
  EXPECT_EQ(run.wait_for(milliseconds(100)), std::future_status::timeout);
  client.SendTo(hello->routing_id, pmp::Bye{"bye"});
  ASSERT_EQ(run.wait_for(kDeadline), std::future_status::ready);
  EXPECT_EQ(run.get(), RunEnd::kPeerLeft);
}

TEST_F(Reverse, R3_AlsoWithMultipleConnectionsTheServerHasOneClient) {
  RawRouter client(context_);
  Options o = TestOptions(Role::kServer, Mode::kReverse);
  o.client_url = client.endpoint();
  ProcessModule* server = Init(o);
  ASSERT_TRUE(server->SetSupportMultipleConnections(true).ok());
  auto start = Async([server] { return server->Start(); });
  auto hello = client.AcceptHello("client", "paraview", 100, 3);
  ASSERT_TRUE(hello.has_value());
  ASSERT_TRUE(start.get().ok());
  // The client dies silently: the server's Run() ends with kPeerLost.
  auto run = Async([server] { return server->Run(); });
  ASSERT_EQ(run.wait_for(kDeadline), std::future_status::ready);
  EXPECT_EQ(run.get(), RunEnd::kPeerLost);
}

}  // namespace
}  // namespace procmod::testing
