// Sessions that survive a dropped link (PMP/1.2): two process modules' I/O loops
// talk through a TCP proxy on loopback that cuts the connection mid-stream, holds
// it down, and lets it up again, as a network blip, a VPN reconnect or a laptop's
// sleep does. Every message must arrive exactly once, in order, and requests in
// flight must complete; a cut longer than the grace period ends the session; a
// RESUME with a forged token is refused.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <zmq_addon.hpp>

#include "io/io_loop.h"
#include "protocol/codec.h"
#include "security/curve_keys.h"
#include "support/curve_test_keys.h"
#include "support/numbered_stream.h"
#include "support/recording_proxy.h"
#include "support/temp_dir.h"

namespace procmod {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::Numbered;
using testing::RecordingProxy;
using testing::ZeroTo;

constexpr milliseconds kDeadline{20000};

int PortOf(const std::string& endpoint) {
  return std::stoi(endpoint.substr(endpoint.rfind(':') + 1));
}

Options SideOptions(Role role, milliseconds grace) {
  Options o;
  o.name = role == Role::kClient ? "resume-client" : "resume-server";
  o.role = role;
  o.listen = "tcp://127.0.0.1:0";
  o.heartbeat.interval = milliseconds(100);  // a lost link is noticed in 0.3 s
  o.heartbeat.liveness = 3;
  o.timeouts.handshake = milliseconds(1000);
  o.timeouts.connect = milliseconds(5000);
  o.linger = milliseconds(0);
  o.resume.grace = grace;
  return o;
}

// What one side received, in order, waited for with this file's deadline.
class Received : public testing::ReceivedNumbers {
 public:
  bool WaitFor(size_t count, milliseconds timeout = kDeadline) {
    return ReceivedNumbers::WaitFor(count, timeout);
  }
};

// Counts a callback's calls and waits for them.
class Events {
 public:
  void Add(std::string what) {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(std::move(what));
    cv_.notify_all();
  }
  bool WaitFor(size_t count, milliseconds timeout = kDeadline) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return events_.size() >= count; });
  }
  size_t count() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_.size();
  }
  std::string last() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_.empty() ? std::string() : events_.back();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> events_;
};

// One side's loop and what its callbacks saw.
struct Side {
  std::shared_ptr<IoLoop> loop;
  Received data;
  Events connected, suspended, resumed, disconnected;
  std::mutex mu;
  Connection peer;  // the latest admitted

  void Watch() {
    loop->SetOnConnected([this](const Connection& c) {
      {
        std::lock_guard<std::mutex> lock(mu);
        peer = c;
      }
      connected.Add(c.session());
    });
    loop->SetOnData([this](const Connection&, std::string_view, Frames payload) {
      data.Add(payload);
    });
    loop->SetOnSuspended([this](const Connection& c, milliseconds) { suspended.Add(c.session()); });
    loop->SetOnResumed([this](const Connection& c) { resumed.Add(c.session()); });
    loop->SetOnDisconnected([this](const Connection&, const Disconnect& how) {
      disconnected.Add(std::string(DisconnectReasonName(how.reason)) + ": " + how.message);
    });
  }
  Connection Peer() {
    std::lock_guard<std::mutex> lock(mu);
    return peer;
  }
};

class ResumeTest : public ::testing::Test {
 protected:
  // A server (accepting, single client) and a client dialing it through `proxy_`.
  void StartPair(milliseconds grace, milliseconds client_grace = milliseconds(-1),
                 uint64_t client_buffer = 64 << 20) {
    auto server = IoLoop::Create(SideOptions(Role::kServer, grace), server_curve_);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_.loop = *server;
    server_.Watch();
    server_.loop->SetHandler("echo", [](IncomingRequest& request) {
      return Reply{0, {}, {}, std::move(request.payload)};
    });
    AdmissionPolicy policy;
    ASSERT_TRUE(server_.loop->Bind(policy, /*gated=*/false).ok());
    proxy_ = std::make_unique<RecordingProxy>(PortOf(server_.loop->ListenEndpoint()));
    Options client_options =
        SideOptions(Role::kClient, client_grace.count() < 0 ? grace : client_grace);
    client_options.resume.buffer = client_buffer;
    auto client = IoLoop::Create(client_options, client_curve_);
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    client_.loop = *client;
    client_.Watch();
    Result<Connection> connection = client_.loop->Connect(proxy_->endpoint(), "server");
    ASSERT_TRUE(connection.ok()) << connection.status().ToString();
    to_server_ = *connection;
    ASSERT_TRUE(server_.connected.WaitFor(1));
    to_client_ = server_.Peer();
  }

  void TearDown() override {
    if (client_.loop) client_.loop->Shutdown();
    if (server_.loop) server_.loop->Shutdown();
  }

  // The proxy drops the link and keeps it down for `down`.
  void CutFor(milliseconds down) {
    proxy_->SetDown(true);
    proxy_->Cut();
    std::this_thread::sleep_for(down);  // the outage itself, not a synchronisation
    proxy_->SetDown(false);
  }

  // CURVE on both sides: server and client key pairs, the client's on the allow-list.
  void UseCurve() {
    testing::CurveTestKeys keys(dir_.path());
    testing::CurveTestKey server = keys.Make("server", /*authorize=*/false);
    testing::CurveTestKey client = keys.Make("client", /*authorize=*/true);
    Result<CurveSetup> s = ResolveCurve({.secret_key_file = server.secret_file,
                                         .authorized_keys_dir = keys.AuthorizedDir()},
                                        /*accepts=*/true, /*dials=*/false);
    Result<CurveSetup> c = ResolveCurve(
        {.secret_key_file = client.secret_file, .server_public_key = server.pair.public_key},
        /*accepts=*/false, /*dials=*/true);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    server_curve_ = *s;
    client_curve_ = *c;
  }

  testing::TempDir dir_;
  CurveSetup server_curve_, client_curve_;
  Side server_, client_;
  std::unique_ptr<RecordingProxy> proxy_;
  Connection to_server_, to_client_;
};


TEST_F(ResumeTest, TenThousandEachWayAcrossFiveCutsArriveExactlyOnceInOrder) {
  ASSERT_NO_FATAL_FAILURE(StartPair(seconds(30)));
  constexpr uint32_t kCount = 10000;
  constexpr uint32_t kBatch = kCount / 5;
  // Short outages (libzmq redials before anyone notices: lost messages are asked
  // for again) and long ones (both sides suspend; the client RESUMEs).
  const milliseconds outages[5] = {milliseconds(50), milliseconds(700), milliseconds(0),
                                   milliseconds(900), milliseconds(150)};
  for (int cut = 0; cut < 5; ++cut) {
    for (uint32_t i = cut * kBatch; i < (cut + 1) * kBatch; ++i) {
      ASSERT_TRUE(to_server_.Send(Numbered(i)).ok());
      ASSERT_TRUE(to_client_.Send(Numbered(i)).ok());
    }
    CutFor(outages[cut]);  // mid-stream: part of the batch is still on the wire
  }
  ASSERT_TRUE(server_.data.WaitFor(kCount)) << server_.data.numbers().size();
  ASSERT_TRUE(client_.data.WaitFor(kCount)) << client_.data.numbers().size();
  EXPECT_EQ(server_.data.numbers(), ZeroTo(kCount));
  EXPECT_EQ(client_.data.numbers(), ZeroTo(kCount));
  EXPECT_GE(proxy_->connections(), 2) << "the link was really cut";
  EXPECT_EQ(client_.disconnected.count(), 0u) << client_.disconnected.last();
  EXPECT_EQ(server_.disconnected.count(), 0u) << server_.disconnected.last();
  EXPECT_GE(client_.suspended.count(), 1u) << "the long outages suspended the session";
  EXPECT_EQ(client_.suspended.count(), client_.resumed.count());
  EXPECT_EQ(server_.suspended.count(), server_.resumed.count());
  EXPECT_EQ(client_.connected.count(), 1u) << "a resume is not a new session";
}

TEST_F(ResumeTest, ACurveSessionResumesWithTheSameKeyAndNothingReadableOnTheWire) {
  ASSERT_NO_FATAL_FAILURE(UseCurve());
  ASSERT_NO_FATAL_FAILURE(StartPair(seconds(30)));
  proxy_->SetDown(true);
  proxy_->Cut();
  ASSERT_TRUE(server_.suspended.WaitFor(1));
  ASSERT_TRUE(to_server_.Send("secret-after-the-cut").ok());
  proxy_->SetDown(false);
  ASSERT_TRUE(server_.resumed.WaitFor(1));
  ASSERT_TRUE(server_.data.WaitFor(1));
  EXPECT_EQ(server_.loop->Snapshot().at(0).public_key, client_curve_.own.public_key);
  EXPECT_EQ(proxy_->Recorded().find("resume_token"), std::string::npos)
      << "the token travels encrypted";
  EXPECT_EQ(proxy_->Recorded().find("secret-after-the-cut"), std::string::npos);
}

TEST_F(ResumeTest, ARequestInFlightCompletesAfterTheResume) {
  ASSERT_NO_FATAL_FAILURE(StartPair(seconds(30)));
  proxy_->SetDown(true);
  proxy_->Cut();
  ASSERT_TRUE(client_.suspended.WaitFor(1)) << "the client noticed the loss";
  ASSERT_TRUE(server_.suspended.WaitFor(1)) << "the server noticed the loss";
  ReplyFuture reply = to_server_.Request("echo", Numbered(42), seconds(20));
  EXPECT_EQ(reply.wait_for(milliseconds(300)), std::future_status::timeout)
      << "no reply while the link is down";
  proxy_->SetDown(false);
  Result<Reply> got = reply.get();
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->payload.size(), 1u);
  uint32_t n = 0;
  std::memcpy(&n, got->payload[0].data(), sizeof n);
  EXPECT_EQ(n, 42u);
  EXPECT_TRUE(client_.resumed.WaitFor(1));
  EXPECT_TRUE(server_.resumed.WaitFor(1));
}

TEST_F(ResumeTest, TheMonitorShowsASuspendedSessionAndItsTimeLeft) {
  ASSERT_NO_FATAL_FAILURE(StartPair(seconds(30)));
  proxy_->SetDown(true);
  proxy_->Cut();
  ASSERT_TRUE(server_.suspended.WaitFor(1));
  std::vector<PeerInfo> peers = server_.loop->Snapshot();
  ASSERT_EQ(peers.size(), 1u);
  EXPECT_EQ(peers[0].state, "suspended");
  EXPECT_GT(peers[0].resume_left, seconds(25));
  EXPECT_LE(peers[0].resume_left, seconds(30));
  proxy_->SetDown(false);
  ASSERT_TRUE(server_.resumed.WaitFor(1));
  peers = server_.loop->Snapshot();
  ASSERT_EQ(peers.size(), 1u);
  EXPECT_EQ(peers[0].state, "admitted");
}

TEST_F(ResumeTest, ASingleClientServerWaitsOutTheGraceAndEndsAsForALostPeer) {
  ASSERT_NO_FATAL_FAILURE(StartPair(milliseconds(800)));
  server_.loop->ArmRun(/*multi=*/false, /*single_peer=*/true, milliseconds(0), milliseconds(0));
  auto run = std::async(std::launch::async, [&] { return server_.loop->Run(); });
  proxy_->SetDown(true);
  proxy_->Cut();
  ASSERT_TRUE(server_.suspended.WaitFor(1));
  EXPECT_EQ(run.wait_for(milliseconds(300)), std::future_status::timeout)
      << "a suspended session keeps the server up";
  EXPECT_EQ(server_.disconnected.count(), 0u);
  ASSERT_EQ(run.wait_for(kDeadline), std::future_status::ready);
  EXPECT_EQ(run.get(), RunEnd::kPeerLost);
  ASSERT_TRUE(server_.disconnected.WaitFor(1));
  EXPECT_EQ(server_.disconnected.last(), "expired: not resumed within 800ms");
  ASSERT_TRUE(client_.disconnected.WaitFor(1));
  EXPECT_EQ(client_.disconnected.last().rfind("expired: ", 0), 0u) << client_.disconnected.last();
}

TEST_F(ResumeTest, WithoutResumeALostLinkEndsTheSessionAsBefore) {
  ASSERT_NO_FATAL_FAILURE(StartPair(seconds(30), /*client_grace=*/milliseconds(0)));
  proxy_->SetDown(true);
  proxy_->Cut();
  ASSERT_TRUE(server_.disconnected.WaitFor(1));
  EXPECT_EQ(server_.disconnected.last(), "expired: ");
  EXPECT_EQ(server_.suspended.count(), 0u);
}

TEST_F(ResumeTest, AFullResumeBufferEndsTheSessionWithTheReasonInsteadOfGrowing) {
  ASSERT_NO_FATAL_FAILURE(StartPair(seconds(30), milliseconds(-1), /*client_buffer=*/65536));
  proxy_->SetDown(true);
  proxy_->Cut();
  ASSERT_TRUE(client_.suspended.WaitFor(1));
  // Kept while suspended, up to 64 KiB: the 65th KiB does not fit.
  const std::string kib(1024, 'x');
  for (int i = 0; i < 100; ++i) (void)to_server_.Send(kib);
  ASSERT_TRUE(client_.disconnected.WaitFor(1));
  EXPECT_EQ(client_.disconnected.last().rfind("closed: resume buffer full: ", 0), 0u)
      << client_.disconnected.last();
  EXPECT_NE(client_.disconnected.last().find("resume.buffer is 65536"), std::string::npos);
  EXPECT_FALSE(to_server_.Send(kib).ok()) << "the session is over";
}

TEST_F(ResumeTest, AMessageBiggerThanTheResumeBufferGoesOnALiveLinkAndTheSessionStays) {
  ASSERT_NO_FATAL_FAILURE(StartPair(seconds(30), milliseconds(-1), /*client_buffer=*/65536));
  const std::string big(200 * 1024, 'b');  // three times the client's buffer
  for (uint32_t i = 0; i < 3; ++i) ASSERT_TRUE(to_server_.Send(big).ok());
  ASSERT_TRUE(to_server_.Send(Numbered(7)).ok());
  ASSERT_TRUE(server_.data.WaitFor(4));
  // Not 4-byte numbers, the big ones show as UINT32_MAX; all came, in order.
  EXPECT_EQ(server_.data.numbers(), (std::vector<uint32_t>{UINT32_MAX, UINT32_MAX, UINT32_MAX, 7}));
  EXPECT_EQ(client_.disconnected.count(), 0u);
  EXPECT_EQ(server_.disconnected.count(), 0u);
  EXPECT_TRUE(to_server_.Send(Numbered(8)).ok()) << "the session goes on";
  ASSERT_TRUE(server_.data.WaitFor(5));
}

TEST_F(ResumeTest, ALinkLostWithAnUnkeptMessageUnreceivedEndsTheSessionInsteadOfLosingIt) {
  ASSERT_NO_FATAL_FAILURE(StartPair(seconds(30), milliseconds(-1), /*client_buffer=*/65536));
  // Cut before the client notices (0.3 s of silence): the message goes into the
  // dead link, unkept, and the link's socket goes with it when the client suspends,
  // so the resume that follows cannot send it again.
  proxy_->SetDown(true);
  proxy_->Cut();
  ASSERT_TRUE(to_server_.Send(std::string(200 * 1024, 'b')).ok());
  ASSERT_TRUE(client_.suspended.WaitFor(1));
  proxy_->SetDown(false);
  ASSERT_TRUE(client_.disconnected.WaitFor(1));
  const std::string said = client_.disconnected.last();
  // "resume buffer full" only if the client suspended before the Send got through.
  EXPECT_TRUE(said.rfind("closed: cannot resend: message 1 (", 0) == 0 ||
              said.rfind("closed: resume buffer full: ", 0) == 0)
      << said;
  ASSERT_TRUE(server_.disconnected.WaitFor(1)) << "the server is told (BYE), not left waiting";
  EXPECT_TRUE(server_.data.numbers().empty()) << "nothing arrived half, or twice";
}

// A raw DEALER speaking PMP/1 by hand, for what a procmod peer would never send.
class RawDealer {
 public:
  RawDealer(zmq::context_t& context, const std::string& endpoint)
      : socket_(context, zmq::socket_type::dealer) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.set(zmq::sockopt::rcvtimeo, 5000);
    socket_.connect(endpoint);
  }
  void Send(const pmp::Header& header) {
    for (zmq::message_t& frame : pmp::Encode(header)) {
      socket_.send(frame, zmq::send_flags::none);
    }
  }
  // The next message other than a PING.
  std::optional<pmp::Message> Receive() {
    for (;;) {
      Frames frames;
      if (!zmq::recv_multipart(socket_, std::back_inserter(frames))) return std::nullopt;
      Result<pmp::Message> message = decoder_.Decode(frames);
      if (!message.ok()) return std::nullopt;
      if (message->command() != pmp::Command::kPing) return std::move(*message);
    }
  }

 private:
  zmq::socket_t socket_;
  pmp::Decoder decoder_;
};

TEST_F(ResumeTest, AForgedTokenIsRefusedAndTheSessionStaysItsOwners) {
  ASSERT_NO_FATAL_FAILURE(StartPair(seconds(30)));
  zmq::context_t context;
  RawDealer intruder(context, server_.loop->ListenEndpoint());
  intruder.Send(pmp::Resume{to_client_.session(), std::string(32, '0'), 0});
  std::optional<pmp::Message> answer = intruder.Receive();
  ASSERT_TRUE(answer.has_value());
  ASSERT_EQ(answer->command(), pmp::Command::kDeny);
  EXPECT_EQ(std::get<pmp::Deny>(answer->header).code, 410u);
  // The same answer for a session that does not exist: a guesser learns nothing.
  intruder.Send(pmp::Resume{"0123456789abcdef", std::string(32, '0'), 0});
  answer = intruder.Receive();
  ASSERT_TRUE(answer.has_value());
  ASSERT_EQ(answer->command(), pmp::Command::kDeny);
  EXPECT_EQ(std::get<pmp::Deny>(answer->header).code, 410u);
  // The owner's session goes on.
  ASSERT_TRUE(to_server_.Send(Numbered(7)).ok());
  ASSERT_TRUE(server_.data.WaitFor(1));
  EXPECT_EQ(server_.data.numbers(), std::vector<uint32_t>{7});
}

// The resume token of the WELCOME the proxy saw go by (in clear: no CURVE here),
// as a sniffer on the path would read it: "resume_token", then str8 of 32 bytes.
std::string SniffedToken(const std::string& wire) {
  const std::string key = "resume_token";
  const size_t at = wire.find(key);
  if (at == std::string::npos || at + key.size() + 2 + 32 > wire.size()) return "";
  const size_t value = at + key.size();
  if (static_cast<uint8_t>(wire[value]) != 0xd9 || wire[value + 1] != 32) return "";
  return wire.substr(value + 2, 32);
}

TEST_F(ResumeTest, ATokenOfASessionThatEndedIsRefused) {
  ASSERT_NO_FATAL_FAILURE(StartPair(seconds(30)));
  // What a sniffer could replay: the session's own id and token, once it is over.
  const std::string token = SniffedToken(proxy_->Recorded());
  ASSERT_EQ(token.size(), 32u);
  ASSERT_TRUE(to_server_.Close().ok());
  ASSERT_TRUE(server_.disconnected.WaitFor(1));
  zmq::context_t context;
  RawDealer late(context, server_.loop->ListenEndpoint());
  late.Send(pmp::Resume{to_client_.session(), token, 0});
  std::optional<pmp::Message> answer = late.Receive();
  ASSERT_TRUE(answer.has_value());
  ASSERT_EQ(answer->command(), pmp::Command::kDeny);
  EXPECT_EQ(std::get<pmp::Deny>(answer->header).code, 410u);
}

TEST_F(ResumeTest, AClientThatComesBackFromANewAddressResumes) {
  ASSERT_NO_FATAL_FAILURE(StartPair(seconds(30)));
  ASSERT_EQ(server_.loop->Snapshot().at(0).address, "127.0.0.1");
  // A VPN reconnect: the link drops, and the client's packets now come from
  // another address. The token, not the address, says whose session it is.
  proxy_->SetSourceAddress("127.0.0.2");
  proxy_->SetDown(true);
  proxy_->Cut();
  ASSERT_TRUE(server_.suspended.WaitFor(1));
  ASSERT_TRUE(to_server_.Send(Numbered(1)).ok()) << "kept while suspended";
  proxy_->SetDown(false);
  ASSERT_TRUE(server_.resumed.WaitFor(1));
  ASSERT_TRUE(server_.data.WaitFor(1));
  EXPECT_EQ(server_.data.numbers(), std::vector<uint32_t>{1});
  std::vector<PeerInfo> peers = server_.loop->Snapshot();
  ASSERT_EQ(peers.size(), 1u);
  EXPECT_EQ(peers[0].session, to_client_.session());
  EXPECT_EQ(peers[0].address, "127.0.0.2");
  EXPECT_EQ(peers[0].state, "admitted");
}

TEST_F(ResumeTest, AForgedTokenOnTheWireLeavesTheRealSessionToResume) {
  ASSERT_NO_FATAL_FAILURE(StartPair(seconds(30)));
  proxy_->SetDown(true);
  proxy_->Cut();
  ASSERT_TRUE(server_.suspended.WaitFor(1));
  // While the owner is away, someone tries its session with a guessed token.
  zmq::context_t context;
  RawDealer intruder(context, server_.loop->ListenEndpoint());
  intruder.Send(pmp::Resume{to_client_.session(), std::string(32, 'f'), 0});
  std::optional<pmp::Message> answer = intruder.Receive();
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(std::get<pmp::Deny>(answer->header).code, 410u);
  proxy_->SetDown(false);
  ASSERT_TRUE(server_.resumed.WaitFor(1)) << "the owner still resumes";
  EXPECT_EQ(server_.disconnected.count(), 0u);
}

}  // namespace
}  // namespace procmod
