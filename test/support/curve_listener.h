// curve_listener.h: an accepting CURVE socket as procmod sets one up, for the unit
// tests of the pieces a CURVE handshake goes through (ZapHandler, HandshakeWatch).
//
// A CurveListener has a context of its own, the ZAP handler of that context reading
// an allow-list folder, and a ROUTER configured by ConfigureCurveServer, bound to
// tcp://127.0.0.1:0. libzmq asks the handler about every handshake, so the test
// thread must keep serving it while it waits for anything: Serve() does both.
// CurveListenerTest is the fixture for a test with one, and one allowed key.
//
//   TempDir keys;
//   CurveKeyPair alice = AllowNewKey(keys, "alice");
//   CurveListener listener(keys.path());
//   ... a DEALER with ConfigureCurveClient(alice, listener.keys().public_key) ...
//   std::optional<std::vector<zmq::message_t>> in = listener.Serve(kDeadline);
#ifndef PROCMOD_TEST_SUPPORT_CURVE_LISTENER_H_
#define PROCMOD_TEST_SUPPORT_CURVE_LISTENER_H_

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "io/sockets.h"
#include "security/curve_keys.h"
#include "security/zap_handler.h"
#include "support/temp_dir.h"

namespace procmod::testing {

// True when this libzmq was built with CURVE (libsodium); the tests skip otherwise.
inline bool HaveCurve() { return zmq_has("curve") != 0; }

// A fresh key pair from libzmq.
inline CurveKeyPair NewCurveKeyPair() {
  char public_key[kZ85KeyLength + 1] = {};
  char secret_key[kZ85KeyLength + 1] = {};
  if (zmq_curve_keypair(public_key, secret_key) != 0) {
    throw std::runtime_error(std::string("zmq_curve_keypair: ") + zmq_strerror(zmq_errno()));
  }
  return CurveKeyPair{public_key, secret_key};
}

// Puts a new key pair's public key on the allow-list in `dir` as NAME.pub.
inline CurveKeyPair AllowNewKey(const TempDir& dir, const std::string& name) {
  CurveKeyPair pair = NewCurveKeyPair();
  dir.Write(name + ".pub", pair.public_key + "\n");
  return pair;
}

class CurveListener {
 public:
  // Throws if the handler cannot start or the socket cannot bind: GoogleTest
  // reports it as a failure of the test.
  explicit CurveListener(const std::string& keys_dir)
      : keys_(NewCurveKeyPair()), router_(context_, zmq::socket_type::router) {
    Result<std::unique_ptr<ZapHandler>> zap = ZapHandler::Start(context_, keys_dir);
    if (!zap.ok()) throw std::runtime_error(zap.status().ToString());
    zap_ = std::move(*zap);
    router_.set(zmq::sockopt::linger, 0);
    ConfigureCurveServer(router_, keys_);
    router_.bind("tcp://127.0.0.1:0");
    endpoint_ = router_.get(zmq::sockopt::last_endpoint);
  }
  const std::string& endpoint() const { return endpoint_; }
  const CurveKeyPair& keys() const { return keys_; }
  ZapHandler& zap() { return *zap_; }
  zmq::context_t& context() { return context_; }

  // Answers ZAP requests until a message reaches the ROUTER (returned: routing id
  // first) or `timeout` passes. `also` (a socket of any context, e.g. a watch's
  // monitor) ends the wait too when it becomes readable: then nothing is returned.
  std::optional<std::vector<zmq::message_t>> Serve(std::chrono::milliseconds timeout,
                                                   zmq::socket_t* also = nullptr) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      std::vector<zmq::message_t> frames;
      if (zmq::recv_multipart(router_, std::back_inserter(frames), zmq::recv_flags::dontwait)) {
        return frames;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      zmq::pollitem_t items[] = {{zap_->socket().handle(), 0, ZMQ_POLLIN, 0},
                                 {router_.handle(), 0, ZMQ_POLLIN, 0},
                                 {also ? also->handle() : nullptr, 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, also ? 3 : 2, left);
      if (items[0].revents & ZMQ_POLLIN) zap_->Service();
      if (also && (items[2].revents & ZMQ_POLLIN)) return std::nullopt;
    }
  }

 private:
  zmq::context_t context_;
  CurveKeyPair keys_;
  std::unique_ptr<ZapHandler> zap_;
  zmq::socket_t router_;  // after zap_, so it closes first: no handshake goes unanswered
  std::string endpoint_;
};

// A test with a CurveListener whose allow-list holds one key, alice's; the dialing
// side gets a context of its own. Skipped where libzmq has no CURVE.
class CurveListenerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!HaveCurve()) GTEST_SKIP() << "this libzmq has no CURVE";
    alice_ = AllowNewKey(keys_dir_, "alice");
    listener_.emplace(keys_dir_.path());
  }

  TempDir keys_dir_;
  CurveKeyPair alice_;
  std::optional<CurveListener> listener_;
  zmq::context_t client_context_;  // the dialing side's
};

}  // namespace procmod::testing

#endif  // PROCMOD_TEST_SUPPORT_CURVE_LISTENER_H_
