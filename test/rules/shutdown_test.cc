// Shutdown never hangs: Finalize() returns within a second whatever the peers do.
#include <gtest/gtest.h>

#include "support/module_fixture.h"

namespace procmod::testing {
namespace {

class Shutdown : public ModuleTest {
 protected:
  static milliseconds TimeFinalize() {
    const auto begin = std::chrono::steady_clock::now();
    ProcessModule::Finalize();
    return std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - begin);
  }
};

TEST_F(Shutdown, FinalizeSendsByeToEveryPeer) {
  Options o = TestOptions(Role::kServer);
  o.multiple_connections = true;
  o.linger = milliseconds(500);
  StartAcceptor(o);
  RawDealer a(context_, endpoint_), b(context_, endpoint_);
  ASSERT_TRUE(a.Hello(MakeHello()).has_value());
  ASSERT_TRUE(b.Hello(MakeHello()).has_value());
  EXPECT_LT(TimeFinalize(), milliseconds(1000));
  EXPECT_TRUE(As<pmp::Bye>(a.Receive()).has_value());
  EXPECT_TRUE(As<pmp::Bye>(b.Receive()).has_value());
}

TEST_F(Shutdown, FinalizeWithAnUnreachablePeerReturnsWithinASecond) {
  RawRouter server(context_);
  Options o = TestOptions(Role::kClient);
  o.server_url = server.endpoint();
  o.linger = milliseconds(1000);  // the longest linger allowed
  ProcessModule* client = Init(o);
  auto start = Async([client] { return client->Start(); });
  ASSERT_TRUE(server.AcceptHello("server").has_value());
  ASSERT_TRUE(start.get().ok());
  server.Close();  // the peer vanishes; the BYE can never be delivered
  EXPECT_LT(TimeFinalize(), milliseconds(1500));
}

TEST_F(Shutdown, FinalizeWhileStartIsStillConnectingAbortsIt) {
  RawRouter mute(context_);  // takes the HELLO and never answers
  Options o = TestOptions(Role::kClient);
  o.server_url = mute.endpoint();
  o.timeouts.connect = milliseconds(0);  // would wait forever
  ProcessModule* client = Init(o);
  auto start = Async([client] { return client->Start(); });
  EXPECT_EQ(start.wait_for(milliseconds(100)), std::future_status::timeout);
  EXPECT_LT(TimeFinalize(), milliseconds(1000));
  ASSERT_EQ(start.wait_for(kDeadline), std::future_status::ready);
  EXPECT_TRUE(start.get().IsAborted());
}

TEST_F(Shutdown, StopAbortsAStartStillDialing) {
  std::string endpoint;
  {
    RawRouter probe(context_);
    endpoint = probe.endpoint();
  }
  Options o = TestOptions(Role::kServer, Mode::kReverse);
  o.client_url = endpoint;  // nothing listens: Start() would dial for a minute
  o.timeouts.connect = milliseconds(60000);
  ProcessModule* server = Init(o);
  auto start = Async([server] { return server->Start(); });
  EXPECT_EQ(start.wait_for(milliseconds(100)), std::future_status::timeout);
  server->Stop();  // what procmod-server does on SIGTERM
  ASSERT_EQ(start.wait_for(milliseconds(1000)), std::future_status::ready);
  EXPECT_TRUE(start.get().IsAborted());
  EXPECT_EQ(server->Run(), RunEnd::kStopped);
}

TEST_F(Shutdown, RunReturnsStoppedAfterFinalize) {
  ProcessModule* server = StartAcceptor(TestOptions(Role::kServer));
  auto run = Async([server] { return server->Run(); });
  EXPECT_EQ(run.wait_for(milliseconds(50)), std::future_status::timeout);
  server->Stop();
  ASSERT_EQ(run.wait_for(kDeadline), std::future_status::ready);
  EXPECT_EQ(run.get(), RunEnd::kStopped);
}

TEST_F(Shutdown, ConnectionHandlesFailCleanlyAfterFinalize) {
  RawRouter server(context_);
  Options o = TestOptions(Role::kClient);
  o.server_url = server.endpoint();
  ProcessModule* client = Init(o);
  auto start = Async([client] { return client->Start(); });
  ASSERT_TRUE(server.AcceptHello("server").has_value());
  ASSERT_TRUE(start.get().ok());
  Connection c = client->Connections().empty()
                     ? Connection()
                     : *client->FindConnection(client->Connections()[0].session);
  ASSERT_TRUE(c.valid());
  ProcessModule::Finalize();
  EXPECT_TRUE(c.Send("late").IsAborted());
  EXPECT_TRUE(c.Request("x").get().status().IsAborted());
  EXPECT_TRUE(c.Close().ok());
}

}  // namespace
}  // namespace procmod::testing
