// Rule F2: the forward client connects in Start(), before the application goes on.
// Raw ROUTERs play the servers.
#include <gtest/gtest.h>

#include "support/daemons.h"
#include "support/module_fixture.h"
#include "support/temp_dir.h"

namespace procmod::testing {
namespace {

class ForwardClient : public ModuleTest {
 protected:
  // A forward client dialing `server_url`, and `render_server_url` too (as a render
  // client) when one is given.
  static Options DialingOptions(const std::string& server_url,
                                const std::string& render_server_url = "") {
    Options o = TestOptions(Role::kClient);
    o.server_url = server_url;
    o.render_client = !render_server_url.empty();
    o.render_server_url = render_server_url;
    return o;
  }

  // Protocol 1.1 on the dialing side: Send() and Request() put a small single-frame
  // payload in the envelope for a server of 1.1, and in a frame of its own for 1.0.
  // Returns the number of frames (routing id included) of a DATA and of a REQUEST.
  std::vector<size_t> DialedFrameCounts(RawRouter& server, std::string_view version) {
    ProcessModule* client = Init(DialingOptions(server.endpoint()));
    auto start = Async([client] { return client->Start(); });
    EXPECT_TRUE(server.AcceptHello("server", "pvserver", 1000, 3, version).has_value());
    EXPECT_EQ(start.wait_for(kDeadline), std::future_status::ready);
    if (!start.get().ok()) return {};
    Result<Connection> to = client->FindConnection(client->Connections().at(0).session);
    if (!to.ok()) return {};
    std::vector<size_t> counts;
    EXPECT_TRUE(to->Send(TextFrames({std::string(100, 'd')})).ok());
    if (auto frames = server.ReceiveFrames()) counts.push_back(frames->size());
    auto reply = to->Request("m", TextFrames({"payload"}), milliseconds(50));
    if (auto frames = server.ReceiveFrames()) counts.push_back(frames->size());
    (void)reply.get();  // unanswered: times out
    return counts;
  }

  Mailbox<DisconnectReason> gone_;  // outlives the module (see Mailbox)
};

TEST_F(ForwardClient, F2_StartConnectsBeforeReturning) {
  RawRouter server(context_);
  ProcessModule* client = Init(DialingOptions(server.endpoint()));
  auto start = Async([client] { return client->Start(); });
  std::optional<RawRouter::Incoming> hello = server.AcceptHello("server", "pvserver");
  ASSERT_TRUE(hello.has_value());
  const auto& h = std::get<pmp::Hello>(hello->message.header);
  EXPECT_EQ(h.role, "client");
  EXPECT_EQ(h.name, "under-test");
  EXPECT_EQ(h.version, std::string(pmp::kProtocolVersion));
  ASSERT_EQ(start.wait_for(kDeadline), std::future_status::ready);
  Status s = start.get();
  ASSERT_TRUE(s.ok()) << s.ToString();
  std::vector<PeerInfo> peers = client->Connections();
  ASSERT_EQ(peers.size(), 1u);
  EXPECT_EQ(peers[0].name, "pvserver");
  EXPECT_EQ(peers[0].role, "server");
  EXPECT_FALSE(peers[0].incoming);
}

TEST_F(ForwardClient, SmallPayloadsRideInTheEnvelopeToAServerOfVersionOnePointOne) {
  RawRouter server(context_);
  EXPECT_EQ(DialedFrameCounts(server, "1.1"), (std::vector<size_t>{2, 2}));
}

TEST_F(ForwardClient, AServerOfVersionOnePointZeroGetsPayloadFramesOfTheirOwn) {
  RawRouter server(context_);
  EXPECT_EQ(DialedFrameCounts(server, "1.0"), (std::vector<size_t>{3, 3}));
}

// Times `start` (a Start() or ConnectToRemote() call): a refused connect is an
// answer, so it fails with kUnavailable at once, well within timeouts.connect (10 s),
// naming `endpoint` when given.
template <typename Call>
void ExpectRefusedAtOnce(Call&& start, const std::string& endpoint = {}) {
  const auto begin = std::chrono::steady_clock::now();
  const Status s = start();
  EXPECT_LT(std::chrono::steady_clock::now() - begin, milliseconds(2000));
  EXPECT_TRUE(s.IsUnavailable()) << s.ToString();
  if (endpoint.empty()) {
    EXPECT_NE(s.message().find("connection refused"), std::string::npos) << s.ToString();
  } else {
    EXPECT_EQ(s.message(), endpoint + ": connection refused (nothing is listening there)");
  }
}

TEST_F(ForwardClient, F2_StartFailsAtOnceWhenNothingListens) {
  // A refused connect is an answer: no waiting out timeouts.connect for it.
  const std::string endpoint = FreeTcpEndpoint(context_);
  Options o = DialingOptions(endpoint);
  o.timeouts.connect = milliseconds(10000);
  ProcessModule* client = Init(o);
  ExpectRefusedAtOnce([client] { return client->Start(); }, endpoint);
}

TEST_F(ForwardClient, F2_StartFailsAtOnceWhenNoProcessListensOnAnIpcPath) {
  // Both kinds: no socket file at all, and one a killed server left behind.
  TempDir dir;
  const std::string stale = "ipc://" + dir.path() + "/stale.sock";
  { RawRouter gone(context_, stale); }  // libzmq leaves the file behind
  for (const std::string& endpoint : {"ipc://" + dir.path() + "/none.sock", stale}) {
    Options o = DialingOptions(endpoint);
    o.timeouts.connect = milliseconds(10000);
    ProcessModule* client = Init(o);
    ExpectRefusedAtOnce([client] { return client->Start(); });
    ProcessModule::Finalize();
  }
}

TEST_F(ForwardClient, M2_ConnectToRemoteFailsAtOnceWhenNothingListens) {
  const std::string endpoint = FreeTcpEndpoint(context_);
  Options o = TestOptions(Role::kClient);
  o.multiple_connections = true;
  o.timeouts.connect = milliseconds(10000);
  ProcessModule* client = Init(o);
  ASSERT_TRUE(client->Start().ok());
  RawRouter up(context_);
  auto first = Async([&] { return client->ConnectToRemote(up.endpoint()); });
  ASSERT_TRUE(up.AcceptHello("server").has_value());
  ASSERT_TRUE(first.get().ok());
  ExpectRefusedAtOnce([&] { return client->ConnectToRemote(endpoint).status(); });
  EXPECT_EQ(client->Connections().size(), 1u);  // the first server is not disturbed
}

TEST_F(ForwardClient, F2_RenderClientFailsAtOnceWhenNoRenderServerListens) {
  RawRouter data(context_);
  Options o = DialingOptions(data.endpoint(), FreeTcpEndpoint(context_));
  o.timeouts.connect = milliseconds(10000);
  ProcessModule* client = Init(o);
  auto start = Async([client] { return client->Start(); });
  ASSERT_TRUE(data.AcceptHello("data-server", "ds").has_value());
  ASSERT_EQ(start.wait_for(milliseconds(2000)), std::future_status::ready);
  Status s = start.get();
  EXPECT_TRUE(s.IsUnavailable()) << s.ToString();
  EXPECT_TRUE(client->Connections().empty());  // the data server was let go too
}

TEST_F(ForwardClient, ABrokerClientFailsAtOnceWhenNoBrokerListens) {
  const std::string endpoint = FreeTcpEndpoint(context_);
  Options o = TestOptions(Role::kClient, Mode::kBroker);
  o.broker_url = endpoint;
  o.service = "viz";
  o.timeouts.connect = milliseconds(10000);
  ProcessModule* client = Init(o);
  ExpectRefusedAtOnce([client] { return client->Start(); }, endpoint);
}

TEST_F(ForwardClient, F2_RenderClientConnectsToDataAndRenderServer) {
  RawRouter data(context_), render(context_);
  ProcessModule* client = Init(DialingOptions(data.endpoint(), render.endpoint()));
  auto start = Async([client] { return client->Start(); });
  ASSERT_TRUE(data.AcceptHello("data-server", "ds").has_value());
  ASSERT_TRUE(render.AcceptHello("render-server", "rs").has_value());
  ASSERT_EQ(start.wait_for(kDeadline), std::future_status::ready);
  Status s = start.get();
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(client->Connections().size(), 2u);
}

TEST_F(ForwardClient, F2_RenderClientRefusesAPeerOfTheWrongType) {
  RawRouter data(context_), render(context_);
  ProcessModule* client = Init(DialingOptions(data.endpoint(), render.endpoint()));
  auto start = Async([client] { return client->Start(); });
  ASSERT_TRUE(data.AcceptHello("data-server", "ds").has_value());
  // The "render server" says it is a data server.
  ASSERT_TRUE(render.AcceptHello("data-server", "impostor").has_value());
  ASSERT_EQ(start.wait_for(kDeadline), std::future_status::ready);
  Status s = start.get();
  ASSERT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_NE(s.ToString().find("expected a render-server"), std::string::npos);
  EXPECT_NE(s.ToString().find("impostor"), std::string::npos);
  EXPECT_TRUE(client->Connections().empty());  // the data server was let go too
}

TEST_F(ForwardClient, DenyIsATypedErrorWithTheServersReason) {
  RawRouter server(context_);
  ProcessModule* client = Init(DialingOptions(server.endpoint()));
  auto start = Async([client] { return client->Start(); });
  std::optional<RawRouter::Incoming> hello = server.Receive();
  ASSERT_TRUE(hello.has_value());
  server.SendTo(hello->routing_id, pmp::Deny{403, "connect-id 0 does not match"});
  ASSERT_EQ(start.wait_for(kDeadline), std::future_status::ready);
  Status s = start.get();
  EXPECT_TRUE(s.IsPermissionDenied()) << s.ToString();
  EXPECT_EQ(s.pmp_code(), 403u);
  EXPECT_NE(s.ToString().find("connect-id 0 does not match"), std::string::npos);
}

TEST_F(ForwardClient, AServerThatNeverAnswersFailsAfterTimeoutsConnect) {
  // Listening, so the transport comes up: only timeouts.connect ends the wait.
  RawRouter mute(context_);
  Options o = DialingOptions(mute.endpoint());
  o.timeouts.connect = milliseconds(300);
  ProcessModule* client = Init(o);
  const auto begin = std::chrono::steady_clock::now();
  Status s = client->Start();
  EXPECT_TRUE(s.IsDeadlineExceeded()) << s.ToString();
  EXPECT_NE(s.ToString().find(mute.endpoint()), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - begin, milliseconds(2000));
}

TEST_F(ForwardClient, RunEndsWhenTheServerSaysBye) {
  RawRouter server(context_);
  ProcessModule* client = Init(DialingOptions(server.endpoint()));
  auto start = Async([client] { return client->Start(); });
  auto hello = server.AcceptHello("server");
  ASSERT_TRUE(hello.has_value());
  ASSERT_TRUE(start.get().ok());
  server.SendTo(hello->routing_id, pmp::Bye{"server shutting down"});
  auto run = Async([client] { return client->Run(); });
  ASSERT_EQ(run.wait_for(kDeadline), std::future_status::ready);
  EXPECT_EQ(run.get(), RunEnd::kPeerLeft);
}

TEST_F(ForwardClient, ClientExpiresASilentServer) {
  RawRouter server(context_);
  ProcessModule* client = Init(DialingOptions(server.endpoint()));
  client->OnDisconnected([this](const Connection&, DisconnectReason r) { gone_.Push(r); });
  auto start = Async([client] { return client->Start(); });
  // The server announces a 100 ms heartbeat, then never speaks again.
  ASSERT_TRUE(server.AcceptHello("server", "mute", 100, 3).has_value());
  ASSERT_TRUE(start.get().ok());
  const auto begin = std::chrono::steady_clock::now();
  std::optional<DisconnectReason> reason = gone_.Pop();
  ASSERT_TRUE(reason.has_value());
  EXPECT_EQ(*reason, DisconnectReason::kExpired);
  EXPECT_LE(std::chrono::steady_clock::now() - begin, milliseconds(300 + 100 + 50));
}

}  // namespace
}  // namespace procmod::testing
