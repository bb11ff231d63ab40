// CURVE on the accepting side (docs/PROTOCOL.md §15), in raw frames against a real
// module with real CURVE sockets: a session's messages must come with the key its
// HELLO came with.
#include <gtest/gtest.h>

#include <string>
#include <utility>

#include "support/curve_test_keys.h"
#include "support/module_fixture.h"
#include "support/temp_dir.h"

namespace procmod::testing {
namespace {

class CurveAcceptor : public ModuleTest {
 protected:
  CurveAcceptor()
      : keys_(dir_.path()),
        server_(keys_.Make("server", /*authorize=*/false)),
        alice_(keys_.Make("alice", /*authorize=*/true)),
        mallory_(keys_.Make("mallory", /*authorize=*/true)) {}  // its handshake passes

  ProcessModule* StartWithCurve() {
    Options o = TestOptions(Role::kServer);
    o.multiple_connections = true;
    o.security.curve.secret_key_file = server_.secret_file;
    o.security.curve.authorized_keys_dir = keys_.AuthorizedDir();
    ProcessModule* module = StartAcceptor(o);
    if (module == nullptr) return nullptr;
    module->OnConnected([this](const Connection& peer) { connected_.Push(peer.session()); });
    module->OnDisconnected(
        [this](const Connection& peer, const Disconnect&) { disconnected_.Push(peer.session()); });
    module->OnData([this](const Connection&, std::string_view channel, Frames) {
      data_.Push(std::string(channel));
    });
    return module;
  }

  // A CURVE dealer with `key` and `routing_id` that does not redial: a takeover
  // closes the connection it had, and it stays closed.
  std::unique_ptr<RawDealer> Dial(const CurveTestKey& key, std::string routing_id) {
    return std::make_unique<RawDealer>(context_, endpoint_,
                                       RawDealerSetup{.routing_id = std::move(routing_id),
                                                      .curve = key.pair,
                                                      .server_key = server_.pair.public_key,
                                                      .reconnect = false});
  }

  TempDir dir_;
  CurveTestKeys keys_;
  CurveTestKey server_, alice_, mallory_;
  Mailbox<std::string> connected_;
  Mailbox<std::string> disconnected_;
  Mailbox<std::string> data_;
};

// The one policy of both accepting sides (the broker's: test/broker/broker_test.cc):
// with ROUTER handover the routing id now leads to whoever holds the other key, so
// the session ends; the honest peer notices by heartbeats and says HELLO again.
TEST_F(CurveAcceptor, AMessageWithAnotherKeyThanItsHellosEndsTheSession) {
  ASSERT_NE(StartWithCurve(), nullptr);
  auto honest = Dial(alice_, "taken-over");
  std::optional<pmp::Welcome> welcome = honest->Hello(MakeHello());
  ASSERT_TRUE(welcome);
  EXPECT_EQ(connected_.Pop(), welcome->session);

  auto intruder = Dial(mallory_, "taken-over");
  intruder->Send(pmp::Data{.channel = "not-alice"}, TextFrames({"x"}));
  EXPECT_EQ(disconnected_.Pop(), welcome->session);
  // No session is left behind that routing id: the intruder must HELLO for its own.
  intruder->Send(pmp::Data{.channel = "not-alice"}, TextFrames({"x"}));
  std::optional<pmp::Error> error = As<pmp::Error>(intruder->Receive());
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, 404u);
  EXPECT_FALSE(data_.Pop(milliseconds(0)));  // neither DATA reached the application
}

TEST_F(CurveAcceptor, TheSameKeyKeepsTheSession) {
  ASSERT_NE(StartWithCurve(), nullptr);
  auto peer = Dial(alice_, "alice-id");
  std::optional<pmp::Welcome> welcome = peer->Hello(MakeHello());
  ASSERT_TRUE(welcome);
  peer->Send(pmp::Data{.channel = "from-alice"}, TextFrames({"x"}));
  EXPECT_EQ(data_.Pop(), "from-alice");
  EXPECT_FALSE(disconnected_.Pop(milliseconds(0)));
}

}  // namespace
}  // namespace procmod::testing
