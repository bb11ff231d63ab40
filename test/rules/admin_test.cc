// The admin endpoint (docs/PROTOCOL.md §13): REQUEST without HELLO, answered from the identity
// table. Spoken to in raw frames, as procmod-monitor does.
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "support/module_fixture.h"

namespace procmod::testing {
namespace {

using json = nlohmann::json;

class Admin : public ModuleTest {
 protected:
  ProcessModule* StartWithAdmin(bool multi = true) {
    Options o = TestOptions(Role::kServer);
    o.multiple_connections = multi;
    o.admin.endpoint = "ipc:///tmp/procmod-admin-test-" + std::to_string(getpid());
    ProcessModule* module = StartAcceptor(o);
    admin_endpoint_ = module->AdminEndpoint();
    EXPECT_FALSE(admin_endpoint_.empty());
    return module;
  }

  // Sends REQUEST `method` with `args` to the admin endpoint; returns the REPLY.
  std::optional<pmp::Reply> Ask(const std::string& method, const json& args = nullptr) {
    RawDealer admin(context_, admin_endpoint_);
    pmp::Request request{.id = ++request_id_, .method = method};
    if (!args.is_null()) {
      std::vector<uint8_t> packed = json::to_msgpack(args);
      request.args.assign(packed.begin(), packed.end());
    }
    admin.Send(request);
    return As<pmp::Reply>(admin.Receive());
  }

  static json ResultOf(const pmp::Reply& reply) { return json::from_msgpack(reply.result); }

  std::string admin_endpoint_;
  uint64_t request_id_ = 0;
};

TEST_F(Admin, ConnectionsListShowsEveryPeerWithTheMaster) {
  StartWithAdmin();
  RawDealer a(context_, endpoint_), b(context_, endpoint_);
  ASSERT_TRUE(a.Hello(MakeHello("client", "alice")).has_value());
  ASSERT_TRUE(b.Hello(MakeHello("client", "bob")).has_value());
  std::optional<pmp::Reply> reply = Ask("connections.list");
  ASSERT_TRUE(reply.has_value());
  ASSERT_EQ(reply->code, 0u) << reply->error;
  json peers = ResultOf(*reply);
  ASSERT_TRUE(peers.is_array());
  ASSERT_EQ(peers.size(), 2u);
  EXPECT_EQ(peers[0]["name"], "alice");
  EXPECT_EQ(peers[0]["master"], true);
  EXPECT_EQ(peers[1]["name"], "bob");
  EXPECT_EQ(peers[1]["master"], false);
  for (const char* key : {"session", "role", "address", "state", "connected_ms", "idle_ms",
                          "rtt_us", "msgs_in", "msgs_out", "bytes_in", "bytes_out"}) {
    EXPECT_TRUE(peers[0].contains(key)) << key;
  }
  EXPECT_EQ(peers[0]["address"], "127.0.0.1");
}

TEST_F(Admin, ProcessInfoDescribesTheProcess) {
  StartWithAdmin();
  std::optional<pmp::Reply> reply = Ask("process.info");
  ASSERT_TRUE(reply.has_value());
  json info = ResultOf(*reply);
  EXPECT_EQ(info["name"], "under-test");
  EXPECT_EQ(info["role"], "server");
  EXPECT_EQ(info["mode"], "forward");
  EXPECT_EQ(info["multi"], true);
  EXPECT_EQ(info["listen"], endpoint_);
  EXPECT_EQ(info["pid"], getpid());
  EXPECT_EQ(info["accepting"], true);
}

TEST_F(Admin, ConnectionsCloseEndsASession) {
  ProcessModule* server = StartWithAdmin();
  RawDealer a(context_, endpoint_);
  std::optional<pmp::Welcome> welcome = a.Hello(MakeHello());
  ASSERT_TRUE(welcome.has_value());
  std::optional<pmp::Reply> reply = Ask("connections.close", {{"session", welcome->session}});
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->code, 0u) << reply->error;
  EXPECT_TRUE(As<pmp::Bye>(a.Receive()).has_value());
  EXPECT_TRUE(server->Connections().empty());
  std::optional<pmp::Reply> again = Ask("connections.close", {{"session", welcome->session}});
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->code, 404u);
  std::optional<pmp::Reply> bad = Ask("connections.close", {{"sess", 1}});
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->code, 400u);
}

TEST_F(Admin, DisablingFurtherConnectionsDenies409AndKeepsPeers) {
  ProcessModule* server = StartWithAdmin();
  RawDealer a(context_, endpoint_);
  ASSERT_TRUE(a.Hello(MakeHello()).has_value());
  ASSERT_EQ(Ask("collab.accept", {{"enabled", false}})->code, 0u);
  RawDealer b(context_, endpoint_);
  b.Send(MakeHello());
  auto deny = As<pmp::Deny>(b.Receive());
  ASSERT_TRUE(deny.has_value());
  EXPECT_EQ(deny->code, 409u);
  EXPECT_EQ(deny->reason, "further connections are disabled");
  EXPECT_EQ(server->Connections().size(), 1u);
  EXPECT_EQ(ResultOf(*Ask("process.info"))["accepting"], false);
  ASSERT_EQ(Ask("collab.accept", {{"enabled", true}})->code, 0u);
  RawDealer c(context_, endpoint_);
  EXPECT_TRUE(c.Hello(MakeHello()).has_value());
}

TEST_F(Admin, ChangingTheConnectIdAppliesToNewHellosOnly) {
  ProcessModule* server = StartWithAdmin();
  RawDealer a(context_, endpoint_);
  ASSERT_TRUE(a.Hello(MakeHello()).has_value());
  ASSERT_EQ(Ask("collab.connect_id", {{"id", 99}})->code, 0u);
  RawDealer old_id(context_, endpoint_);
  old_id.Send(MakeHello("client", "old", 0));
  auto deny = As<pmp::Deny>(old_id.Receive());
  ASSERT_TRUE(deny.has_value());
  EXPECT_EQ(deny->code, 403u);
  RawDealer new_id(context_, endpoint_);
  EXPECT_TRUE(new_id.Hello(MakeHello("client", "new", 99)).has_value());
  EXPECT_EQ(server->Connections().size(), 2u);
}

TEST_F(Admin, AnythingButARequestGetsError400AndUnknownMethods404) {
  StartWithAdmin();
  RawDealer admin(context_, admin_endpoint_);
  admin.Send(MakeHello());
  auto error = As<pmp::Error>(admin.Receive());
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->code, 400u);
  admin.SendFrames(TextFrames({"garbage"}));
  auto error2 = As<pmp::Error>(admin.Receive());
  ASSERT_TRUE(error2.has_value());
  EXPECT_EQ(error2->code, 400u);
  std::optional<pmp::Reply> unknown = Ask("no.such.method");
  ASSERT_TRUE(unknown.has_value());
  EXPECT_EQ(unknown->code, 404u);
}

TEST_F(Admin, NonLocalAdminEndpointIsRefusedWithoutCurve) {
  Options o = TestOptions(Role::kServer);
  o.admin.endpoint = "tcp://0.0.0.0:0";
  ProcessModule* module = Init(o);
  Status s = module->Start();
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_NE(s.ToString().find("CURVE"), std::string::npos);
}

TEST_F(Admin, AcceptConnectionsFalseStartsWithFurtherConnectionsDisabled) {
  Options o = TestOptions(Role::kServer);
  o.multiple_connections = true;
  o.accept_connections = false;
  StartAcceptor(o);
  RawDealer a(context_, endpoint_);
  a.Send(MakeHello());
  auto deny = As<pmp::Deny>(a.Receive());
  ASSERT_TRUE(deny.has_value());
  EXPECT_EQ(deny->code, 409u);
}

}  // namespace
}  // namespace procmod::testing
