// Connection::Request to a server we dialed. The thread that waits on the reply
// receives it itself while the I/O thread sleeps (io_loop.h, "The loop lock"); these
// tests hold it to what a std::future and the I/O thread promised before: deadlines,
// order, callbacks only on the I/O thread, heartbeats while it waits, many threads
// at once, and Finalize() while it waits. A raw ROUTER plays the server.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "support/module_fixture.h"

namespace procmod::testing {
namespace {

using std::chrono::steady_clock;

class Requests : public ModuleTest {
 protected:
  // A forward client connected to server_; the REQUEST side of the session.
  Connection StartClient(uint64_t heartbeat_ms = 1000, uint64_t liveness = 3) {
    Options o = TestOptions(Role::kClient);
    o.server_url = server_.endpoint();
    ProcessModule* client = Init(o);
    if (client == nullptr) return Connection();
    client->OnData([this](const Connection&, std::string_view, Frames payload) {
      data_.Push({std::this_thread::get_id(), payload.empty() ? "" : Text(payload[0])});
    });
    auto start = Async([client] { return client->Start(); });
    if (!server_.AcceptHello("server", "raw", heartbeat_ms, liveness)) return Connection();
    if (start.wait_for(kDeadline) != std::future_status::ready || !start.get().ok()) {
      return Connection();
    }
    std::vector<PeerInfo> peers = client->Connections();
    if (peers.size() != 1) return Connection();
    Result<Connection> found = client->FindConnection(peers[0].session);
    return found.ok() ? *found : Connection();
  }

  // The next REQUEST the server gets, and who sent it.
  std::optional<RawRouter::Incoming> NextRequest() {
    std::optional<RawRouter::Incoming> in = server_.Receive();
    if (!in || !std::holds_alternative<pmp::Request>(in->message.header)) return std::nullopt;
    return in;
  }

  void Answer(const RawRouter::Incoming& request, const std::string& text) {
    const auto& r = std::get<pmp::Request>(request.message.header);
    server_.SendTo(request.routing_id, pmp::Reply{r.id, 0, "", "", {}}, TextFrames({text}));
  }

  struct Delivery {
    std::thread::id thread;
    std::string text;
  };
  Mailbox<Delivery> data_;  // outlives the module (see Mailbox)
  RawRouter server_{context_};
};

TEST_F(Requests, ReplyComesBackWithItsPayload) {
  Connection server = StartClient();
  ASSERT_TRUE(server.valid());
  ReplyFuture reply = server.Request("echo", TextFrames({"ping"}));
  std::optional<RawRouter::Incoming> request = NextRequest();
  ASSERT_TRUE(request.has_value());
  EXPECT_EQ(std::get<pmp::Request>(request->message.header).method, "echo");
  Answer(*request, "pong");
  Result<Reply> got = reply.get();
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->payload.size(), 1u);
  EXPECT_EQ(Text(got->payload[0]), "pong");
  EXPECT_FALSE(reply.valid());  // taken, as with a std::future
}

TEST_F(Requests, UnansweredRequestTimesOutOnTime) {
  Connection server = StartClient();
  ASSERT_TRUE(server.valid());
  const auto sent = steady_clock::now();
  ReplyFuture reply = server.Request("never", {}, milliseconds(300));
  Result<Reply> got = reply.get();
  const auto waited = steady_clock::now() - sent;
  EXPECT_EQ(got.status().code(), StatusCode::kDeadlineExceeded) << got.status().ToString();
  EXPECT_GE(waited, milliseconds(290));
  EXPECT_LT(waited, milliseconds(1500));  // not the I/O thread's next heartbeat tick
}

TEST_F(Requests, WaitForTimesOutThenGetStillHasTheReply) {
  Connection server = StartClient();
  ASSERT_TRUE(server.valid());
  ReplyFuture reply = server.Request("slow");
  std::optional<RawRouter::Incoming> request = NextRequest();
  ASSERT_TRUE(request.has_value());
  EXPECT_EQ(reply.wait_for(milliseconds(50)), std::future_status::timeout);
  Answer(*request, "late");
  ASSERT_EQ(reply.wait_for(kDeadline), std::future_status::ready);
  Result<Reply> got = reply.get();
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(Text(got->payload[0]), "late");
}

TEST_F(Requests, DataSentBeforeTheReplyIsDeliveredFirstOnTheIoThread) {
  Connection server = StartClient();
  ASSERT_TRUE(server.valid());
  for (int round = 0; round < 20; ++round) {
    ReplyFuture reply = server.Request("work");
    std::optional<RawRouter::Incoming> request = NextRequest();
    ASSERT_TRUE(request.has_value());
    const std::string news = "news " + std::to_string(round);
    server_.SendTo(request->routing_id, pmp::Data{}, TextFrames({news}));
    Answer(*request, "done");
    ASSERT_TRUE(reply.get().ok());
    // The DATA's callback ran before get() returned: nothing overtakes.
    std::optional<Delivery> delivered = data_.Pop(milliseconds(0));
    ASSERT_TRUE(delivered.has_value()) << "round " << round;
    EXPECT_EQ(delivered->text, news);
    EXPECT_NE(delivered->thread, std::this_thread::get_id()) << "callback on the waiting thread";
  }
}

TEST_F(Requests, WaitingOnTheIoThreadFailsAtOnceInsteadOfHanging) {
  // A callback runs on the I/O thread, the thread that delivers replies: waiting there
  // would never end. get() says so and keeps the future; the reply still arrives.
  Connection server = StartClient();
  ASSERT_TRUE(server.valid());
  ReplyFuture hello = server.Request("hello");
  std::optional<RawRouter::Incoming> request = NextRequest();
  ASSERT_TRUE(request.has_value());
  Answer(*request, "hi");
  ASSERT_TRUE(hello.get().ok());

  struct InCallback {
    std::future_status waited;
    StatusCode got;
    bool still_valid;
    ReplyFuture future;
  };
  // Shared with the callback, which may outlive this test's locals.
  auto seen = std::make_shared<Mailbox<InCallback>>();
  (*ProcessModule::Get())->OnData([seen](const Connection& from, std::string_view, Frames) {
    ReplyFuture nested = from.Request("nested");
    const std::future_status waited = nested.wait_for(std::chrono::seconds(30));
    Result<Reply> got = nested.get();
    seen->Push({waited, got.status().code(), nested.valid(), nested});
  });
  server_.SendTo(request->routing_id, pmp::Data{}, TextFrames({"go"}));
  std::optional<InCallback> in_callback = seen->Pop(kDeadline);  // not 30 s: no wait
  ASSERT_TRUE(in_callback.has_value());
  EXPECT_EQ(in_callback->waited, std::future_status::timeout);
  EXPECT_EQ(in_callback->got, StatusCode::kFailedPrecondition);
  EXPECT_TRUE(in_callback->still_valid);
  // The nested REQUEST went out; its reply reaches the kept future.
  std::optional<RawRouter::Incoming> nested = NextRequest();
  ASSERT_TRUE(nested.has_value());
  EXPECT_EQ(std::get<pmp::Request>(nested->message.header).method, "nested");
  Answer(*nested, "late");
  Result<Reply> reply = in_callback->future.get();
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  EXPECT_EQ(Text(reply->payload.at(0)), "late");
}

TEST_F(Requests, HeartbeatsGoOnWhileACallerWaits) {
  // 100 ms x 3: a client that stopped reading PINGs for the 1.2 s this request takes
  // would expire the server; one that stopped sending them would be expired.
  Connection server = StartClient(/*heartbeat_ms=*/100, /*liveness=*/3);
  ASSERT_TRUE(server.valid());
  ReplyFuture reply = server.Request("long", {}, milliseconds(5000));
  std::optional<RawRouter::Incoming> request = NextRequest();
  ASSERT_TRUE(request.has_value());
  int pings_from_client = 0;
  const auto answer_at = steady_clock::now() + milliseconds(1200);
  while (steady_clock::now() < answer_at) {
    server_.SendTo(request->routing_id, pmp::Ping{});
    std::optional<RawRouter::Incoming> in = server_.Receive(milliseconds(50), /*skip_pings=*/false);
    if (in && std::holds_alternative<pmp::Ping>(in->message.header)) ++pings_from_client;
  }
  Answer(*request, "finally");
  Result<Reply> got = reply.get();
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_GE(pings_from_client, 4);
  Result<PeerInfo> stats = server.Stats();
  EXPECT_TRUE(stats.ok()) << "the session expired while a caller waited";
}

TEST_F(Requests, ManyThreadsShareOneConnection) {
  Connection server = StartClient();
  ASSERT_TRUE(server.valid());
  std::atomic<bool> stop{false};
  std::thread answering([&] {  // echoes every REQUEST's payload
    while (!stop.load()) {
      std::optional<RawRouter::Incoming> in = server_.Receive(milliseconds(20));
      if (!in || !std::holds_alternative<pmp::Request>(in->message.header)) continue;
      Answer(*in, Text(in->message.payload.at(0)));
    }
  });
  constexpr int kThreads = 4, kEach = 300;
  std::atomic<int> good{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < kThreads; ++t) {
    callers.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        const std::string mine = std::to_string(t) + "/" + std::to_string(i);
        Result<Reply> got = server.Request("echo", TextFrames({mine})).get();
        if (got.ok() && got->payload.size() == 1 && Text(got->payload[0]) == mine) ++good;
      }
    });
  }
  for (std::thread& caller : callers) caller.join();
  stop = true;
  answering.join();
  EXPECT_EQ(good.load(), kThreads * kEach);
}

TEST_F(Requests, FinalizeEndsAWaitWithAborted) {
  Connection server = StartClient();
  ASSERT_TRUE(server.valid());
  auto waiting = Async([server] { return server.Request("never", {}, milliseconds(60000)).get(); });
  ASSERT_TRUE(NextRequest().has_value());
  EXPECT_EQ(waiting.wait_for(milliseconds(50)), std::future_status::timeout);
  ProcessModule::Finalize();
  ASSERT_EQ(waiting.wait_for(kDeadline), std::future_status::ready);
  EXPECT_EQ(waiting.get().status().code(), StatusCode::kAborted);
}

}  // namespace
}  // namespace procmod::testing
