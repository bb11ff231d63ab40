// A message that takes longer than interval x liveness to arrive. Two process
// modules' I/O loops talk through a proxy that passes 2 MiB/s, with a 200 ms x 3
// heartbeat: a 3 MiB message is on its way for 1.5 s, while no whole message (nor the
// PINGs queued behind it) arrives. Bytes arriving are life (transport_activity.h):
// the session must stay up. A link that hangs mid-message (the proxy stops passing
// anything, its connections open) must still be taken for gone within about
// interval x liveness, and the session then resumes when the link comes back.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "io/io_loop.h"
#include "support/loop_side.h"
#include "support/recording_proxy.h"

namespace procmod {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::LoopSide;
using testing::RecordingProxy;

constexpr milliseconds kInterval{200};
constexpr uint32_t kLiveness = 3;
constexpr size_t kRate = size_t{2} << 20;     // bytes per second through the proxy
constexpr size_t kPayload = size_t{3} << 20;  // 1.5 s at kRate
constexpr milliseconds kDeadline{30000};

Options SideOptions(Role role, bool resume) {
  Options o;
  o.name = role == Role::kClient ? "slow-client" : "slow-server";
  o.role = role;
  o.listen = "tcp://127.0.0.1:0";
  o.heartbeat.interval = kInterval;
  o.heartbeat.liveness = kLiveness;
  o.linger = milliseconds(0);
  if (!resume) o.resume.grace = milliseconds(0);
  return o;
}

// Each byte differs from its neighbours: a lost, repeated or moved stretch shows.
std::string Pattern(size_t size) {
  std::string bytes(size, '\0');
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>((i * 131 + i / 251) & 0xff);
  return bytes;
}

Frames OneFrame(const std::string& bytes) {
  Frames frames;
  frames.emplace_back(bytes.data(), bytes.size());
  return frames;
}

class SlowLinkTest : public ::testing::Test {
 protected:
  void Start(bool resume) {
    ASSERT_TRUE(server_.Start(SideOptions(Role::kServer, resume), /*echo=*/true));
    ASSERT_TRUE(server_.loop->Bind(AdmissionPolicy{}, /*gated=*/false).ok());
    const std::string listen = server_.loop->ListenEndpoint();
    proxy_ = std::make_unique<RecordingProxy>(std::stoi(listen.substr(listen.rfind(':') + 1)));
    proxy_->SetRecording(false);
    ASSERT_TRUE(client_.Start(SideOptions(Role::kClient, resume)));
    Result<Connection> connection = client_.loop->Connect(proxy_->endpoint(), "server");
    ASSERT_TRUE(connection.ok()) << connection.status().ToString();
    to_server_ = *connection;
  }

  // One DATA arrived, and it is the payload sent.
  bool ServerGotThePayloadOnce() {
    std::lock_guard<std::mutex> lock(server_.mu);
    return server_.data.size() == 1 && server_.data[0].size() == 1 &&
           server_.data[0][0].to_string() == payload_;
  }

  void ExpectNoEvents() {
    EXPECT_EQ(server_.EventText(), "");
    EXPECT_EQ(client_.EventText(), "");
  }

  const std::string payload_ = Pattern(kPayload);
  LoopSide server_, client_;
  std::unique_ptr<RecordingProxy> proxy_;
  Connection to_server_;
};

TEST_F(SlowLinkTest, AMessageArrivingForLongerThanTheExpiryDoesNotEndTheSession) {
  ASSERT_NO_FATAL_FAILURE(Start(/*resume=*/false));
  proxy_->SetRate(kRate);
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(to_server_.Send(OneFrame(payload_)).ok());
  ASSERT_TRUE(server_.WaitForData(1, kDeadline)) << server_.EventText() << client_.EventText();
  // It did take longer than interval x liveness: else this test shows nothing.
  EXPECT_GT(std::chrono::steady_clock::now() - start, kInterval * kLiveness * 2);
  EXPECT_TRUE(ServerGotThePayloadOnce()) << "the payload changed on its way";
  ExpectNoEvents();
}

TEST_F(SlowLinkTest, ARequestAndAReplyThatArriveSlowlyCompleteAndTheSessionStaysUp) {
  ASSERT_NO_FATAL_FAILURE(Start(/*resume=*/true));
  proxy_->SetRate(kRate);
  Result<Reply> reply = to_server_.Request("echo", OneFrame(payload_), kDeadline).get();
  ASSERT_TRUE(reply.ok()) << reply.status().ToString() << "; " << client_.EventText();
  ASSERT_EQ(reply->payload.size(), 1u);
  EXPECT_TRUE(reply->payload[0].to_string() == payload_) << "the payload changed on its way";
  ExpectNoEvents();
  // And the session is as it was: a small request, at full speed again.
  proxy_->SetRate(std::nullopt);
  reply = to_server_.Request("echo", OneFrame("ok"), seconds(10)).get();
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  ExpectNoEvents();
}

TEST_F(SlowLinkTest, ALinkThatHangsMidMessageIsStillTakenForGoneAndResumesAfterwards) {
  ASSERT_NO_FATAL_FAILURE(Start(/*resume=*/true));
  proxy_->SetRate(kRate);
  ASSERT_TRUE(to_server_.Send(OneFrame(payload_)).ok());
  std::this_thread::sleep_for(milliseconds(300));  // part of it is through: the scene
  proxy_->SetRate(0);  // nothing passes any more; both connections stay open
  const auto hung = std::chrono::steady_clock::now();
  ASSERT_TRUE(server_.WaitForEvent("suspended", seconds(10))) << server_.EventText();
  const auto noticed = std::chrono::steady_clock::now() - hung;
  // interval x liveness after the last byte, a tick (interval / 4) and the kernel's
  // clock: well under a second and a half.
  EXPECT_LT(noticed, milliseconds(1500));
  ASSERT_TRUE(client_.WaitForEvent("suspended", seconds(10))) << client_.EventText();
  // The link comes back: the session resumes, and the message arrives, once, whole.
  proxy_->SetRate(std::nullopt);
  ASSERT_TRUE(server_.WaitForEvent("resumed", kDeadline)) << server_.EventText();
  ASSERT_TRUE(client_.WaitForEvent("resumed", kDeadline)) << client_.EventText();
  Result<Reply> reply = to_server_.Request("echo", OneFrame("after"), seconds(10)).get();
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  EXPECT_TRUE(ServerGotThePayloadOnce()) << "lost, repeated or changed on its way";
}

TEST_F(SlowLinkTest, WithoutResumeAHungLinkEndsAsExpired) {
  ASSERT_NO_FATAL_FAILURE(Start(/*resume=*/false));
  proxy_->SetRate(kRate);
  ASSERT_TRUE(to_server_.Send(OneFrame(payload_)).ok());
  std::this_thread::sleep_for(milliseconds(300));  // part of it is through: the scene
  proxy_->SetRate(0);
  ASSERT_TRUE(server_.WaitForEvent("expired", seconds(10))) << server_.EventText();
  ASSERT_TRUE(client_.WaitForEvent("expired", seconds(10))) << client_.EventText();
}

}  // namespace
}  // namespace procmod
