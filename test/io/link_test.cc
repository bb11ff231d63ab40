// Link: one DEALER we dial. Its decisions (deadlines, backoff, what a refusal, a
// DENY or a lost session does) are checked without a socket; its outbox with a real
// DEALER against a loopback ROUTER that stops reading.
#include "io/link.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/daemons.h"
#include "support/fake_clock.h"

namespace procmod {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::FakeClock;

Link::Target ClientTarget(bool registered = false) {
  Link::Target target;
  target.id = 7;
  target.url = "tcp://127.0.0.1:5555";
  target.endpoint = "tcp://127.0.0.1:5555";
  target.registered = registered;
  if (registered) target.service = "viz";
  return target;
}

Link::Limits Limits(Duration connect = seconds(10), Duration handshake = seconds(5)) {
  Link::Limits limits;
  limits.send_queue = 4;
  limits.max_message_size = 1 << 20;
  limits.connect = connect;
  limits.handshake = handshake;
  return limits;
}

HeartbeatPolicy DefaultHeartbeat() { return HeartbeatPolicy(HeartbeatSettings{}); }

pmp::Welcome WelcomeOf(std::string session, uint64_t heartbeat_ms, uint64_t liveness) {
  pmp::Welcome welcome;
  welcome.session = std::move(session);
  welcome.role = "server";
  welcome.name = "srv";
  welcome.version = std::string(pmp::kProtocolVersion);
  welcome.heartbeat_ms = heartbeat_ms;
  welcome.liveness = liveness;
  return welcome;
}

class LinkTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  std::mt19937_64 rng_{42};
};

// ---- deadlines ---------------------------------------------------------------------

TEST_F(LinkTest, ADialThatNeverGetsThroughIsUnreachableAtTimeoutsConnect) {
  Link link(ClientTarget(), Limits(seconds(10)), DefaultHeartbeat(), clock_.Now());
  EXPECT_EQ(link.NextDeadline(), clock_.Now() + seconds(10));
  clock_.Advance(seconds(10) - milliseconds(1));
  EXPECT_EQ(link.Check(clock_.Now()), Link::Due::kNothing);
  clock_.Advance(milliseconds(1));
  EXPECT_EQ(link.Check(clock_.Now()), Link::Due::kUnreachable);
}

TEST_F(LinkTest, NoConnectTimeoutMeansItDialsForever) {
  Link link(ClientTarget(), Limits(Duration(0)), DefaultHeartbeat(), clock_.Now());
  EXPECT_EQ(link.NextDeadline(), TimePoint::max());
  clock_.Advance(std::chrono::hours(24 * 365));
  EXPECT_EQ(link.Check(clock_.Now()), Link::Due::kNothing);
}

TEST_F(LinkTest, AfterZmtpTheWelcomeIsDueWithinTimeoutsHandshake) {
  Link link(ClientTarget(), Limits(seconds(60), seconds(5)), DefaultHeartbeat(), clock_.Now());
  HandshakeWatch::Progress progress;
  progress.transport_up = progress.succeeded = true;
  EXPECT_EQ(link.OnHandshake(progress, clock_.Now()).kind, Link::HandshakeNews::kNothing);
  EXPECT_EQ(link.state(), Link::State::kHandshaking);
  clock_.Advance(seconds(5));
  EXPECT_EQ(link.Check(clock_.Now()), Link::Due::kNoWelcome);
}

TEST_F(LinkTest, ALostTransportHandsTheWaitBackToTimeoutsConnect) {
  Link link(ClientTarget(), Limits(seconds(60), seconds(5)), DefaultHeartbeat(), clock_.Now());
  HandshakeWatch::Progress up;
  up.transport_up = true;
  link.OnHandshake(up, clock_.Now());
  EXPECT_EQ(link.NextDeadline(), clock_.Now() + seconds(5));
  HandshakeWatch::Progress lost;
  lost.transport_lost = true;
  link.OnHandshake(lost, clock_.Now());
  EXPECT_EQ(link.NextDeadline(), clock_.Now() + seconds(60));
}

TEST_F(LinkTest, HandshakeNewsSaysFailedAndRefused) {
  Link link(ClientTarget(), Limits(), DefaultHeartbeat(), clock_.Now());
  HandshakeWatch::Progress refused;
  refused.refused = 3;
  Link::HandshakeNews news = link.OnHandshake(refused, clock_.Now());
  EXPECT_EQ(news.kind, Link::HandshakeNews::kRefused);
  EXPECT_EQ(news.refused, 3);

  HandshakeWatch::Progress failed;
  failed.failed = PermissionDeniedError("handshake failed: wrong key");
  news = link.OnHandshake(failed, clock_.Now());
  EXPECT_EQ(news.kind, Link::HandshakeNews::kFailed);
  EXPECT_TRUE(news.why.IsPermissionDenied());
}

TEST_F(LinkTest, TheUnreachableErrorCountsRefusals) {
  Link link(ClientTarget(), Limits(), DefaultHeartbeat(), clock_.Now());
  EXPECT_EQ(link.UnreachableError().message(),
            "could not reach tcp://127.0.0.1:5555 within timeouts.connect");
  link.CountRefusals(2);
  link.CountRefusals(1);
  const Status error = link.UnreachableError();
  EXPECT_TRUE(error.IsDeadlineExceeded());
  EXPECT_NE(error.message().find("connection refused 3 times"), std::string::npos)
      << error.message();
}

// ---- backoff -----------------------------------------------------------------------

TEST_F(LinkTest, RetryBacksOffFromOneSecondDoublingToThirtyTwoWithJitter) {
  Link link(ClientTarget(), Limits(Duration(0)), DefaultHeartbeat(), clock_.Now());
  const double expected[] = {1, 2, 4, 8, 16, 32, 32, 32};
  for (double base : expected) {
    link.Retry(clock_.Now(), rng_);
    EXPECT_EQ(link.state(), Link::State::kRetryWait);
    EXPECT_EQ(link.Check(clock_.Now()), Link::Due::kNothing);
    const auto wait = link.NextDeadline() - clock_.Now();
    EXPECT_GE(wait, std::chrono::duration<double>(base * 0.75)) << "base " << base;
    EXPECT_LE(wait, std::chrono::duration<double>(base * 1.25)) << "base " << base;
    clock_.Advance(wait);
    EXPECT_EQ(link.Check(clock_.Now()), Link::Due::kReopen);
    link.RetryDue();
    EXPECT_EQ(link.Check(clock_.Now()), Link::Due::kNothing);
  }
}

TEST_F(LinkTest, AResumeIsRetriedAtLeastEveryTwoSecondsUntilTheGraceRunsOut) {
  Link link(ClientTarget(), Limits(), DefaultHeartbeat(), clock_.Now());
  link.Admit(WelcomeOf("s-1", 1000, 3), clock_.Now());
  link.ClearOutbox(/*close_window=*/true);
  const TimePoint resume_by = clock_.Now() + seconds(20);
  link.Suspend(clock_.Now(), resume_by);
  EXPECT_EQ(link.Check(clock_.Now()), Link::Due::kReopen);  // the first RESUME at once
  link.RetryDue();
  const double expected[] = {1, 2, 2, 2, 2, 2};
  for (double base : expected) {
    link.Retry(clock_.Now(), rng_);
    const auto wait = link.NextDeadline() - clock_.Now();
    EXPECT_GE(wait, std::chrono::duration<double>(base * 0.75)) << "base " << base;
    EXPECT_LE(wait, std::chrono::duration<double>(base * 1.25)) << "base " << base;
    clock_.Advance(wait);
    ASSERT_EQ(link.Check(clock_.Now()), Link::Due::kReopen);
    link.RetryDue();
  }
  // The grace still ends the resume: its end is the connect deadline.
  link.Retry(clock_.Now(), rng_);
  clock_.Advance(resume_by - clock_.Now());
  EXPECT_EQ(link.Check(clock_.Now()), Link::Due::kUnreachable);

  // Resumed, and lost again later as an ordinary session: the usual doubling.
  link.OnResumed(clock_.Now());
  for (int i = 0; i < 4; ++i) link.Retry(clock_.Now(), rng_);
  EXPECT_GE(link.NextDeadline() - clock_.Now(), std::chrono::duration<double>(8 * 0.75));
}

TEST_F(LinkTest, AWelcomeResetsTheBackoffAndAdoptsTheAcceptorsHeartbeat) {
  Link link(ClientTarget(), Limits(), DefaultHeartbeat(), clock_.Now());
  for (int i = 0; i < 4; ++i) link.Retry(clock_.Now(), rng_);
  link.Admit(WelcomeOf("s-1", 200, 5), clock_.Now());
  EXPECT_TRUE(link.admitted());
  EXPECT_EQ(link.NextDeadline(), TimePoint::max());
  EXPECT_EQ(link.heartbeat().settings().interval, milliseconds(200));
  EXPECT_EQ(link.heartbeat().settings().liveness, 5u);
  EXPECT_EQ(link.peer().session, "s-1");
  EXPECT_EQ(link.peer().name, "srv");
  EXPECT_EQ(link.peer().address, "tcp://127.0.0.1:5555");
  ASSERT_NE(link.window(), nullptr);

  // Lost, and brought back: the first retry waits a second again.
  link.ClearOutbox(/*close_window=*/true);
  EXPECT_EQ(link.window(), nullptr);
  link.StartReconnecting(clock_.Now(), rng_);
  EXPECT_TRUE(link.reconnecting());
  EXPECT_TRUE(link.peer().session.empty());
  EXPECT_LE(link.NextDeadline() - clock_.Now(), std::chrono::duration<double>(1.25));
}

// ---- policy ------------------------------------------------------------------------

TEST_F(LinkTest, AClientsFirstDialFailsAtTheFirstRefusalAServersKeepsDialing) {
  Link link(ClientTarget(), Limits(), DefaultHeartbeat(), clock_.Now());
  EXPECT_FALSE(link.KeepsDialing(Role::kClient));
  EXPECT_TRUE(link.KeepsDialing(Role::kServer));
  EXPECT_TRUE(link.KeepsDialing(Role::kRenderServer));
  // A client bringing a lost session back waits for its server to return.
  link.Admit(WelcomeOf("s-1", 1000, 3), clock_.Now());
  link.StartReconnecting(clock_.Now(), rng_);
  EXPECT_TRUE(link.KeepsDialing(Role::kClient));
}

TEST_F(LinkTest, AFirstDialReportsEveryDenyAReconnectRetriesTheTemporaryOnes) {
  Link client(ClientTarget(), Limits(), DefaultHeartbeat(), clock_.Now());
  Link server(ClientTarget(/*registered=*/true), Limits(), DefaultHeartbeat(), clock_.Now());
  for (uint32_t code : {pmp::kCodeUnknownSession, pmp::kCodeFull, pmp::kCodeBusy,
                        pmp::kCodeForbidden, pmp::kCodeUnsupportedVersion}) {
    EXPECT_FALSE(client.RetriesDeny(code)) << code;
    EXPECT_FALSE(server.RetriesDeny(code)) << code;
  }
  for (Link* link : {&client, &server}) {
    link->Admit(WelcomeOf("s", 1000, 3), clock_.Now());
    link->StartReconnecting(clock_.Now(), rng_);
  }
  // 404 (a restarted broker or server) and 503 (full for now) pass.
  EXPECT_TRUE(client.RetriesDeny(pmp::kCodeUnknownSession));
  EXPECT_TRUE(client.RetriesDeny(pmp::kCodeFull));
  // 409: the peer still holds our lost session (a single-client server), or our old
  // registration (a broker), until it expires it.
  EXPECT_TRUE(client.RetriesDeny(pmp::kCodeBusy));
  EXPECT_TRUE(server.RetriesDeny(pmp::kCodeBusy));
  // 403 and 426 would be the same next time.
  for (Link* link : {&client, &server}) {
    EXPECT_FALSE(link->RetriesDeny(pmp::kCodeForbidden));
    EXPECT_FALSE(link->RetriesDeny(pmp::kCodeUnsupportedVersion));
  }
}

TEST_F(LinkTest, OnlyALostSessionComesBackAndOnlyWithTheReconnectPolicy) {
  Link link(ClientTarget(), Limits(), DefaultHeartbeat(), clock_.Now());
  // No session yet: nothing to bring back.
  EXPECT_FALSE(link.ShouldReconnect(DisconnectReason::kExpired, true, true));
  link.Admit(WelcomeOf("s", 1000, 3), clock_.Now());
  EXPECT_TRUE(link.ShouldReconnect(DisconnectReason::kExpired, true, true));
  EXPECT_TRUE(link.ShouldReconnect(DisconnectReason::kForgotten, true, true));
  EXPECT_FALSE(link.ShouldReconnect(DisconnectReason::kBye, true, true));
  EXPECT_FALSE(link.ShouldReconnect(DisconnectReason::kClosed, true, true));
  EXPECT_FALSE(link.ShouldReconnect(DisconnectReason::kExpired, false, true));
}

TEST_F(LinkTest, ABrokerRegistrationIsKeptWhateverEndedItWhileTheServerServes) {
  Link link(ClientTarget(/*registered=*/true), Limits(), DefaultHeartbeat(), clock_.Now());
  link.Admit(WelcomeOf("b", 1000, 3), clock_.Now());
  for (DisconnectReason reason : {DisconnectReason::kBye, DisconnectReason::kExpired,
                                  DisconnectReason::kForgotten, DisconnectReason::kClosed}) {
    EXPECT_TRUE(link.ShouldReconnect(reason, /*reconnect=*/false, /*keeps_registration=*/true));
    EXPECT_FALSE(link.ShouldReconnect(reason, /*reconnect=*/true, /*keeps_registration=*/false));
  }
}

TEST_F(LinkTest, ARegistrationMustBeBackWithinTimeoutsReregisterAClientWaitsForever) {
  Link::Limits bounded = Limits(seconds(10));
  bounded.reregister = seconds(20);
  Link client(ClientTarget(), bounded, DefaultHeartbeat(), clock_.Now());
  Link server(ClientTarget(/*registered=*/true), bounded, DefaultHeartbeat(), clock_.Now());
  // timeouts.reregister 0, the default: a registration is brought back for ever.
  Link patient(ClientTarget(/*registered=*/true), Limits(seconds(10)), DefaultHeartbeat(),
               clock_.Now());
  for (Link* link : {&client, &server, &patient}) {
    link->Admit(WelcomeOf("s", 1000, 3), clock_.Now());
    link->StartReconnecting(clock_.Now(), rng_);
  }
  clock_.Advance(seconds(10));  // timeouts.connect is not what bounds it
  EXPECT_NE(server.Check(clock_.Now()), Link::Due::kUnreachable);
  clock_.Advance(seconds(10));
  EXPECT_EQ(server.Check(clock_.Now()), Link::Due::kUnreachable);
  EXPECT_NE(client.Check(clock_.Now()), Link::Due::kUnreachable);
  clock_.Advance(std::chrono::hours(24));
  EXPECT_NE(patient.Check(clock_.Now()), Link::Due::kUnreachable);
}

// ---- the outbox, on a real socket ---------------------------------------------------

// A ROUTER on loopback that reads nothing until told, so the link's DEALER fills.
class StalledAcceptor {
 public:
  explicit StalledAcceptor(zmq::context_t& context) : socket_(context, zmq::socket_type::router) {
    socket_.set(zmq::sockopt::rcvhwm, 1);
    socket_.set(zmq::sockopt::rcvbuf, 64 * 1024);
    socket_.set(zmq::sockopt::linger, 0);
    socket_.bind("tcp://127.0.0.1:0");
    endpoint_ = socket_.get(zmq::sockopt::last_endpoint);
  }
  const std::string& endpoint() const { return endpoint_; }

  // The index carried by each message received before `deadline`, in order.
  std::vector<int> Drain(size_t count, std::chrono::steady_clock::time_point deadline) {
    std::vector<int> seen;
    while (seen.size() < count && std::chrono::steady_clock::now() < deadline) {
      zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, milliseconds(20));
      std::vector<zmq::message_t> frames;
      while (zmq::recv_multipart(socket_, std::back_inserter(frames), zmq::recv_flags::dontwait)) {
        seen.push_back(frames.size() > 1 ? *frames[1].data<int>() : -1);
        frames.clear();
      }
    }
    return seen;
  }

 private:
  zmq::socket_t socket_;
  std::string endpoint_;
};

Frames Numbered(int index, size_t bytes) {
  Frames frames;
  zmq::message_t body(bytes);
  std::memcpy(body.data(), &index, sizeof index);
  frames.push_back(std::move(body));
  return frames;
}

// A link with limits.send_queue 4, dialing a StalledAcceptor.
class LinkOutboxTest : public LinkTest {
 protected:
  void SetUp() override {
    Link::Target target = ClientTarget();
    target.url = target.endpoint = acceptor_.endpoint();
    Options options;
    options.role = Role::kClient;
    options.limits.send_queue = 4;
    link_.emplace(std::move(target), Limits(), DefaultHeartbeat(), clock_.Now());
    ASSERT_TRUE(link_->Open(context_, options, CurveSetup{}, poll_set_, rng_).ok());
  }

  zmq::context_t context_;
  StalledAcceptor acceptor_{context_};
  EpollSet poll_set_;
  std::optional<Link> link_;  // after what it uses, so it closes first
};

TEST_F(LinkOutboxTest, AFullDealerQueuesInOrderThenDropsAndCountsBeyondSendQueue) {
  Link& link = *link_;
  StalledAcceptor& acceptor = acceptor_;

  // 1 MiB messages: the DEALER's 4-message queue and the kernel's buffers fill fast.
  constexpr size_t kBytes = 1 << 20;
  int sent = 0;
  while (link.outbox_empty() && sent < 200) {
    ASSERT_TRUE(link.Send(Numbered(sent, kBytes), clock_.Now())) << sent;
    ++sent;
  }
  ASSERT_FALSE(link.outbox_empty()) << "the DEALER never filled";
  // Behind the first queued message, up to limits.send_queue wait; then drops.
  int queued = 1;
  while (link.Send(Numbered(sent, kBytes), clock_.Now())) {
    ++sent;
    ++queued;
    ASSERT_LE(queued, 4);
  }
  EXPECT_EQ(queued, 4);
  EXPECT_EQ(link.peer().dropped, 1u);

  // The acceptor reads again: the outbox drains, and nothing overtook anything.
  const auto deadline = std::chrono::steady_clock::now() + seconds(10);
  std::vector<int> seen;
  while (static_cast<int>(seen.size()) < sent && std::chrono::steady_clock::now() < deadline) {
    link.FlushOutbox(clock_.Now());
    std::vector<int> more =
        acceptor.Drain(sent - seen.size(), std::chrono::steady_clock::now() + milliseconds(50));
    seen.insert(seen.end(), more.begin(), more.end());
  }
  ASSERT_EQ(static_cast<int>(seen.size()), sent);
  for (int i = 0; i < sent; ++i) EXPECT_EQ(seen[i], i);
  EXPECT_TRUE(link.outbox_empty());
  EXPECT_EQ(link.peer().msgs_out, static_cast<uint64_t>(sent));
}

TEST_F(LinkOutboxTest, ClearingTheOutboxCountsWhatWaitedAsDropped) {
  Link& link = *link_;
  int sent = 0;
  while (link.outbox_empty() && sent < 200) link.Send(Numbered(sent++, 1 << 20), clock_.Now());
  ASSERT_FALSE(link.outbox_empty());
  const uint64_t dropped_before = link.peer().dropped;
  link.ClearOutbox(/*close_window=*/false);
  EXPECT_TRUE(link.outbox_empty());
  EXPECT_EQ(link.peer().dropped, dropped_before + 1);
  // Without a socket nothing is sent or queued.
  link.CloseSocket();
  EXPECT_FALSE(link.Send(Numbered(0, 8), clock_.Now()));
}

}  // namespace
}  // namespace procmod
