// A message that takes longer than interval x liveness to arrive. Two process
// modules' I/O loops talk through a proxy that passes 2 MiB/s, with a 200 ms x 3
// heartbeat: a 3 MiB message is on its way for 1.5 s, while no whole message (nor the
// PINGs queued behind it) arrives. Bytes arriving are life (transport_activity.h):
// the session must stay up. A link that hangs mid-message (the proxy stops passing
// anything, its connections open) must still be taken for gone within about
// interval x liveness, and the session then resumes when the link comes back.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "io/io_loop.h"
#include "support/recording_proxy.h"

namespace procmod {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
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

// What one side's callbacks saw.
struct Side {
  std::shared_ptr<IoLoop> loop;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> data;    // each DATA's one frame
  std::vector<std::string> events;  // suspended, resumed, disconnected: why

  void Watch() {
    loop->SetOnData([this](const Connection&, std::string_view, Frames payload) {
      std::lock_guard<std::mutex> lock(mu);
      data.push_back(payload.empty() ? std::string() : payload[0].to_string());
      cv.notify_all();
    });
    loop->SetOnSuspended([this](const Connection&, milliseconds) { Note("suspended"); });
    loop->SetOnResumed([this](const Connection&) { Note("resumed"); });
    loop->SetOnDisconnected([this](const Connection&, const Disconnect& how) {
      Note(std::string(DisconnectReasonName(how.reason)) + ": " + how.message);
    });
  }
  void Note(std::string what) {
    std::lock_guard<std::mutex> lock(mu);
    events.push_back(std::move(what));
    cv.notify_all();
  }
  // False too when the session was suspended or ended meanwhile.
  bool WaitForData(size_t count) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_for(lock, kDeadline, [&] { return data.size() >= count || !events.empty(); });
    return data.size() >= count;
  }
  // Waits for an event that starts with `what`.
  bool WaitForEvent(const std::string& what, milliseconds timeout = kDeadline) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, timeout, [&] {
      for (const std::string& e : events) {
        if (e.rfind(what, 0) == 0) return true;
      }
      return false;
    });
  }
  std::string Events() {
    std::lock_guard<std::mutex> lock(mu);
    std::string out;
    for (const std::string& e : events) out += e + "; ";
    return out;
  }
};

class SlowLinkTest : public ::testing::Test {
 protected:
  void Start(bool resume) {
    auto server = IoLoop::Create(SideOptions(Role::kServer, resume));
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_.loop = *server;
    server_.Watch();
    server_.loop->SetHandler("echo", [](IncomingRequest& request) {
      return Reply{0, {}, {}, std::move(request.payload)};
    });
    ASSERT_TRUE(server_.loop->Bind(AdmissionPolicy{}, /*gated=*/false).ok());
    const std::string listen = server_.loop->ListenEndpoint();
    proxy_ = std::make_unique<RecordingProxy>(std::stoi(listen.substr(listen.rfind(':') + 1)));
    proxy_->SetRecording(false);
    auto client = IoLoop::Create(SideOptions(Role::kClient, resume));
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    client_.loop = *client;
    client_.Watch();
    Result<Connection> connection = client_.loop->Connect(proxy_->endpoint(), "server");
    ASSERT_TRUE(connection.ok()) << connection.status().ToString();
    to_server_ = *connection;
  }

  void TearDown() override {
    if (client_.loop) client_.loop->Shutdown();
    if (server_.loop) server_.loop->Shutdown();
  }

  void ExpectNoEvents() {
    EXPECT_EQ(server_.Events(), "");
    EXPECT_EQ(client_.Events(), "");
  }

  const std::string payload_ = Pattern(kPayload);
  Side server_, client_;
  std::unique_ptr<RecordingProxy> proxy_;
  Connection to_server_;
};

TEST_F(SlowLinkTest, AMessageArrivingForLongerThanTheExpiryDoesNotEndTheSession) {
  ASSERT_NO_FATAL_FAILURE(Start(/*resume=*/false));
  proxy_->SetRate(kRate);
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(to_server_.Send(OneFrame(payload_)).ok());
  ASSERT_TRUE(server_.WaitForData(1)) << server_.Events() << client_.Events();
  // It did take longer than interval x liveness: else this test shows nothing.
  EXPECT_GT(std::chrono::steady_clock::now() - start, kInterval * kLiveness * 2);
  {
    std::lock_guard<std::mutex> lock(server_.mu);
    EXPECT_TRUE(server_.data[0] == payload_) << "the payload changed on its way";
  }
  ExpectNoEvents();
}

TEST_F(SlowLinkTest, ARequestAndAReplyThatArriveSlowlyCompleteAndTheSessionStaysUp) {
  ASSERT_NO_FATAL_FAILURE(Start(/*resume=*/true));
  proxy_->SetRate(kRate);
  Result<Reply> reply = to_server_.Request("echo", OneFrame(payload_), kDeadline).get();
  ASSERT_TRUE(reply.ok()) << reply.status().ToString() << "; " << client_.Events();
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
  ASSERT_TRUE(server_.WaitForEvent("suspended", seconds(10))) << server_.Events();
  const auto noticed = std::chrono::steady_clock::now() - hung;
  // interval x liveness after the last byte, a tick (interval / 4) and the kernel's
  // clock: well under a second and a half.
  EXPECT_LT(noticed, milliseconds(1500));
  ASSERT_TRUE(client_.WaitForEvent("suspended", seconds(10))) << client_.Events();
  // The link comes back: the session resumes, and the message arrives, once, whole.
  proxy_->SetRate(std::nullopt);
  ASSERT_TRUE(server_.WaitForEvent("resumed")) << server_.Events();
  ASSERT_TRUE(client_.WaitForEvent("resumed")) << client_.Events();
  Result<Reply> reply = to_server_.Request("echo", OneFrame("after"), seconds(10)).get();
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  std::lock_guard<std::mutex> lock(server_.mu);
  ASSERT_EQ(server_.data.size(), 1u);
  EXPECT_TRUE(server_.data[0] == payload_) << "the payload changed on its way";
}

TEST_F(SlowLinkTest, WithoutResumeAHungLinkEndsAsExpired) {
  ASSERT_NO_FATAL_FAILURE(Start(/*resume=*/false));
  proxy_->SetRate(kRate);
  ASSERT_TRUE(to_server_.Send(OneFrame(payload_)).ok());
  std::this_thread::sleep_for(milliseconds(300));  // part of it is through: the scene
  proxy_->SetRate(0);
  ASSERT_TRUE(server_.WaitForEvent("expired", seconds(10))) << server_.Events();
  ASSERT_TRUE(client_.WaitForEvent("expired", seconds(10))) << client_.Events();
}

}  // namespace
}  // namespace procmod
