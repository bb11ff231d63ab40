// HandshakeWatch: what libzmq's monitor events say about a dial, on real loopback
// sockets: refused where nothing listens, up and through its handshake where
// something does, denied (and why) where a CURVE handshake fails; and a watch that
// ends leaves its socket, and the context's I/O thread, unmonitored.
#include "io/handshake_watch.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>

#include "io/sockets.h"
#include "support/curve_listener.h"
#include "support/daemons.h"
#include "support/raw_peer.h"
#include "support/temp_dir.h"

namespace procmod::testing {
namespace {

// A DEALER dialing `endpoint` under a watch, and what the watch reported.
class Dial {
 public:
  Dial(zmq::context_t& context, const std::string& endpoint)
      : Dial(context, endpoint, nullptr, "") {}
  // With CURVE: this side's `keys`, the listener's public key `server_key`.
  Dial(zmq::context_t& context, const std::string& endpoint, const CurveKeyPair& keys,
       const std::string& server_key)
      : Dial(context, endpoint, &keys, server_key) {}

  // Drains the watch until `done(progress so far)` or the deadline, serving
  // `listener`'s ZAP handler meanwhile when there is one.
  template <typename Done>
  HandshakeWatch::Progress Until(Done done, CurveListener* listener = nullptr) {
    HandshakeWatch::Progress total;
    const auto deadline = std::chrono::steady_clock::now() + kDeadline;
    while (!done(total) && std::chrono::steady_clock::now() < deadline) {
      if (listener) {
        listener->Serve(milliseconds(100), &watch_->socket());
      } else {
        zmq::pollitem_t item{watch_->socket().handle(), 0, ZMQ_POLLIN, 0};
        zmq::poll(&item, 1, milliseconds(100));
      }
      HandshakeWatch::Progress p = watch_->Drain();
      total.refused += p.refused;
      total.transport_up = total.transport_up || p.transport_up;
      total.transport_lost = total.transport_lost || p.transport_lost;
      total.succeeded = total.succeeded || p.succeeded;
      if (!total.failed) total.failed = p.failed;
    }
    return total;
  }

  bool ok() const { return watch_.ok(); }

 private:
  Dial(zmq::context_t& context, const std::string& endpoint, const CurveKeyPair* keys,
       const std::string& server_key)
      : socket_(context, zmq::socket_type::dealer),
        watch_(HandshakeWatch::Start(context, socket_, endpoint, /*curve=*/keys != nullptr,
                                     keys ? keys->public_key : "")) {
    socket_.set(zmq::sockopt::linger, 0);
    if (keys) ConfigureCurveClient(socket_, *keys, server_key);
    socket_.connect(endpoint);
  }

  zmq::socket_t socket_;  // outlives its watch (handshake_watch.h)
  Result<HandshakeWatch> watch_;
};

// The failure a dialer reports when the listener hangs up on its handshake: it wants
// CURVE, or another key.
void ExpectRequiresCurveOrAnotherKey(const std::optional<Status>& failed,
                                     const std::string& endpoint) {
  ASSERT_TRUE(failed);
  EXPECT_TRUE(failed->IsPermissionDenied());
  EXPECT_EQ(failed->message(),
            "handshake failed: the server requires CURVE or the key is wrong (" + endpoint + ")");
}

bool Succeeded(const HandshakeWatch::Progress& p) { return p.succeeded; }
bool Failed(const HandshakeWatch::Progress& p) { return p.failed.has_value(); }

// A loopback TCP listener that is not ZeroMQ: it accepts and hangs up, and each
// accepted connection shows that the dialing socket dialed again.
class TcpAcceptor {
 public:
  TcpAcceptor() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    const bool listening = fd_ >= 0 &&
                           bind(fd_, reinterpret_cast<sockaddr*>(&address), length) == 0 &&
                           listen(fd_, 8) == 0 &&
                           getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) == 0;
    EXPECT_TRUE(listening);
    endpoint_ = "tcp://127.0.0.1:" + std::to_string(ntohs(address.sin_port));
  }
  ~TcpAcceptor() {
    if (fd_ >= 0) close(fd_);
  }

  const std::string& endpoint() const { return endpoint_; }

  // The next connection, or -1 if none comes within `timeout`.
  int Accept(milliseconds timeout) {
    pollfd item{fd_, POLLIN, 0};
    if (poll(&item, 1, static_cast<int>(timeout.count())) != 1) return -1;
    return accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
  }

 private:
  int fd_ = -1;
  std::string endpoint_;
};

TEST(HandshakeWatch, AClosedTcpPortIsRefused) {
  zmq::context_t context;
  Dial dial(context, FreeTcpEndpoint(context));
  ASSERT_TRUE(dial.ok());
  // libzmq redials every 100 ms or so: several refusals, never a transport.
  HandshakeWatch::Progress p = dial.Until([](const auto& p) { return p.refused >= 2; });
  EXPECT_GE(p.refused, 2);
  EXPECT_FALSE(p.transport_up);
  EXPECT_FALSE(p.failed);  // libzmq redials by itself: not a handshake failure
}

TEST(HandshakeWatch, AnIpcPathNobodyListensOnIsRefused) {
  zmq::context_t context;
  TempDir dir;
  Dial dial(context, "ipc://" + dir.path() + "/nobody.sock");
  ASSERT_TRUE(dial.ok());
  HandshakeWatch::Progress p = dial.Until([](const auto& p) { return p.refused >= 1; });
  EXPECT_GE(p.refused, 1);
  EXPECT_FALSE(p.transport_up);
}

TEST(HandshakeWatch, AListenerIsReachedAndNeverRefused) {
  zmq::context_t context;
  RawRouter listener(context);
  Dial dial(context, listener.endpoint());
  ASSERT_TRUE(dial.ok());
  HandshakeWatch::Progress p = dial.Until([](const auto& p) { return p.succeeded; });
  EXPECT_TRUE(p.transport_up);
  EXPECT_TRUE(p.succeeded);
  EXPECT_EQ(p.refused, 0);
  EXPECT_FALSE(p.transport_lost);
  EXPECT_FALSE(p.failed);
}

TEST(HandshakeWatch, ARefusedDialGoesThroughOnceSomethingListens) {
  zmq::context_t context;
  const std::string endpoint = FreeTcpEndpoint(context);
  Dial dial(context, endpoint);
  ASSERT_TRUE(dial.ok());
  ASSERT_GE(dial.Until([](const auto& p) { return p.refused >= 1; }).refused, 1);

  RawRouter listener(context, endpoint);  // libzmq's next redial reaches it
  HandshakeWatch::Progress p = dial.Until(Succeeded);
  EXPECT_TRUE(p.transport_up);
  EXPECT_TRUE(p.succeeded);
  EXPECT_FALSE(p.failed);
}

using HandshakeWatchCurve = CurveListenerTest;

TEST_F(HandshakeWatchCurve, AnAdmittedKeyCompletesTheHandshake) {
  Dial dial(client_context_, listener_->endpoint(), alice_, listener_->keys().public_key);
  ASSERT_TRUE(dial.ok());
  HandshakeWatch::Progress p = dial.Until(Succeeded, &*listener_);
  EXPECT_TRUE(p.transport_up);
  EXPECT_TRUE(p.succeeded);
  EXPECT_FALSE(p.failed);
}

TEST_F(HandshakeWatchCurve, AKeyTheServerDoesNotAdmitIsDeniedNamingTheKey) {
  const CurveKeyPair mallory = NewCurveKeyPair();
  Dial dial(client_context_, listener_->endpoint(), mallory, listener_->keys().public_key);
  ASSERT_TRUE(dial.ok());
  HandshakeWatch::Progress p = dial.Until(Failed, &*listener_);
  EXPECT_FALSE(p.succeeded);
  ASSERT_TRUE(p.failed);
  EXPECT_TRUE(p.failed->IsPermissionDenied());
  EXPECT_EQ(p.failed->message(), "handshake failed: " + listener_->endpoint() +
                                     " does not admit this key (" + mallory.public_key +
                                     ", ZAP status 400): add its .pub file to the server's "
                                     "authorized_keys_dir");
}

// The listener cannot read a HELLO sealed for another key, and hangs up without a
// word: twice in a row is a failure.
TEST_F(HandshakeWatchCurve, AWrongServerKeyFailsOnceTheServerHangsUpTwice) {
  Dial dial(client_context_, listener_->endpoint(), alice_, NewCurveKeyPair().public_key);
  ASSERT_TRUE(dial.ok());
  HandshakeWatch::Progress p = dial.Until(Failed, &*listener_);
  EXPECT_FALSE(p.succeeded);
  EXPECT_TRUE(p.transport_lost);
  ExpectRequiresCurveOrAnotherKey(p.failed, listener_->endpoint());
}

TEST_F(HandshakeWatchCurve, APlainDialToACurveListenerIsToldItRequiresCurve) {
  Dial dial(client_context_, listener_->endpoint());
  ASSERT_TRUE(dial.ok());
  HandshakeWatch::Progress p = dial.Until(Failed, &*listener_);
  EXPECT_FALSE(p.succeeded);
  ExpectRequiresCurveOrAnotherKey(p.failed, listener_->endpoint());
}

TEST(HandshakeWatch, ACurveDialToAPlainListenerIsToldItDoesNotUseCurve) {
  if (!HaveCurve()) GTEST_SKIP() << "this libzmq has no CURVE";
  zmq::context_t context;
  RawRouter listener(context);
  Dial dial(context, listener.endpoint(), NewCurveKeyPair(), NewCurveKeyPair().public_key);
  ASSERT_TRUE(dial.ok());
  HandshakeWatch::Progress p = dial.Until(Failed);
  EXPECT_FALSE(p.succeeded);
  ASSERT_TRUE(p.failed);
  EXPECT_TRUE(p.failed->IsPermissionDenied());
  EXPECT_EQ(p.failed->message(), "handshake failed: " + listener.endpoint() +
                                     " does not use CURVE, but security.curve is set here");
}

TEST(HandshakeWatch, TimedOutBlamesCurveOrTheKey) {
  zmq::context_t context;
  zmq::socket_t socket(context, zmq::socket_type::dealer);
  Result<HandshakeWatch> watch =
      HandshakeWatch::Start(context, socket, "tcp://127.0.0.1:4567", /*curve=*/false);
  ASSERT_TRUE(watch.ok()) << watch.status().ToString();
  ExpectRequiresCurveOrAnotherKey(watch->TimedOut(), "tcp://127.0.0.1:4567");
}

TEST(HandshakeWatch, AMovedWatchKeepsWatching) {
  zmq::context_t context;
  const std::string endpoint = FreeTcpEndpoint(context);
  zmq::socket_t socket(context, zmq::socket_type::dealer);
  socket.set(zmq::sockopt::linger, 0);
  std::optional<HandshakeWatch> moved;
  {
    Result<HandshakeWatch> watch = HandshakeWatch::Start(context, socket, endpoint, false);
    ASSERT_TRUE(watch.ok()) << watch.status().ToString();
    moved.emplace(std::move(*watch));
  }  // the moved-from watch ends here, and must not stop the monitoring
  socket.connect(endpoint);
  int refused = 0;
  const auto deadline = std::chrono::steady_clock::now() + kDeadline;
  while (refused == 0 && std::chrono::steady_clock::now() < deadline) {
    zmq::pollitem_t item{moved->socket().handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, milliseconds(100));
    refused += moved->Drain().refused;
  }
  EXPECT_GE(refused, 1);
}

// A listener that is closing hangs up mid-handshake too, so once is bad luck; a
// CURVE listener that cannot read our HELLO does it at every redial.
TEST(HandshakeWatch, AHangUpMidHandshakeIsBadLuckOnceAndARefusalTwice) {
  TcpAcceptor acceptor;
  zmq::context_t context;
  Dial dial(context, acceptor.endpoint());
  ASSERT_TRUE(dial.ok());

  int connection = acceptor.Accept(kDeadline);
  ASSERT_GE(connection, 0);
  close(connection);
  HandshakeWatch::Progress once = dial.Until([](const auto& p) { return p.transport_lost; });
  EXPECT_TRUE(once.transport_lost);
  EXPECT_FALSE(once.failed);

  connection = acceptor.Accept(kDeadline);  // libzmq redials by itself
  ASSERT_GE(connection, 0);
  close(connection);
  HandshakeWatch::Progress twice = dial.Until(Failed);
  ExpectRequiresCurveOrAnotherKey(twice.failed, acceptor.endpoint());
}

// libzmq sends monitor events from the context's I/O thread with a blocking send: a
// socket still monitored after its watch closed would block that thread at its next
// event, and with it every socket of the context. Here the next events are the
// hang-ups of a socket that keeps redialing.
TEST(HandshakeWatch, EndingTheWatchStopsMonitoringSoItsSocketKeepsRedialing) {
  TcpAcceptor acceptor;
  // Heap-held: should the I/O thread block, ending the context would hang; the test
  // then leaves it behind and fails instead.
  auto context = std::make_unique<zmq::context_t>();
  auto socket = std::make_unique<zmq::socket_t>(*context, zmq::socket_type::dealer);
  socket->set(zmq::sockopt::linger, 0);
  std::optional<HandshakeWatch> watch;
  {
    Result<HandshakeWatch> started =
        HandshakeWatch::Start(*context, *socket, acceptor.endpoint(), false);
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    watch.emplace(std::move(*started));
  }
  socket->connect(acceptor.endpoint());
  int connection = acceptor.Accept(kDeadline);
  ASSERT_GE(connection, 0);
  bool up = false;
  const auto deadline = std::chrono::steady_clock::now() + kDeadline;
  while (!up && std::chrono::steady_clock::now() < deadline) {
    zmq::pollitem_t item{watch->socket().handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, milliseconds(100));
    up = watch->Drain().transport_up;
  }
  ASSERT_TRUE(up);

  watch.reset();
  bool redialed = true;
  for (int i = 0; i < 2 && redialed; ++i) {
    close(connection);  // the socket's hang-up event, then its redial
    connection = acceptor.Accept(kDeadline);
    redialed = connection >= 0;
  }
  EXPECT_TRUE(redialed) << "the socket stopped redialing once its watch ended";
  if (connection >= 0) close(connection);
  if (!redialed) {
    (void)socket.release();
    (void)context.release();
  }
}

TEST(RefusedError, SaysNothingListensThereAndMoreForAHostElsewhere) {
  Status local = RefusedError("tcp://127.0.0.1:4567");
  EXPECT_TRUE(local.IsUnavailable());
  EXPECT_EQ(local.message(),
            "tcp://127.0.0.1:4567: connection refused (nothing is listening there)");
  EXPECT_EQ(RefusedError("ipc:///tmp/x.sock").message(),
            "ipc:///tmp/x.sock: connection refused (nothing is listening there)");
  // libzmq does not say why a remote connect failed: it may be the host.
  EXPECT_EQ(RefusedError("tcp://viz.example.org:11111").message(),
            "tcp://viz.example.org:11111: connection refused (nothing is listening there, or "
            "the host cannot be reached)");
}

}  // namespace
}  // namespace procmod::testing
