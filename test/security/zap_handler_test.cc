// ZapHandler: who gets through a CURVE handshake. Real CURVE sockets on loopback:
// a listed key is admitted and becomes the peer's user id, any other key is refused
// before a message passes, a reload changes the list for new handshakes only (and a
// broken folder changes nothing), and requests that are not proper ZAP get a refusal
// or no answer, never a crash.
#include "security/zap_handler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "io/handshake_watch.h"
#include "io/sockets.h"
#include "support/curve_listener.h"
#include "support/temp_dir.h"

namespace procmod::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr milliseconds kDeadline{5000};  // generous: CI machines are slow

// A CURVE DEALER dialing the listener with `keys`, and a watch on its handshake (the
// only place a refusal shows on the dialing side).
class CurveClient {
 public:
  CurveClient(zmq::context_t& context, const CurveKeyPair& keys, const CurveListener& listener)
      : socket_(context, zmq::socket_type::dealer) {
    socket_.set(zmq::sockopt::linger, 0);
    ConfigureCurveClient(socket_, keys, listener.keys().public_key);
    Result<HandshakeWatch> watch = HandshakeWatch::Start(context, socket_, listener.endpoint(),
                                                         /*curve=*/true, keys.public_key);
    if (!watch.ok()) throw std::runtime_error(watch.status().ToString());
    watch_.emplace(std::move(*watch));
    socket_.connect(listener.endpoint());
  }

  zmq::socket_t& socket() { return socket_; }
  HandshakeWatch& watch() { return *watch_; }

 private:
  zmq::socket_t socket_;  // outlives its watch (handshake_watch.h)
  std::optional<HandshakeWatch> watch_;
};

// What became of one message a client sent.
struct Outcome {
  bool admitted = false;          // it reached the listener's ROUTER
  std::string user_id;            // ... from the peer with this user id
  std::optional<Status> refused;  // the handshake failed, and why
};

class ZapHandlerTest : public CurveListenerTest {
 protected:
  std::unique_ptr<CurveClient> Dial(const CurveKeyPair& keys) {
    return std::make_unique<CurveClient>(client_context_, keys, *listener_);
  }

  // Sends `text` from `client` and serves the listener until it arrives or the
  // client's handshake fails.
  Outcome Send(CurveClient& client, const std::string& text) {
    Outcome outcome;
    EXPECT_TRUE(client.socket().send(zmq::buffer(text), zmq::send_flags::dontwait));
    const auto deadline = steady_clock::now() + kDeadline;
    while (steady_clock::now() < deadline) {
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - steady_clock::now());
      std::optional<std::vector<zmq::message_t>> in =
          listener_->Serve(left, &client.watch().socket());
      if (in) {
        if (in->size() == 2 && (*in)[1].to_string() == text) {
          outcome.admitted = true;
          outcome.user_id = PeerKeyOf((*in)[1]);
          return outcome;
        }
        continue;  // another client's
      }
      HandshakeWatch::Progress progress = client.watch().Drain();
      if (progress.failed) {
        outcome.refused = progress.failed;
        return outcome;
      }
    }
    ADD_FAILURE() << "neither admitted nor refused by the deadline";
    return outcome;
  }
};

TEST_F(ZapHandlerTest, AListedKeyIsAdmittedAndBecomesThePeersUserId) {
  EXPECT_EQ(listener_->zap().size(), 1u);
  auto client = Dial(alice_);
  Outcome outcome = Send(*client, "hello");
  EXPECT_TRUE(outcome.admitted);
  EXPECT_EQ(outcome.user_id, alice_.public_key);
  EXPECT_FALSE(outcome.refused);
}

TEST_F(ZapHandlerTest, AnUnknownKeyIsRefusedAtTheHandshake) {
  const CurveKeyPair mallory = NewCurveKeyPair();
  auto client = Dial(mallory);
  Outcome outcome = Send(*client, "hello");
  EXPECT_FALSE(outcome.admitted);
  ASSERT_TRUE(outcome.refused);
  EXPECT_TRUE(outcome.refused->IsPermissionDenied());
  // 400 is the handler's answer, carried back to the dialer by libzmq.
  EXPECT_THAT(outcome.refused->message(),
              HasSubstr("(" + mallory.public_key + ", ZAP status 400)"));
}

TEST_F(ZapHandlerTest, ReloadAdmitsAKeyAddedToTheFolder) {
  const CurveKeyPair bob = NewCurveKeyPair();
  auto before = Dial(bob);
  ASSERT_TRUE(Send(*before, "knock").refused);

  keys_dir_.Write("bob.pub", bob.public_key + "\n");
  Result<ReloadSummary> summary = listener_->zap().Reload();
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->keys, 2u);
  EXPECT_THAT(summary->added, ElementsAre("bob"));
  EXPECT_THAT(summary->removed, IsEmpty());
  EXPECT_EQ(listener_->zap().size(), 2u);

  auto after = Dial(bob);
  Outcome outcome = Send(*after, "hello");
  EXPECT_TRUE(outcome.admitted);
  EXPECT_EQ(outcome.user_id, bob.public_key);
}

TEST_F(ZapHandlerTest, ReloadRefusesARemovedKeyToNewHandshakesOnly) {
  auto admitted = Dial(alice_);
  ASSERT_TRUE(Send(*admitted, "first").admitted);

  std::filesystem::remove(keys_dir_.path() + "/alice.pub");
  Result<ReloadSummary> summary = listener_->zap().Reload();
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->keys, 0u);
  EXPECT_THAT(summary->added, IsEmpty());
  EXPECT_THAT(summary->removed, ElementsAre("alice"));

  // ZAP is asked only at a handshake: the connection already made stays.
  EXPECT_TRUE(Send(*admitted, "second").admitted);
  auto fresh = Dial(alice_);
  Outcome outcome = Send(*fresh, "hello");
  EXPECT_FALSE(outcome.admitted);
  EXPECT_TRUE(outcome.refused);
}

TEST_F(ZapHandlerTest, AFailedReloadKeepsTheOldList) {
  const std::string broken = keys_dir_.Write("typo.pub", "not a key\n");
  Result<ReloadSummary> summary = listener_->zap().Reload();
  ASSERT_FALSE(summary.ok());
  EXPECT_TRUE(summary.status().IsInvalidArgument());
  EXPECT_THAT(summary.status().message(), HasSubstr(broken));
  EXPECT_EQ(listener_->zap().size(), 1u);

  auto client = Dial(alice_);
  EXPECT_TRUE(Send(*client, "hello").admitted);  // a typo locks nobody out
}

// ZAP requests written by hand to the handler's endpoint, as libzmq would send them
// (RFC 27), and not.
class RawZapRequester {
 public:
  explicit RawZapRequester(CurveListener& listener)
      : listener_(listener), socket_(listener.context(), zmq::socket_type::dealer) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.connect("inproc://zeromq.zap.01");
  }

  // Sends the frames after the empty delimiter a REQ-style peer puts first.
  void Send(const std::vector<std::string>& frames) {
    std::vector<zmq::message_t> request;
    request.emplace_back();
    for (const std::string& frame : frames) request.emplace_back(frame.data(), frame.size());
    ASSERT_TRUE(zmq::send_multipart(socket_, request, zmq::send_flags::dontwait));
  }

  // The next reply's frames after the delimiter (version, request id, status, text,
  // user id, metadata), serving the handler meanwhile; nothing by the deadline.
  std::optional<std::vector<std::string>> Reply() {
    const auto deadline = steady_clock::now() + kDeadline;
    while (steady_clock::now() < deadline) {
      std::vector<zmq::message_t> frames;
      if (zmq::recv_multipart(socket_, std::back_inserter(frames), zmq::recv_flags::dontwait)) {
        std::vector<std::string> texts;
        for (size_t i = 1; i < frames.size(); ++i) texts.push_back(frames[i].to_string());
        return texts;
      }
      zmq::pollitem_t items[] = {{listener_.zap().socket().handle(), 0, ZMQ_POLLIN, 0},
                                 {socket_.handle(), 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, 2, milliseconds(100));
      if (items[0].revents & ZMQ_POLLIN) listener_.zap().Service();
    }
    return std::nullopt;
  }

 private:
  CurveListener& listener_;
  zmq::socket_t socket_;
};

// The raw 32 bytes of a Z85 key, as CURVE credentials carry it.
std::string KeyBytes(const std::string& z85) {
  std::string bytes(32, '\0');
  zmq_z85_decode(reinterpret_cast<uint8_t*>(bytes.data()), z85.c_str());
  return bytes;
}

TEST_F(ZapHandlerTest, MalformedRequestsAreRefusedOrIgnoredAndTheHandlerGoesOn) {
  RawZapRequester requester(*listener_);
  const std::string alice = KeyBytes(alice_.public_key);
  // Not ZAP at all, or another version of it: no answer (nobody to answer).
  requester.Send({"1.0"});
  requester.Send({"2.0", "v2", "procmod", "127.0.0.1", "", "CURVE", alice});
  // ZAP, but no credentials or credentials that are not a key: refused.
  requester.Send({"1.0", "no-key", "procmod", "127.0.0.1", "", "CURVE"});
  requester.Send({"1.0", "short-key", "procmod", "127.0.0.1", "", "CURVE", "abc"});
  requester.Send({"1.0", "unknown", "procmod", "127.0.0.1", "", "CURVE", std::string(32, 'x')});
  // A socket procmod left plain; then a proper request for a listed key.
  requester.Send({"1.0", "plain", "procmod", "127.0.0.1", "", "NULL"});
  requester.Send({"1.0", "alice", "procmod", "127.0.0.1", "", "CURVE", alice});

  // Answers come in order, so the first one being "no-key"'s shows that the two
  // requests before it got none.
  using Texts = std::vector<std::string>;
  EXPECT_EQ(requester.Reply(), Texts({"1.0", "no-key", "400", "unknown key", "", ""}));
  EXPECT_EQ(requester.Reply(), Texts({"1.0", "short-key", "400", "unknown key", "", ""}));
  EXPECT_EQ(requester.Reply(), Texts({"1.0", "unknown", "400", "unknown key", "", ""}));
  EXPECT_EQ(requester.Reply(), Texts({"1.0", "plain", "200", "OK", "", ""}));
  EXPECT_EQ(requester.Reply(), Texts({"1.0", "alice", "200", "OK", alice_.public_key, ""}));

  // And real handshakes still go through it.
  auto client = Dial(alice_);
  EXPECT_TRUE(Send(*client, "hello").admitted);
}

TEST(ZapHandler, StartFailsForAFolderThatIsNotThereAndBindsNothing) {
  zmq::context_t context;
  TempDir dir;
  Result<std::unique_ptr<ZapHandler>> missing = ZapHandler::Start(context, dir.path() + "/nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(missing.status().IsInvalidArgument());
  EXPECT_THAT(missing.status().message(), HasSubstr(dir.path() + "/nope is not a folder"));
  // The endpoint is still free for the handler that does start.
  Result<std::unique_ptr<ZapHandler>> started = ZapHandler::Start(context, dir.path());
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  EXPECT_EQ((*started)->dir(), dir.path());
  EXPECT_EQ((*started)->size(), 0u);
}

TEST(ZapHandler, AContextHasOneHandler) {
  zmq::context_t context;
  TempDir dir;
  Result<std::unique_ptr<ZapHandler>> first = ZapHandler::Start(context, dir.path());
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  Result<std::unique_ptr<ZapHandler>> second = ZapHandler::Start(context, dir.path());
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(second.status().IsUnavailable());
  EXPECT_THAT(second.status().message(), HasSubstr("cannot start the ZAP handler"));
}

TEST(ZapHandler, EnableCurveServerStartsTheHandlerOnceAndBeforeAnySocketIsCurve) {
  if (!HaveCurve()) GTEST_SKIP() << "this libzmq has no CURVE";
  zmq::context_t context;
  TempDir dir;
  CurveSetup setup;
  setup.enabled = true;
  setup.own = NewCurveKeyPair();

  // A folder that is not there: no handler, and the socket is left without CURVE
  // rather than with CURVE and nobody checking keys.
  setup.authorized_keys_dir = dir.path() + "/nope";
  std::unique_ptr<ZapHandler> zap;
  zmq::socket_t refused(context, zmq::socket_type::router);
  EXPECT_FALSE(EnableCurveServer(context, setup, zap, refused).ok());
  EXPECT_EQ(zap, nullptr);
  EXPECT_FALSE(refused.get(zmq::sockopt::curve_server));

  setup.authorized_keys_dir = dir.path();
  zmq::socket_t first(context, zmq::socket_type::router);
  ASSERT_TRUE(EnableCurveServer(context, setup, zap, first).ok());
  ASSERT_NE(zap, nullptr);
  const ZapHandler* handler = zap.get();
  EXPECT_TRUE(first.get(zmq::sockopt::curve_server));

  zmq::socket_t second(context, zmq::socket_type::router);
  ASSERT_TRUE(EnableCurveServer(context, setup, zap, second).ok());
  EXPECT_EQ(zap.get(), handler);  // the process's one handler, not a second bind
  EXPECT_TRUE(second.get(zmq::sockopt::curve_server));
}

}  // namespace
}  // namespace procmod::testing
