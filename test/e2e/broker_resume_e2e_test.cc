// Sessions that survive a dropped link, through procmod-broker: a client's session to
// a server lives in the two process modules (their sequence numbers, replay buffers
// and the token), and the broker only carries it. So it survives either leg's drop
// and the broker's own restart. A real procmod-broker, two process modules' I/O
// loops in this process, and a cutting TCP proxy on each leg.
#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "io/io_loop.h"
#include "support/daemons.h"
#include "support/numbered_stream.h"
#include "support/recording_proxy.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"

namespace procmod {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::Numbered;
using testing::RecordingProxy;
using testing::ZeroTo;

constexpr milliseconds kWait{30000};
constexpr std::string_view kBrokerReady = "procmod-broker: ready on ";

int PortOf(const std::string& endpoint) {
  return std::stoi(endpoint.substr(endpoint.rfind(':') + 1));
}

// What one side received, in order, waited for with this file's deadline.
class Numbers : public testing::ReceivedNumbers {
 public:
  bool WaitFor(size_t count) { return ReceivedNumbers::WaitFor(count, kWait); }
  std::vector<uint32_t> Get() { return numbers(); }
};

Options LoopOptions(Role role) {
  Options o;
  o.name = role == Role::kClient ? "e2e-client" : "e2e-server";
  o.role = role;
  o.heartbeat.interval = milliseconds(100);
  o.heartbeat.liveness = 3;
  o.timeouts.handshake = milliseconds(1000);
  o.timeouts.connect = seconds(30);
  o.linger = milliseconds(0);
  o.resume.grace = seconds(30);
  return o;
}

class BrokerResume : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = dir_.Write("broker.yaml", "heartbeat: {interval: 100ms, liveness: 3}\n");
    StartBroker("tcp://127.0.0.1:0");
    ASSERT_FALSE(broker_endpoint_.empty());
    server_leg_ = std::make_unique<RecordingProxy>(PortOf(broker_endpoint_));
    client_leg_ = std::make_unique<RecordingProxy>(PortOf(broker_endpoint_));

    auto server = IoLoop::Create(LoopOptions(Role::kServer));
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = *server;
    server_->SetOnConnected([this](const Connection& c) {
      if (c.role() != "client") return;  // the broker's own WELCOME is not a client
      std::lock_guard<std::mutex> lock(mu_);
      to_client_ = c;
      joined_.notify_all();
    });
    server_->SetOnData([this](const Connection&, std::string_view, Frames p) { at_server_.Add(p); });
    Result<Connection> registered =
        server_->Connect("broker+" + server_leg_->endpoint() + "/viz", "");
    ASSERT_TRUE(registered.ok()) << registered.status().ToString();

    auto client = IoLoop::Create(LoopOptions(Role::kClient));
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    client_ = *client;
    client_->SetOnData([this](const Connection&, std::string_view, Frames p) { at_client_.Add(p); });
    client_->SetOnDisconnected([this](const Connection&, const Disconnect& how) {
      std::lock_guard<std::mutex> lock(mu_);
      client_ended_ = std::string(DisconnectReasonName(how.reason)) + ": " + how.message;
    });
    Result<Connection> to_server = client_->Connect("broker+" + client_leg_->endpoint() + "/viz", "");
    ASSERT_TRUE(to_server.ok()) << to_server.status().ToString();
    to_server_ = *to_server;
    std::unique_lock<std::mutex> lock(mu_);
    ASSERT_TRUE(joined_.wait_for(lock, kWait, [this] { return to_client_.valid(); }));
  }

  void TearDown() override {
    if (client_) client_->Shutdown();
    if (server_) server_->Shutdown();
    if (broker_) {
      broker_->Signal(SIGKILL);
      broker_->Wait(kWait);
    }
  }

  void StartBroker(const std::string& listen) {
    testing::Daemon broker = testing::StartDaemon(
        {PROCMOD_BROKER, "--config", config_, "--listen", listen, "--admin", "none"},
        kBrokerReady);
    broker_ = std::move(broker.process);
    broker_endpoint_ = broker.endpoint;
  }

  // `count` DATA each way, with `outage` (cut, held down, let up) in the middle.
  template <typename Outage>
  void StreamAcross(uint32_t count, Outage outage) {
    Connection to_client;
    {
      std::lock_guard<std::mutex> lock(mu_);
      to_client = to_client_;
    }
    for (uint32_t i = 0; i < count; ++i) {
      ASSERT_TRUE(to_server_.Send(Numbered(i)).ok()) << i;
      ASSERT_TRUE(to_client.Send(Numbered(i)).ok()) << i;
      if (i == count / 2) outage();
    }
    ASSERT_TRUE(at_server_.WaitFor(count)) << at_server_.Get().size() << " of " << count;
    ASSERT_TRUE(at_client_.WaitFor(count)) << at_client_.Get().size() << " of " << count;
    EXPECT_EQ(at_server_.Get(), ZeroTo(count));
    EXPECT_EQ(at_client_.Get(), ZeroTo(count));
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_EQ(client_ended_, "") << "the session went on";
  }

  static void Down(RecordingProxy& leg, milliseconds outage) {
    leg.SetDown(true);
    leg.Cut();
    std::this_thread::sleep_for(outage);  // the outage itself, not a synchronisation
    leg.SetDown(false);
  }

  testing::TempDir dir_;
  std::string config_;
  std::unique_ptr<testing::Subprocess> broker_;
  std::string broker_endpoint_;
  std::unique_ptr<RecordingProxy> server_leg_, client_leg_;
  std::shared_ptr<IoLoop> server_, client_;
  std::mutex mu_;
  std::condition_variable joined_;
  Connection to_client_, to_server_;
  std::string client_ended_;
  Numbers at_server_, at_client_;
};

TEST_F(BrokerResume, TheClientLegDropsAndEverythingArrivesOnceInOrder) {
  StreamAcross(2000, [&] { Down(*client_leg_, milliseconds(700)); });
}

TEST_F(BrokerResume, TheServerLegDropsAndEverythingArrivesOnceInOrder) {
  StreamAcross(2000, [&] { Down(*server_leg_, milliseconds(700)); });
}

TEST_F(BrokerResume, TheBrokerRestartsMidStreamAndEverythingArrivesOnceInOrder) {
  StreamAcross(2000, [&] {
    broker_->Signal(SIGKILL);
    ASSERT_TRUE(broker_->Wait(kWait).has_value());
    server_leg_->Cut();
    client_leg_->Cut();
    StartBroker(broker_endpoint_);  // an operator restarts it on its address
  });
}

TEST_F(BrokerResume, AServerEndsOneRelayedClientsSessionAndStaysRegistered) {
  Connection to_client;
  {
    std::lock_guard<std::mutex> lock(mu_);
    to_client = to_client_;
  }
  // BYE {peer} (protocol 1.2): the broker ends that client's session, not ours.
  ASSERT_TRUE(to_client.Close("closed by the server").ok());
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!client_ended_.empty()) break;
    }
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the client never heard";
    std::this_thread::sleep_for(milliseconds(10));  // polling a flag, with a deadline
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_EQ(client_ended_, "bye: closed by the server");
  }
  std::vector<PeerInfo> peers = server_->Snapshot();
  ASSERT_EQ(peers.size(), 1u) << "the server keeps its registration";
  EXPECT_EQ(peers[0].role, "broker");
  EXPECT_EQ(peers[0].state, "admitted");
}

}  // namespace
}  // namespace procmod
