// PolledSocket: the contract of libzmq's ZMQ_FD that the I/O loops rely on when they
// wait with poll(2) instead of zmq_poll. A drained socket's descriptor announces the
// next message; a socket that just received one may hold more that nothing
// announces, and MayHoldUnsignalledInput() finds them. Real sockets on tcp loopback.
#include "io/polled_socket.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <string>
#include <zmq.hpp>

namespace procmod {
namespace {

using namespace std::chrono_literals;

class PolledSocketPair : public ::testing::Test {
 protected:
  void SetUp() override {
    router_.set(zmq::sockopt::linger, 0);
    dealer_.set(zmq::sockopt::linger, 0);
    router_.bind("tcp://127.0.0.1:0");
    dealer_.connect(router_.get(zmq::sockopt::last_endpoint));
    // The ROUTER learns the DEALER's routing id from a first message.
    dealer_.send(zmq::str_buffer("hi"), zmq::send_flags::none);
    zmq::message_t id, body;
    ASSERT_TRUE(router_.recv(id));
    ASSERT_TRUE(router_.recv(body));
    routing_id_ = id.to_string();
  }

  void SendToDealer(const std::string& text) {
    router_.send(zmq::buffer(routing_id_), zmq::send_flags::sndmore);
    router_.send(zmq::buffer(text), zmq::send_flags::none);
  }

  // Receives until EAGAIN, as the loops do; returns how many messages came.
  int DrainDealer(PolledSocket& polled) {
    int count = 0;
    zmq::message_t message;
    while (dealer_.recv(message, zmq::recv_flags::dontwait)) ++count;
    polled.SetDrained(true);
    return count;
  }

  static bool Readable(int fd, std::chrono::milliseconds wait) {
    pollfd item{fd, POLLIN, 0};
    return poll(&item, 1, static_cast<int>(wait.count())) == 1;
  }

  zmq::context_t context_{1};
  zmq::socket_t router_{context_, zmq::socket_type::router};
  zmq::socket_t dealer_{context_, zmq::socket_type::dealer};
  std::string routing_id_;
};

TEST_F(PolledSocketPair, ADrainedSocketsDescriptorAnnouncesTheNextMessage) {
  PolledSocket polled(dealer_);
  EXPECT_EQ(DrainDealer(polled), 0);
  EXPECT_FALSE(polled.MayHoldUnsignalledInput()) << "drained: no query needed";
  SendToDealer("one");
  EXPECT_TRUE(Readable(polled.fd(), 5000ms)) << "the message must wake a poll(2) on ZMQ_FD";
  EXPECT_EQ(DrainDealer(polled), 1);
}

TEST_F(PolledSocketPair, AfterAReceiveQueuedInputIsFoundThoughNotAnnounced) {
  PolledSocket polled(dealer_);
  DrainDealer(polled);
  SendToDealer("one");
  SendToDealer("two");
  ASSERT_TRUE(Readable(polled.fd(), 5000ms));
  // Wait until both are in the socket, then take one, as a thread leading for its
  // reply does, and leave the other.
  zmq::message_t message;
  for (int i = 0; i < 500 && !(dealer_.get(zmq::sockopt::events) & ZMQ_POLLIN); ++i) {
    Readable(polled.fd(), 10ms);
  }
  ASSERT_TRUE(dealer_.recv(message, zmq::recv_flags::dontwait));
  polled.SetDrained(false);
  bool second_arrived = false;
  for (int i = 0; i < 500 && !second_arrived; ++i) {
    second_arrived = polled.MayHoldUnsignalledInput();
    // Not there yet (a loaded machine): the query left the socket drained, so the
    // second message's arrival is announced; like the loops, take that as "ask again".
    if (!second_arrived && Readable(polled.fd(), 10ms)) polled.SetDrained(false);
  }
  EXPECT_TRUE(second_arrived) << "the second message must be found before sleeping";
  EXPECT_EQ(DrainDealer(polled), 1);
}

TEST_F(PolledSocketPair, AQueryThatFindsNothingLeavesTheSocketDrained) {
  PolledSocket polled(dealer_);
  DrainDealer(polled);
  dealer_.send(zmq::str_buffer("out"), zmq::send_flags::none);  // a send: not drained
  polled.SetDrained(false);
  EXPECT_FALSE(polled.MayHoldUnsignalledInput());
  EXPECT_TRUE(polled.drained()) << "the query ran the socket's commands: the fd is armed";
  SendToDealer("back");
  EXPECT_TRUE(Readable(polled.fd(), 5000ms));
}

TEST(PolledSocket, DefaultConstructedHasNoDescriptorAndNothingPending) {
  PolledSocket polled;
  EXPECT_EQ(polled.fd(), -1);
  EXPECT_FALSE(polled.MayHoldUnsignalledInput());
}

}  // namespace
}  // namespace procmod
