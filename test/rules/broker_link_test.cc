// A server behind a broker keeps its registration (docs/BROKER.md, "When the broker
// goes"): whatever ends the broker's session, it registers again on a new socket
// after a backoff, and it ends only when that fails. A RawRouter plays the broker.
#include <gtest/gtest.h>

#include "support/module_fixture.h"

namespace procmod::testing {
namespace {

using std::chrono::steady_clock;

// The first backoff is 1 s +-25%; this leaves room for a loaded machine.
constexpr milliseconds kFirstBackoffBound{2000};

class BrokerLink : public ModuleTest {
 protected:
  // A server registered as "viz" with broker_; the broker's WELCOME announces
  // `heartbeat_ms` x 3. Returns the registration's routing id ("" on failure).
  std::string Register(bool multi, uint64_t heartbeat_ms = 1000,
                       milliseconds connect_timeout = milliseconds(5000)) {
    Options o = TestOptions(Role::kServer, Mode::kBroker);
    o.broker_url = broker_.endpoint();
    o.service = "viz";
    o.multiple_connections = multi;
    o.timeouts.connect = connect_timeout;
    o.timeouts.reregister = connect_timeout;
    server_ = Init(o);
    if (server_ == nullptr) return "";
    auto start = Async([this] { return server_->Start(); });
    std::optional<RawRouter::Incoming> hello =
        broker_.AcceptHello("broker", "broker", heartbeat_ms);
    EXPECT_TRUE(hello.has_value());
    EXPECT_EQ(start.wait_for(kDeadline), std::future_status::ready);
    EXPECT_TRUE(start.get().ok());
    run_ = Async([this] { return server_->Run(); });
    return hello ? hello->routing_id : "";
  }

  // The next HELLO, which must register "viz" again from a new socket, within the
  // first backoff. Returns its routing id ("" if none came).
  std::string ExpectNewRegistration(const std::string& old_routing_id) {
    const auto lost_at = steady_clock::now();
    std::optional<RawRouter::Incoming> hello = broker_.Receive();
    if (!hello || !std::holds_alternative<pmp::Hello>(hello->message.header)) {
      ADD_FAILURE() << "no new HELLO from the server";
      return "";
    }
    EXPECT_LT(steady_clock::now() - lost_at, kFirstBackoffBound);
    EXPECT_EQ(std::get<pmp::Hello>(hello->message.header).service, "viz");
    EXPECT_NE(hello->routing_id, old_routing_id);  // a new socket
    return hello->routing_id;
  }

  void Welcome(const std::string& routing_id, std::string session) {
    pmp::Welcome welcome{.session = std::move(session),
                         .role = "broker",
                         .version = std::string(pmp::kProtocolVersion),
                         .heartbeat_ms = 1000,
                         .liveness = 3};
    broker_.SendTo(routing_id, welcome);
  }

  // True once Connections() shows the broker's session `session`.
  bool RegisteredAs(const std::string& session) {
    return Eventually([&] {
      for (const PeerInfo& peer : server_->Connections()) {
        if (peer.session == session) return true;
      }
      return false;
    });
  }

  bool RunGoesOn() { return run_.wait_for(milliseconds(0)) == std::future_status::timeout; }

  // Run() returns before the module goes: its thread must not still be waiting on a
  // module Finalize() destroys (TSan sees that as a race on the condition variable).
  void TearDown() override {
    if (run_.valid()) {
      server_->Stop();
      run_.wait();
    }
    ModuleTest::TearDown();
  }

  RawRouter broker_{context_};
  ProcessModule* server_ = nullptr;
  std::future<RunEnd> run_;
};

TEST_F(BrokerLink, RegistersAgainAfterTheBrokersBye) {
  const std::string first = Register(/*multi=*/true);
  broker_.SendTo(first, pmp::Bye{"broker shutting down"});
  const std::string second = ExpectNewRegistration(first);
  ASSERT_FALSE(second.empty());
  Welcome(second, "again");
  EXPECT_TRUE(RegisteredAs("again"));
  EXPECT_TRUE(RunGoesOn());
}

TEST_F(BrokerLink, RegistersAgainWhenTheBrokerForgotItsSession) {
  // What a restarted broker answers a PING from before its restart.
  const std::string first = Register(/*multi=*/true);
  broker_.SendTo(first, pmp::Error{404, "unknown session; send HELLO"});
  const std::string second = ExpectNewRegistration(first);
  ASSERT_FALSE(second.empty());
  Welcome(second, "again");
  EXPECT_TRUE(RegisteredAs("again"));
}

TEST_F(BrokerLink, RegistersAgainWhenTheBrokerFallsSilent) {
  // 100 ms x 3 and never a word from the broker: expired, then a new HELLO.
  const std::string first = Register(/*multi=*/true, /*heartbeat_ms=*/100);
  EXPECT_FALSE(ExpectNewRegistration(first).empty());
  EXPECT_TRUE(RunGoesOn());
}

TEST_F(BrokerLink, SingleServerWithoutItsClientRegistersAgain) {
  const std::string first = Register(/*multi=*/false);
  broker_.SendTo(first, pmp::Bye{"broker shutting down"});
  const std::string second = ExpectNewRegistration(first);
  ASSERT_FALSE(second.empty());
  Welcome(second, "again");
  EXPECT_TRUE(RegisteredAs("again"));
  EXPECT_TRUE(RunGoesOn());
}

TEST_F(BrokerLink, SingleServerWithItsClientEndsPeerLostWhenTheBrokerGoes) {
  // Its one client's session went with the relay: as a client lost in forward mode.
  const std::string first = Register(/*multi=*/false);
  broker_.SendTo(first, pmp::Joined{"c1", "alice", "client"});
  ASSERT_TRUE(Eventually([this] { return server_->Connections().size() == 2; }));
  broker_.SendTo(first, pmp::Bye{"broker shutting down"});
  ASSERT_EQ(run_.wait_for(kDeadline), std::future_status::ready);
  EXPECT_EQ(run_.get(), RunEnd::kPeerLost);
}

TEST_F(BrokerLink, RegisteringAgainRetriesDeny409) {
  // The broker still holds the old registration until it expires it.
  const std::string first = Register(/*multi=*/true);
  broker_.SendTo(first, pmp::Bye{"broker shutting down"});
  const std::string second = ExpectNewRegistration(first);
  ASSERT_FALSE(second.empty());
  broker_.SendTo(second, pmp::Deny{409, "service viz already has a server"});
  std::optional<RawRouter::Incoming> third = broker_.Receive();  // after 2 s +-25%
  ASSERT_TRUE(third.has_value());
  ASSERT_TRUE(std::holds_alternative<pmp::Hello>(third->message.header));
  Welcome(third->routing_id, "third");
  EXPECT_TRUE(RegisteredAs("third"));
  EXPECT_TRUE(RunGoesOn());
}

TEST_F(BrokerLink, RegisteringAgainDenied403EndsTheRunDenied) {
  const std::string first = Register(/*multi=*/true);
  broker_.SendTo(first, pmp::Bye{"broker shutting down"});
  const std::string second = ExpectNewRegistration(first);
  ASSERT_FALSE(second.empty());
  broker_.SendTo(second, pmp::Deny{403, "connect-id 0 does not match"});
  ASSERT_EQ(run_.wait_for(kDeadline), std::future_status::ready);
  EXPECT_EQ(run_.get(), RunEnd::kDenied);
}

TEST_F(BrokerLink, ABrokerThatStaysAwayEndsTheRunUnreachableAfterTimeoutsReregister) {
  const std::string first =
      Register(/*multi=*/true, /*heartbeat_ms=*/1000, /*connect_timeout=*/milliseconds(1000));
  broker_.SendTo(first, pmp::Bye{"broker shutting down"});
  ASSERT_TRUE(Eventually([this] { return server_->Connections().empty(); }));
  broker_.Close();  // and it does not come back
  const auto lost_at = steady_clock::now();
  ASSERT_EQ(run_.wait_for(kDeadline), std::future_status::ready);
  EXPECT_EQ(run_.get(), RunEnd::kUnreachable);
  EXPECT_GE(steady_clock::now() - lost_at, milliseconds(900));
}

}  // namespace
}  // namespace procmod::testing
