// Rule F2: the forward client connects in Start(), before the application goes on.
// Raw ROUTERs play the servers.
#include <gtest/gtest.h>

#include "support/daemons.h"
#include "support/module_fixture.h"

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

TEST_F(ForwardClient, F2_StartWaitsForAServerThatComesUpLater) {
  // A free port, where the server starts only after the client is already trying.
  const std::string endpoint = FreeTcpEndpoint(context_);
  ProcessModule* client = Init(DialingOptions(endpoint));
  auto start = Async([client] { return client->Start(); });
  EXPECT_EQ(start.wait_for(milliseconds(200)), std::future_status::timeout);
  zmq::socket_t late(context_, zmq::socket_type::router);
  late.set(zmq::sockopt::linger, 0);
  late.bind(endpoint);
  zmq::pollitem_t item{late.handle(), 0, ZMQ_POLLIN, 0};
  ASSERT_EQ(zmq::poll(&item, 1, kDeadline), 1);
  pmp::Frames frames;
  ASSERT_TRUE(zmq::recv_multipart(late, std::back_inserter(frames)));
  pmp::Welcome welcome{
      .session = "s", .role = "server", .version = "1.0", .heartbeat_ms = 1000, .liveness = 3};
  pmp::Frames out;
  out.push_back(std::move(frames[0]));
  for (auto& f : pmp::Encode(welcome)) out.push_back(std::move(f));
  zmq::send_multipart(late, out);
  ASSERT_EQ(start.wait_for(kDeadline), std::future_status::ready);
  EXPECT_TRUE(start.get().ok());
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

TEST_F(ForwardClient, NothingListeningFailsAfterTimeoutsConnect) {
  const std::string endpoint = FreeTcpEndpoint(context_);
  Options o = DialingOptions(endpoint);
  o.timeouts.connect = milliseconds(300);
  ProcessModule* client = Init(o);
  const auto begin = std::chrono::steady_clock::now();
  Status s = client->Start();
  EXPECT_TRUE(s.IsDeadlineExceeded()) << s.ToString();
  EXPECT_NE(s.ToString().find(endpoint), std::string::npos);
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
