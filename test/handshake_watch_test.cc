// HandshakeWatch: what libzmq's monitor events say about a dial, on real loopback
// sockets: refused where nothing listens, up and through its handshake where
// something does.
#include "handshake_watch.h"

#include <gtest/gtest.h>

#include <chrono>

#include "support/daemons.h"
#include "support/raw_peer.h"
#include "support/temp_dir.h"

namespace procmod::testing {
namespace {

// A DEALER dialing `endpoint` under a watch, and what the watch reported.
class Dial {
 public:
  Dial(zmq::context_t& context, const std::string& endpoint)
      : socket_(context, zmq::socket_type::dealer),
        watch_(HandshakeWatch::Start(context, socket_, endpoint, /*curve=*/false)) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.connect(endpoint);
  }

  // Drains the watch until `done(progress so far)` or the deadline.
  template <typename Done>
  HandshakeWatch::Progress Until(Done done) {
    HandshakeWatch::Progress total;
    const auto deadline = std::chrono::steady_clock::now() + kDeadline;
    while (!done(total) && std::chrono::steady_clock::now() < deadline) {
      zmq::pollitem_t item{watch_->socket().handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, milliseconds(100));
      HandshakeWatch::Progress p = watch_->Drain();
      total.refused += p.refused;
      total.transport_up = total.transport_up || p.transport_up;
      total.succeeded = total.succeeded || p.succeeded;
    }
    return total;
  }

  bool ok() const { return watch_.ok(); }

 private:
  zmq::socket_t socket_;  // outlives its watch (handshake_watch.h)
  Result<HandshakeWatch> watch_;
};

TEST(HandshakeWatch, AClosedTcpPortIsRefused) {
  zmq::context_t context;
  Dial dial(context, FreeTcpEndpoint(context));
  ASSERT_TRUE(dial.ok());
  // libzmq redials every 100 ms or so: several refusals, never a transport.
  HandshakeWatch::Progress p = dial.Until([](const auto& p) { return p.refused >= 2; });
  EXPECT_GE(p.refused, 2);
  EXPECT_FALSE(p.transport_up);
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
