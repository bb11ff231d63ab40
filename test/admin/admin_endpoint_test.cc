// AdminEndpoint: the one rule for where an admin endpoint may be, and the service
// on a real ROUTER: REQUEST answered through the target, anything else ERROR 400.
#include "admin/admin_endpoint.h"

#include <gtest/gtest.h>

#include <zmq_addon.hpp>

namespace procmod {
namespace {

using std::chrono::milliseconds;

TEST(CheckAdminEndpoint, LocalEndpointsNeedNoCurve) {
  for (const char* endpoint : {"ipc:///tmp/procmod-x.admin", "tcp://127.0.0.1:0",
                               "tcp://127.5.6.7:9000", "tcp://[::1]:9000", "tcp://localhost:9000"}) {
    EXPECT_TRUE(CheckAdminEndpoint(endpoint, /*curve=*/false).ok()) << endpoint;
  }
}

TEST(CheckAdminEndpoint, AReachableEndpointNeedsCurveAndSaysTheWaysOut) {
  for (const char* endpoint : {"tcp://0.0.0.0:9000", "tcp://*:9000", "tcp://10.1.2.3:9000"}) {
    const Status status = CheckAdminEndpoint(endpoint, /*curve=*/false);
    ASSERT_TRUE(status.IsInvalidArgument()) << endpoint;
    EXPECT_NE(status.message().find(endpoint), std::string::npos) << status.message();
    EXPECT_NE(status.message().find("CURVE"), std::string::npos) << status.message();
    EXPECT_NE(status.message().find("ipc://"), std::string::npos) << status.message();
    EXPECT_TRUE(CheckAdminEndpoint(endpoint, /*curve=*/true).ok()) << endpoint;
  }
}

TEST(AdminSpeaksCurve, OverTcpWhenTheProcessChecksKeysNeverOverIpc) {
  CurveSetup plain;
  CurveSetup checks;
  checks.enabled = true;
  checks.authorized_keys_dir = "/etc/procmod/clients";
  CurveSetup own_key_only;
  own_key_only.enabled = true;
  EXPECT_FALSE(AdminSpeaksCurve(plain, "tcp://127.0.0.1:9000"));
  EXPECT_TRUE(AdminSpeaksCurve(checks, "tcp://127.0.0.1:9000"));
  EXPECT_FALSE(AdminSpeaksCurve(checks, "ipc:///tmp/a.admin"));
  EXPECT_FALSE(AdminSpeaksCurve(checks, "inproc://admin"));
  EXPECT_FALSE(AdminSpeaksCurve(own_key_only, "tcp://127.0.0.1:9000"));
}

// Answers process.info with one field; the rest is never asked here.
class InfoOnly : public AdminTarget {
 public:
  std::vector<PeerInfo> AdminPeers() override { return {}; }
  nlohmann::json AdminProcessInfo() override { return {{"name", "unit"}}; }
  bool AdminCloseSession(const std::string&) override { return false; }
  void AdminSetAccepting(bool) override {}
  void AdminSetConnectId(uint64_t) override {}
  Result<nlohmann::json> AdminReloadKeys() override {
    return FailedPreconditionError("no keys");
  }
};

class AdminEndpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<AdminEndpoint>> admin =
        AdminEndpoint::Bind(context_, "tcp://127.0.0.1:0", CurveSetup{}, zap_, "unit");
    ASSERT_TRUE(admin.ok()) << admin.status().ToString();
    admin_ = std::move(*admin);
    client_.set(zmq::sockopt::linger, 0);
    client_.connect(admin_->endpoint());
  }

  // Sends `frames`, services the endpoint until an answer comes, and decodes it.
  Result<pmp::Message> Ask(pmp::Frames frames) {
    zmq::send_multipart(client_, frames);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline) {
      admin_->Service(target_);
      zmq::pollitem_t item{client_.handle(), 0, ZMQ_POLLIN, 0};
      if (zmq::poll(&item, 1, milliseconds(10)) > 0) {
        pmp::Frames answer;
        (void)zmq::recv_multipart(client_, std::back_inserter(answer));
        return pmp::Decoder().Decode(answer, 0);
      }
    }
    return DeadlineExceededError("no answer");
  }

  zmq::context_t context_;
  std::unique_ptr<ZapHandler> zap_;
  std::unique_ptr<AdminEndpoint> admin_;
  zmq::socket_t client_{context_, zmq::socket_type::dealer};
  InfoOnly target_;
};

TEST_F(AdminEndpointTest, ReportsTheRealPort) {
  EXPECT_TRUE(admin_->endpoint().starts_with("tcp://127.0.0.1:"));
  EXPECT_NE(admin_->endpoint(), "tcp://127.0.0.1:0");
}

TEST_F(AdminEndpointTest, ARequestIsAnsweredByTheTarget) {
  Result<pmp::Message> answer = Ask(pmp::Encode(pmp::Request{7, "process.info", "", {}}));
  ASSERT_TRUE(answer.ok()) << answer.status().ToString();
  ASSERT_EQ(answer->command(), pmp::Command::kReply);
  const auto& reply = std::get<pmp::Reply>(answer->header);
  EXPECT_EQ(reply.id, 7u);
  EXPECT_EQ(reply.code, 0u);
  EXPECT_FALSE(reply.result.empty());
}

TEST_F(AdminEndpointTest, AnythingButARequestGetsError400) {
  Result<pmp::Message> answer = Ask(pmp::Encode(pmp::Ping{1, {}, {}}));
  ASSERT_TRUE(answer.ok()) << answer.status().ToString();
  ASSERT_EQ(answer->command(), pmp::Command::kError);
  const auto& error = std::get<pmp::Error>(answer->header);
  EXPECT_EQ(error.code, pmp::kCodeMalformed);
  EXPECT_EQ(error.reason, "the admin endpoint answers REQUEST only");
}

TEST_F(AdminEndpointTest, GarbageGetsError400AndTheEndpointKeepsAnswering) {
  pmp::Frames garbage;
  garbage.emplace_back("not msgpack", 11);
  Result<pmp::Message> answer = Ask(std::move(garbage));
  ASSERT_TRUE(answer.ok()) << answer.status().ToString();
  EXPECT_EQ(answer->command(), pmp::Command::kError);
  answer = Ask(pmp::Encode(pmp::Request{8, "process.info", "", {}}));
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(answer->command(), pmp::Command::kReply);
}

TEST(AdminEndpointBind, ANonLocalEndpointWithoutCurveIsRefusedBeforeBinding) {
  zmq::context_t context;
  std::unique_ptr<ZapHandler> zap;
  Result<std::unique_ptr<AdminEndpoint>> admin =
      AdminEndpoint::Bind(context, "tcp://0.0.0.0:0", CurveSetup{}, zap, "unit");
  ASSERT_FALSE(admin.ok());
  EXPECT_TRUE(admin.status().IsInvalidArgument());
  EXPECT_EQ(zap, nullptr);
}

}  // namespace
}  // namespace procmod
