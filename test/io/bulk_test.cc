// Bulk data: what ParaView sends most (a rendered image, a mesh) is one message of
// hundreds of MiB. Two process modules' I/O loops on tcp loopback, with session
// resume on and its default 64 MiB replay buffer, move 256 MiB payloads one-way and
// as request and reply: each must arrive intact, and the session must stay up,
// neither expired nor suspended nor ended because one message is bigger than the
// replay buffer, with heartbeats flowing after it as before.
//
// The heartbeat is short, 200 ms x 3: a side that takes 0.6 s or more to receive
// one 256 MiB message (the 2-core VM this was written on took up to 3 s under load,
// and sanitizers take longer) sees no whole message, nor the PINGs queued behind it,
// for that long. The bytes arriving keep the session up (transport_activity.h);
// before they counted, these tests needed a 5 s x 3 heartbeat.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "io/io_loop.h"
#include "support/loop_side.h"

namespace procmod {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::LoopSide;

constexpr size_t kPayload = size_t{256} << 20;
constexpr milliseconds kInterval{200};
constexpr milliseconds kDeadline{60000};  // sanitizers move 256 MiB slowly

Options SideOptions(Role role, milliseconds interval) {
  Options o;
  o.name = role == Role::kClient ? "bulk-client" : "bulk-server";
  o.role = role;
  o.listen = "tcp://127.0.0.1:0";
  o.heartbeat.interval = interval;
  o.heartbeat.liveness = 3;
  o.limits.max_message_size = kPayload + (1 << 20);  // 64 MiB by default
  o.linger = milliseconds(0);
  return o;  // resume on, resume.buffer 64 MiB: the defaults
}

// A payload whose every 8 bytes differ, and their sum: a lost, repeated or
// misplaced stretch of it changes the sum.
class Pattern {
 public:
  Pattern() : words_(std::make_unique<uint64_t[]>(kPayload / 8)) {
    for (size_t i = 0; i < kPayload / 8; ++i) words_[i] = i * 0x9E3779B97F4A7C15ull + 1;
    sum_ = Sum(words_.get(), kPayload);
  }
  // A message over the buffer, without a copy (no free function: libzmq leaves it).
  zmq::message_t Message() const { return zmq::message_t(words_.get(), kPayload, nullptr); }
  uint64_t sum() const { return sum_; }
  static uint64_t Sum(const void* data, size_t size) {
    uint64_t sum = 0;
    const auto* words = static_cast<const uint64_t*>(data);
    for (size_t i = 0; i < size / 8; ++i) sum = sum * 31 + words[i];
    return sum;
  }

 private:
  std::unique_ptr<uint64_t[]> words_;
  uint64_t sum_ = 0;
};

class BulkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.Start(SideOptions(Role::kServer, kInterval), /*echo=*/true));
    ASSERT_TRUE(server_.loop->Bind(AdmissionPolicy{}, /*gated=*/false).ok());
    ASSERT_TRUE(client_.Start(SideOptions(Role::kClient, kInterval)));
    Result<Connection> connection = client_.loop->Connect(server_.loop->ListenEndpoint(), "server");
    ASSERT_TRUE(connection.ok()) << connection.status().ToString();
    to_server_ = *connection;
  }

  // After a transfer: PINGs flow both ways (the client measures a round trip from
  // a PING of the server's that echoes one of its own: none was sent before the
  // transfer, which began at once), the session stays up on both sides meanwhile,
  // and a small request still gets its answer.
  void ExpectAliveAfterwards() {
    const auto until = std::chrono::steady_clock::now() + seconds(5);  // a sanitizer is slow
    Result<PeerInfo> info = to_server_.Stats();
    while (info.ok() && info->rtt.count() == 0 && std::chrono::steady_clock::now() < until) {
      ASSERT_EQ(client_.EventText(), "");
      ASSERT_EQ(server_.EventText(), "");
      std::this_thread::sleep_for(milliseconds(50));  // polling with a deadline
      info = to_server_.Stats();
    }
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    EXPECT_EQ(info->state, "admitted");
    EXPECT_GT(info->rtt.count(), 0) << "no PING echoed within 5 s";
    EXPECT_EQ(client_.EventText(), "");
    EXPECT_EQ(server_.EventText(), "");
    Frames small;
    small.emplace_back("ok", 2);
    Result<Reply> reply = to_server_.Request("echo", std::move(small), seconds(10)).get();
    ASSERT_TRUE(reply.ok()) << reply.status().ToString();
    ASSERT_EQ(reply->payload.size(), 1u);
    EXPECT_EQ(reply->payload[0].to_string(), "ok");
  }

  // Two back to back, the second sent before the first is acknowledged.
  void OneWay() {
    for (int i = 0; i < 2; ++i) {
      Frames frames;
      frames.push_back(pattern_.Message());
      ASSERT_TRUE(to_server_.Send(std::move(frames)).ok());
    }
    ASSERT_TRUE(server_.WaitForData(2, kDeadline)) << server_.EventText() << client_.EventText();
    {
      std::lock_guard<std::mutex> lock(server_.mu);
      for (size_t i = 0; i < 2; ++i) {
        ASSERT_EQ(server_.data[i].size(), 1u);
        ASSERT_EQ(server_.data[i][0].size(), kPayload);
        EXPECT_EQ(Pattern::Sum(server_.data[i][0].data(), kPayload), pattern_.sum())
            << "payload " << i << " differs";
      }
      server_.data.clear();  // 512 MiB
    }
    ASSERT_NO_FATAL_FAILURE(ExpectAliveAfterwards());
  }

  void RequestAndReply() {
    Frames frames;
    frames.push_back(pattern_.Message());
    Result<Reply> reply = to_server_.Request("echo", std::move(frames), kDeadline).get();
    ASSERT_TRUE(reply.ok()) << reply.status().ToString() << "; " << client_.EventText();
    ASSERT_EQ(reply->payload.size(), 1u);
    ASSERT_EQ(reply->payload[0].size(), kPayload);
    EXPECT_EQ(Pattern::Sum(reply->payload[0].data(), kPayload), pattern_.sum());
    reply = Result<Reply>(Reply{});  // its 256 MiB go now
    ASSERT_NO_FATAL_FAILURE(ExpectAliveAfterwards());
  }

  Pattern pattern_;
  LoopSide server_, client_;
  Connection to_server_;
};

TEST_F(BulkTest, OneWayPayloadsFourTimesTheResumeBufferArriveIntactAndTheSessionStaysUp) {
  ASSERT_NO_FATAL_FAILURE(OneWay());
}

TEST_F(BulkTest, RequestAndReplyOfFourTimesTheResumeBufferArriveIntactAndTheSessionStaysUp) {
  ASSERT_NO_FATAL_FAILURE(RequestAndReply());
}

}  // namespace
}  // namespace procmod
