// TcpConnection: the connection a message came in on, as the kernel sees it. Real
// libzmq sockets on loopback: a ROUTER that binds and a DEALER that dials.
#include "io/transport_activity.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <utility>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "support/temp_dir.h"

namespace procmod {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// A DEALER dialing a ROUTER at `bind` ("tcp://127.0.0.1:0" or an ipc:// path).
struct Pair {
  zmq::context_t context;
  zmq::socket_t router{context, zmq::socket_type::router};
  zmq::socket_t dealer{context, zmq::socket_type::dealer};

  explicit Pair(const std::string& bind) {
    router.set(zmq::sockopt::linger, 0);
    dealer.set(zmq::sockopt::linger, 0);
    router.set(zmq::sockopt::rcvtimeo, 5000);
    router.bind(bind);
    dealer.connect(router.get(zmq::sockopt::last_endpoint));
  }

  // The frame after the routing id of the next message from the dealer.
  zmq::message_t Receive() {
    dealer.send(zmq::str_buffer("hello"), zmq::send_flags::none);
    zmq::message_t id, body;
    EXPECT_TRUE(router.recv(id));
    EXPECT_TRUE(router.recv(body));
    return body;
  }
};

TEST(TcpConnection, AMessageOverTcpNamesItsConnectionWhichJustReceivedData) {
  Pair pair("tcp://127.0.0.1:0");
  const TcpConnection connection = TcpConnection::Of(pair.Receive());
  ASSERT_TRUE(connection.known());
  const std::optional<milliseconds> ago = connection.SinceDataArrived();
  ASSERT_TRUE(ago.has_value());
  EXPECT_LT(ago->count(), 1000);
}

TEST(TcpConnection, ItsClockRunsWhileNothingArrives) {
  Pair pair("tcp://127.0.0.1:0");
  const TcpConnection connection = TcpConnection::Of(pair.Receive());
  ASSERT_TRUE(connection.known());
  // Waiting is the point here: the kernel's clock of the last data must move.
  std::this_thread::sleep_for(milliseconds(300));
  const std::optional<milliseconds> ago = connection.SinceDataArrived();
  ASSERT_TRUE(ago.has_value());
  EXPECT_GE(ago->count(), 250);
  // And a message sets it back.
  (void)pair.Receive();
  EXPECT_LT(connection.SinceDataArrived()->count(), 250);
}

TEST(TcpConnection, IpcAndInprocHaveNone) {
  testing::TempDir dir;
  Pair ipc("ipc://" + dir.path() + "/s");
  EXPECT_FALSE(TcpConnection::Of(ipc.Receive()).known());
  Pair inproc("inproc://transport-activity-test");
  EXPECT_FALSE(TcpConnection::Of(inproc.Receive()).known());
  EXPECT_FALSE(TcpConnection().SinceDataArrived().has_value());
  EXPECT_FALSE(TcpConnection().Shutdown());
}

TEST(TcpConnection, AUnixSocketDescriptorIsNotTcp) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  EXPECT_FALSE(TcpConnection::OfDescriptor(fds[0]).known());
  close(fds[0]);
  close(fds[1]);
}

TEST(TcpConnection, OnceLibzmqClosedItTheConnectionIsNoLongerTrusted) {
  Pair pair("tcp://127.0.0.1:0");
  const TcpConnection connection = TcpConnection::Of(pair.Receive());
  ASSERT_TRUE(connection.known());
  pair.dealer.close();  // the ROUTER's side of it is closed by libzmq soon after
  const auto deadline = std::chrono::steady_clock::now() + seconds(5);
  while (connection.SinceDataArrived() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(10));  // polling with a deadline
  }
  EXPECT_FALSE(connection.SinceDataArrived().has_value());
  EXPECT_FALSE(connection.Shutdown());
}

// A loopback TCP connection of plain sockets: {accepted, dialed}.
std::pair<int, int> PlainTcpPair() {
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof address;
  EXPECT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&address), size), 0);
  EXPECT_EQ(listen(listener, 1), 0);
  EXPECT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&address), &size), 0);
  const int dialed = socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_EQ(connect(dialed, reinterpret_cast<sockaddr*>(&address), size), 0);
  const int accepted = accept(listener, nullptr, nullptr);
  close(listener);
  return {accepted, dialed};
}

TEST(TcpConnection, ADescriptorNumberTakenByAnotherSocketIsNotTrusted) {
  auto [first, first_peer] = PlainTcpPair();
  const TcpConnection noted = TcpConnection::OfDescriptor(first);
  ASSERT_TRUE(noted.known());
  ASSERT_TRUE(noted.SinceDataArrived().has_value());
  // The connection goes and its number is taken by another one, as libzmq's
  // descriptors are when sessions churn.
  auto [second, second_peer] = PlainTcpPair();
  ASSERT_EQ(dup2(second, first), first);
  EXPECT_FALSE(noted.SinceDataArrived().has_value());
  EXPECT_FALSE(noted.Shutdown()) << "it shut down a connection it did not note";
  // The newcomer is untouched: it still carries bytes.
  ASSERT_EQ(write(second_peer, "x", 1), 1);
  char byte = 0;
  EXPECT_EQ(read(first, &byte, 1), 1);
  for (int fd : {first, first_peer, second, second_peer}) close(fd);
}

TEST(TcpConnection, ShutdownEndsTheConnectionForBothEnds) {
  Pair pair("tcp://127.0.0.1:0");
  zmq::socket_t monitor(pair.context, zmq::socket_type::pair);
  ASSERT_EQ(
      zmq_socket_monitor(pair.dealer.handle(), "inproc://dealer-events", ZMQ_EVENT_DISCONNECTED),
      0);
  monitor.connect("inproc://dealer-events");
  monitor.set(zmq::sockopt::rcvtimeo, 5000);
  const TcpConnection connection = TcpConnection::Of(pair.Receive());
  ASSERT_TRUE(connection.Shutdown());
  // The dialing end sees its connection go (and libzmq would redial).
  std::vector<zmq::message_t> event;
  ASSERT_TRUE(zmq::recv_multipart(monitor, std::back_inserter(event)).has_value())
      << "no DISCONNECTED on the dialing side within 5 s";
  uint16_t id = 0;
  std::memcpy(&id, event[0].data(), sizeof id);
  EXPECT_EQ(id, ZMQ_EVENT_DISCONNECTED);
  zmq_socket_monitor(pair.dealer.handle(), nullptr, 0);
}

}  // namespace
}  // namespace procmod
