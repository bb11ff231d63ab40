// RecordingProxy as a failing network: what it passes, what a cut does, and how a
// dialer gets through again once the link is up. Raw cppzmq on loopback.
#include "support/recording_proxy.h"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>

#include <zmq.hpp>

namespace procmod::testing {
namespace {

using std::chrono::milliseconds;

// A ROUTER on loopback and a DEALER that dials it through a proxy.
class ThroughProxy : public ::testing::Test {
 protected:
  void SetUp() override {
    router_.set(zmq::sockopt::linger, 0);
    router_.bind("tcp://127.0.0.1:0");
    const std::string bound = router_.get(zmq::sockopt::last_endpoint);
    proxy_.emplace(std::stoi(bound.substr(bound.rfind(':') + 1)));
    dealer_.set(zmq::sockopt::linger, 0);
    dealer_.set(zmq::sockopt::reconnect_ivl, 50);
    dealer_.connect(proxy_->endpoint());
  }

  // The next message the ROUTER receives within `wait`, without its routing id.
  std::optional<std::string> Receive(milliseconds wait) {
    zmq::pollitem_t item{router_.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, wait) <= 0) return std::nullopt;
    zmq::message_t id;
    zmq::message_t body;
    (void)router_.recv(id);
    (void)router_.recv(body);
    return body.to_string();
  }

  void Send(const std::string& text) {
    dealer_.send(zmq::buffer(text), zmq::send_flags::dontwait);
  }

  zmq::context_t context_;
  zmq::socket_t router_{context_, zmq::socket_type::router};
  std::optional<RecordingProxy> proxy_;
  zmq::socket_t dealer_{context_, zmq::socket_type::dealer};
};

TEST_F(ThroughProxy, PassesAndRecordsTraffic) {
  Send("hello");
  EXPECT_EQ(Receive(milliseconds(5000)), "hello");
  EXPECT_NE(proxy_->Recorded().find("hello"), std::string::npos);
  EXPECT_EQ(proxy_->connections(), 1);
}

TEST_F(ThroughProxy, WhileDownNothingPassesOnceUpTheDialerIsBack) {
  Send("before");
  ASSERT_EQ(Receive(milliseconds(5000)), "before");
  proxy_->SetDown(true);
  proxy_->Cut();
  Send("during");  // queued by the DEALER: no connection takes it
  EXPECT_EQ(Receive(milliseconds(300)), std::nullopt);
  EXPECT_EQ(proxy_->connections(), 1);  // redials are dropped, not carried
  proxy_->SetDown(false);
  // libzmq redials within its reconnect interval and sends what it queued.
  EXPECT_EQ(Receive(milliseconds(5000)), "during");
  EXPECT_EQ(proxy_->connections(), 2);
}

TEST_F(ThroughProxy, ACutWhileUpIsABlipTheDialerRedialsAtOnce) {
  Send("one");
  ASSERT_EQ(Receive(milliseconds(5000)), "one");
  proxy_->Cut();
  // What is sent after the cut reaches the ROUTER over the new connection.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  std::optional<std::string> got;
  while (!got && std::chrono::steady_clock::now() < deadline) {
    Send("two");
    got = Receive(milliseconds(100));
  }
  EXPECT_EQ(got, "two");
  EXPECT_GE(proxy_->connections(), 2);
}

}  // namespace
}  // namespace procmod::testing
