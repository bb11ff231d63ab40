// Acceptor: our ROUTER, its admission table, the gate of a reverse multi client
// (rule M3) and the waits of WaitForPeers and MonitorConnections.
#include "io/acceptor.h"

#include <gtest/gtest.h>

#include "support/fake_clock.h"

namespace procmod {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::FakeClock;

pmp::Hello HelloFrom(std::string role) {
  pmp::Hello hello;
  hello.role = std::move(role);
  hello.name = "peer";
  hello.version = std::string(pmp::kProtocolVersion);
  return hello;
}

class AcceptorTest : public ::testing::Test {
 protected:
  std::unique_ptr<Acceptor> Bind(bool gated, bool multi = true) {
    Options options;
    options.listen = "tcp://127.0.0.1:0";
    AdmissionPolicy policy;
    policy.multi = multi;
    policy.accepted_roles = {"server"};
    Result<std::unique_ptr<Acceptor>> acceptor =
        Acceptor::Bind(context_, options, CurveSetup{}, zap_, policy, gated);
    EXPECT_TRUE(acceptor.ok()) << acceptor.status().ToString();
    return acceptor.ok() ? std::move(*acceptor) : nullptr;
  }

  // Admits `routing_id` into the table, as the IoLoop does on a HELLO.
  void AdmitTo(Acceptor& acceptor, const std::string& routing_id) {
    Admission admission =
        acceptor.table().Admit(routing_id, HelloFrom("server"), "127.0.0.1", clock_.Now());
    ASSERT_TRUE(admission.admitted) << admission.reason;
    acceptor.CountAdmission();
    acceptor.CheckWait();
  }

  zmq::context_t context_;
  std::unique_ptr<ZapHandler> zap_;
  FakeClock clock_;
};

TEST_F(AcceptorTest, BindsPortZeroAndReportsTheRealEndpoint) {
  std::unique_ptr<Acceptor> acceptor = Bind(/*gated=*/false);
  ASSERT_NE(acceptor, nullptr);
  EXPECT_TRUE(acceptor->endpoint().starts_with("tcp://127.0.0.1:"));
  EXPECT_NE(acceptor->endpoint(), "tcp://127.0.0.1:0");
  EXPECT_TRUE(acceptor->table().accepting());
}

TEST_F(AcceptorTest, AnEndpointInUseIsAnErrorNotACrash) {
  std::unique_ptr<Acceptor> first = Bind(false);
  ASSERT_NE(first, nullptr);
  Options options;
  options.listen = first->endpoint();
  Result<std::unique_ptr<Acceptor>> second =
      Acceptor::Bind(context_, options, CurveSetup{}, zap_, AdmissionPolicy{}, false);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find(first->endpoint()), std::string::npos)
      << second.status().ToString();
}

TEST_F(AcceptorTest, AClosedGateHoldsNewPeersButNotKnownOnes) {
  std::unique_ptr<Acceptor> acceptor = Bind(/*gated=*/true);
  EXPECT_TRUE(acceptor->Holds("new"));
  AdmitTo(*acceptor, "known");
  EXPECT_FALSE(acceptor->Holds("known"));  // a known peer's HELLO is answered
  // Not accepting at all: answered (DENY 409) rather than held.
  acceptor->table().SetAccepting(false);
  EXPECT_FALSE(acceptor->Holds("new"));
}

TEST_F(AcceptorTest, HeldHellosAreBoundedAndOnlyFreshOnesAreAdmittedAtTheNextMonitor) {
  std::unique_ptr<Acceptor> acceptor = Bind(/*gated=*/true);
  EXPECT_TRUE(acceptor->Hold({"old", HelloFrom("server"), "a", "", clock_.Now()}, 2));
  clock_.Advance(seconds(4));
  EXPECT_TRUE(acceptor->Hold({"fresh", HelloFrom("server"), "b", "", clock_.Now()}, 2));
  EXPECT_FALSE(acceptor->Hold({"third", HelloFrom("server"), "c", "", clock_.Now()}, 2));
  clock_.Advance(seconds(2));
  // With timeouts.handshake 5 s the first knock's peer has given up.
  std::vector<Acceptor::HeldHello> fresh = acceptor->OpenGate(clock_.Now(), seconds(5));
  ASSERT_EQ(fresh.size(), 1u);
  EXPECT_EQ(fresh[0].routing_id, "fresh");
  EXPECT_FALSE(acceptor->Holds("someone"));  // the gate is open
  EXPECT_TRUE(acceptor->OpenGate(clock_.Now(), seconds(5)).empty());  // nothing twice
}

TEST_F(AcceptorTest, WaitForPeersIsAnsweredWhenTheTableHoldsEnough) {
  std::unique_ptr<Acceptor> acceptor = Bind(false);
  std::promise<Result<int>> promise;
  std::future<Result<int>> future = promise.get_future();
  ASSERT_TRUE(acceptor->StartWait(2, clock_.Now() + seconds(10), promise));
  AdmitTo(*acceptor, "a");
  EXPECT_EQ(future.wait_for(milliseconds(0)), std::future_status::timeout);
  AdmitTo(*acceptor, "b");
  ASSERT_EQ(future.wait_for(milliseconds(0)), std::future_status::ready);
  Result<int> result = future.get();
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(*result, 2);
  EXPECT_EQ(acceptor->WaitDeadline(), TimePoint::max());
}

TEST_F(AcceptorTest, WaitForPeersRunsOutAtItsDeadlineNamingTheEndpoint) {
  std::unique_ptr<Acceptor> acceptor = Bind(false);
  std::promise<Result<int>> promise;
  std::future<Result<int>> future = promise.get_future();
  ASSERT_TRUE(acceptor->StartWait(1, clock_.Now() + seconds(10), promise));
  EXPECT_EQ(acceptor->WaitDeadline(), clock_.Now() + seconds(10));
  clock_.Advance(seconds(9));
  acceptor->ExpireWait(clock_.Now());
  EXPECT_EQ(future.wait_for(milliseconds(0)), std::future_status::timeout);
  clock_.Advance(seconds(1));
  acceptor->ExpireWait(clock_.Now());
  Result<int> result = future.get();
  ASSERT_TRUE(result.status().IsDeadlineExceeded());
  EXPECT_NE(result.status().message().find(acceptor->endpoint()), std::string::npos);
}

TEST_F(AcceptorTest, OneWaitAtATime) {
  std::unique_ptr<Acceptor> acceptor = Bind(false);
  std::promise<Result<int>> first;
  std::promise<Result<int>> second;
  std::future<Result<int>> second_future = second.get_future();
  ASSERT_TRUE(acceptor->StartWait(1, TimePoint::max(), first));
  EXPECT_FALSE(acceptor->StartMonitor(TimePoint::max(), second));
  EXPECT_TRUE(second_future.get().status().IsFailedPrecondition());
}

TEST_F(AcceptorTest, AMonitorEndsAtTheFirstAdmissionAndClosesTheGateAgain) {
  std::unique_ptr<Acceptor> acceptor = Bind(/*gated=*/true);
  std::promise<Result<int>> promise;
  std::future<Result<int>> future = promise.get_future();
  ASSERT_TRUE(acceptor->StartMonitor(clock_.Now() + seconds(10), promise));
  acceptor->OpenGate(clock_.Now(), seconds(5));
  EXPECT_FALSE(acceptor->Holds("x"));
  AdmitTo(*acceptor, "a");
  Result<int> result = future.get();
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(*result, 1);
  EXPECT_TRUE(acceptor->Holds("x"));  // MonitorConnections() is over
}

TEST_F(AcceptorTest, AMonitorThatSawNobodyAnswersZeroAtItsDeadline) {
  std::unique_ptr<Acceptor> acceptor = Bind(/*gated=*/true);
  std::promise<Result<int>> promise;
  std::future<Result<int>> future = promise.get_future();
  ASSERT_TRUE(acceptor->StartMonitor(clock_.Now() + seconds(1), promise));
  acceptor->OpenGate(clock_.Now(), seconds(5));
  clock_.Advance(seconds(1));
  acceptor->ExpireWait(clock_.Now());
  Result<int> result = future.get();
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(*result, 0);
  EXPECT_TRUE(acceptor->Holds("x"));
}

TEST_F(AcceptorTest, AFailedWaitTellsItsCaller) {
  std::unique_ptr<Acceptor> acceptor = Bind(false);
  std::promise<Result<int>> promise;
  std::future<Result<int>> future = promise.get_future();
  ASSERT_TRUE(acceptor->StartWait(1, TimePoint::max(), promise));
  acceptor->FailWait(AbortedError("stopped"));
  EXPECT_TRUE(future.get().status().IsAborted());
  acceptor->FailWait(AbortedError("again"));  // no wait: nothing to tell
}

TEST_F(AcceptorTest, SendToAPeerThatIsNotThereFailsWithoutCounting) {
  std::unique_ptr<Acceptor> acceptor = Bind(false);
  PeerRecord peer;
  Frames frames;
  frames.emplace_back("x", 1);
  EXPECT_FALSE(acceptor->SendTo("nobody", std::move(frames), &peer, clock_.Now()));
  EXPECT_EQ(peer.msgs_out, 0u);
}

TEST_F(AcceptorTest, ReceivesWhatAPeerSendsWithItsRoutingId) {
  std::unique_ptr<Acceptor> acceptor = Bind(false);
  zmq::socket_t dealer(context_, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::routing_id, "peer-1");
  dealer.set(zmq::sockopt::linger, 0);
  dealer.connect(acceptor->endpoint());
  dealer.send(zmq::str_buffer("hello"), zmq::send_flags::none);
  Frames rx;
  const auto deadline = std::chrono::steady_clock::now() + seconds(5);
  bool got = false;
  while (!got && std::chrono::steady_clock::now() < deadline) {
    zmq::pollitem_t item{acceptor->socket().handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, milliseconds(50));
    got = acceptor->Receive(rx);
  }
  ASSERT_TRUE(got);
  ASSERT_EQ(rx.size(), 2u);
  EXPECT_EQ(rx[0].to_string(), "peer-1");
  EXPECT_EQ(rx[1].to_string(), "hello");
  // And back, counted on the record.
  PeerRecord peer;
  Frames reply;
  reply.emplace_back("hi", 2);
  EXPECT_TRUE(acceptor->SendTo("peer-1", std::move(reply), &peer, clock_.Now()));
  EXPECT_EQ(peer.msgs_out, 1u);
  EXPECT_EQ(peer.last_sent, clock_.Now());
}

}  // namespace
}  // namespace procmod
