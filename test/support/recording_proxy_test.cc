// RecordingProxy as a failing network: what it passes, what a cut does, and how a
// dialer gets through again once the link is up. Raw cppzmq on loopback.
#include "support/recording_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <stdexcept>
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

// ---- source address -------------------------------------------------------

// A plain TCP socket listening on 127.0.0.1, any free port, standing in for the
// server, so the test sees the upstream leg's addresses as the server would.
class Listener {
 public:
  Listener() {
    sockaddr_in address = LoopbackAddress(0);
    socklen_t length = sizeof address;
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        listen(fd_, 16) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      throw std::runtime_error("cannot listen on 127.0.0.1");
    }
    port_ = ntohs(address.sin_port);
  }
  ~Listener() { close(fd_); }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  int port() const { return port_; }

  // The peer address of the next connection accepted within 5 s; "" when none came.
  std::string AcceptPeerAddress() {
    pollfd item{fd_, POLLIN, 0};
    if (poll(&item, 1, 5000) != 1) return "";
    sockaddr_in peer{};
    socklen_t length = sizeof peer;
    const int fd = accept4(fd_, reinterpret_cast<sockaddr*>(&peer), &length, SOCK_CLOEXEC);
    if (fd < 0) return "";
    sockaddr_in named{};
    length = sizeof named;
    const bool ok = getpeername(fd, reinterpret_cast<sockaddr*>(&named), &length) == 0;
    close(fd);
    char text[INET_ADDRSTRLEN] = {};
    if (!ok || inet_ntop(AF_INET, &named.sin_addr, text, sizeof text) == nullptr) return "";
    return text;
  }

  static sockaddr_in LoopbackAddress(int port) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<uint16_t>(port));
    return address;
  }

 private:
  int fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int port_ = 0;
};

// A client connection to the proxy; closed when it goes out of scope.
class Dial {
 public:
  explicit Dial(const RecordingProxy& proxy) {
    const std::string endpoint = proxy.endpoint();
    sockaddr_in address =
        Listener::LoopbackAddress(std::stoi(endpoint.substr(endpoint.rfind(':') + 1)));
    connected_ =
        fd_ >= 0 && connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  }
  ~Dial() { close(fd_); }
  Dial(const Dial&) = delete;
  Dial& operator=(const Dial&) = delete;

  bool connected() const { return connected_; }

 private:
  int fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  bool connected_ = false;
};

TEST(RecordingProxySource, ConnectionsAfterSetSourceAddressComeFromIt) {
  Listener server;
  RecordingProxy proxy(server.port());
  Dial before(proxy);
  ASSERT_TRUE(before.connected());
  EXPECT_EQ(server.AcceptPeerAddress(), "127.0.0.1");  // unchanged until asked
  proxy.SetSourceAddress("127.0.0.2");
  Dial after(proxy);
  ASSERT_TRUE(after.connected());
  EXPECT_EQ(server.AcceptPeerAddress(), "127.0.0.2");
  proxy.SetSourceAddress("127.0.0.1");  // and back
  Dial back(proxy);
  ASSERT_TRUE(back.connected());
  EXPECT_EQ(server.AcceptPeerAddress(), "127.0.0.1");
}

TEST(RecordingProxySource, OnlyLoopbackAddresses) {
  Listener server;
  RecordingProxy proxy(server.port());
  for (const char* ip :
       {"10.0.0.1", "192.168.1.2", "0.0.0.0", "::1", "localhost", "127.0.0", "", "128.0.0.1"}) {
    EXPECT_THROW(proxy.SetSourceAddress(ip), std::invalid_argument) << ip;
  }
  EXPECT_NO_THROW(proxy.SetSourceAddress("127.255.255.254"));
}

}  // namespace
}  // namespace procmod::testing
