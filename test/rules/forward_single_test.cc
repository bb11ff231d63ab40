// Rules F1, F3, F4: the forward single-connection server, spoken to in raw frames.
#include <gtest/gtest.h>

#include "support/module_fixture.h"

namespace procmod::testing {
namespace {

class ForwardSingle : public ModuleTest {
 protected:
  ProcessModule* StartServer(uint64_t connect_id = 0, milliseconds heartbeat = milliseconds(1000)) {
    Options o = TestOptions(Role::kServer);
    o.connect_id = connect_id;
    o.heartbeat.interval = heartbeat;
    return StartAcceptor(o);
  }

  // Protocol 1.1: a reply whose payload is one frame of at most 1 KiB rides in the
  // envelope. A server that echoes gets payloads of 64 B, 1 KiB, 1 KiB + 1 and two
  // frames from a client of `version`; how many frames each reply had on the wire.
  std::vector<size_t> EchoedFrameCounts(std::string_view version) {
    ProcessModule* server = StartServer();
    if (server == nullptr) return {};
    server->RegisterHandler(
        "echo", [](IncomingRequest& r) { return Reply{.payload = std::move(r.payload)}; });
    RawDealer client(context_, endpoint_);
    pmp::Hello hello = MakeHello();
    hello.version = std::string(version);
    EXPECT_TRUE(client.Hello(hello).has_value());
    std::vector<pmp::Frames> payloads;
    for (size_t size : {size_t{64}, pmp::kMaxInlinePayload, pmp::kMaxInlinePayload + 1}) {
      payloads.push_back(TextFrames({std::string(size, 'x')}));
    }
    payloads.push_back(TextFrames({"a", "bc"}));
    std::vector<size_t> counts;
    uint64_t id = 0;
    for (pmp::Frames& payload : payloads) {
      const std::vector<std::string> sent = {Text(payload.front()), Text(payload.back())};
      client.Send(pmp::Request{.id = ++id, .method = "echo"}, std::move(payload));
      std::optional<pmp::Frames> frames = client.ReceiveFrames();
      if (!frames) break;
      counts.push_back(frames->size());
      // Whatever the layout, the payload reads back the same.
      pmp::Decoder decoder;
      Result<pmp::Message> reply = decoder.Decode(*frames);
      EXPECT_TRUE(reply.ok() && reply->command() == pmp::Command::kReply);
      if (reply.ok() && !reply->payload.empty()) {
        EXPECT_EQ(Text(reply->payload.front()), sent.front());
        EXPECT_EQ(Text(reply->payload.back()), sent.back());
      }
    }
    return counts;
  }
};

TEST_F(ForwardSingle, F1_ServerBindsAtStartAndWelcomesItsClient) {
  ProcessModule* server = StartServer();
  ASSERT_NE(server, nullptr);
  ASSERT_NE(endpoint_.find("tcp://127.0.0.1:"), std::string::npos);
  RawDealer client(context_, endpoint_);
  std::optional<pmp::Welcome> welcome = client.Hello(MakeHello("client", "viz-client"));
  ASSERT_TRUE(welcome.has_value());
  EXPECT_EQ(welcome->role, "server");
  EXPECT_EQ(welcome->name, "under-test");
  EXPECT_EQ(welcome->version, std::string(pmp::kProtocolVersion));
  EXPECT_EQ(welcome->heartbeat_ms, 1000u);
  EXPECT_EQ(welcome->liveness, 3u);
  EXPECT_FALSE(welcome->multi);
  ASSERT_EQ(server->Connections().size(), 1u);
  EXPECT_EQ(server->Connections()[0].name, "viz-client");
  EXPECT_EQ(server->Connections()[0].session, welcome->session);
  EXPECT_EQ(server->Connections()[0].address, "127.0.0.1");
}

TEST_F(ForwardSingle, F3_SecondClientIsDenied409AndForgotten) {
  ProcessModule* server = StartServer();
  RawDealer first(context_, endpoint_);
  ASSERT_TRUE(first.Hello(MakeHello("client", "first")).has_value());
  RawDealer second(context_, endpoint_);
  second.Send(MakeHello("client", "second"));
  std::optional<pmp::Message> answer = second.Receive();
  const auto deny = As<pmp::Deny>(answer);
  ASSERT_TRUE(deny.has_value());
  EXPECT_EQ(deny->code, 409u);
  // Forgotten: it has no session, so anything else it says gets ERROR 404.
  second.Send(pmp::Data{});
  const auto error = As<pmp::Error>(second.Receive());
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->code, 404u);
  ASSERT_EQ(server->Connections().size(), 1u);
  EXPECT_EQ(server->Connections()[0].name, "first");
  // Still 409 for every further HELLO.
  RawDealer third(context_, endpoint_);
  third.Send(MakeHello("client", "third"));
  const auto deny3 = As<pmp::Deny>(third.Receive());
  ASSERT_TRUE(deny3.has_value());
  EXPECT_EQ(deny3->code, 409u);
}

TEST_F(ForwardSingle, F4_RunEndsWhenTheClientSaysBye) {
  ProcessModule* server = StartServer();
  auto run = Async([server] { return server->Run(); });
  RawDealer client(context_, endpoint_);
  ASSERT_TRUE(client.Hello(MakeHello()).has_value());
  EXPECT_EQ(run.wait_for(milliseconds(100)), std::future_status::timeout);
  client.Send(pmp::Bye{"done"});
  ASSERT_EQ(run.wait_for(kDeadline), std::future_status::ready);
  EXPECT_EQ(run.get(), RunEnd::kPeerLeft);
  EXPECT_TRUE(server->Connections().empty());
}

TEST_F(ForwardSingle, F4_RunEndsWhenTheClientExpires) {
  ProcessModule* server = StartServer(0, milliseconds(100));
  RawDealer client(context_, endpoint_);
  ASSERT_TRUE(client.Hello(MakeHello()).has_value());
  const auto start = std::chrono::steady_clock::now();
  auto run = Async([server] { return server->Run(); });
  // The raw client never answers: gone after 100 ms x 3 (+ one interval of slack).
  ASSERT_EQ(run.wait_for(kDeadline), std::future_status::ready);
  EXPECT_EQ(run.get(), RunEnd::kPeerLost);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LE(took, milliseconds(300 + 100 + 50));
}

TEST_F(ForwardSingle, F4_AClientSendingOnlyGarbageExpiresAllTheSame) {
  ProcessModule* server = StartServer(0, milliseconds(100));
  RawDealer client(context_, endpoint_);
  ASSERT_TRUE(client.Hello(MakeHello()).has_value());
  auto run = Async([server] { return server->Run(); });
  // Bytes keep arriving on its TCP connection, but they make malformed messages:
  // not life, and not a big message on its way either.
  const auto deadline = std::chrono::steady_clock::now() + kDeadline;
  while (run.wait_for(milliseconds(20)) == std::future_status::timeout &&
         std::chrono::steady_clock::now() < deadline) {
    client.SendFrames(TextFrames({"PMP"}));
  }
  ASSERT_EQ(run.wait_for(milliseconds(0)), std::future_status::ready);
  EXPECT_EQ(run.get(), RunEnd::kPeerLost);
}

TEST_F(ForwardSingle, AcceptTimeoutEndsRunWhenNoClientCame) {
  Options o = TestOptions(Role::kServer);
  o.timeouts.accept = milliseconds(150);
  ProcessModule* server = StartAcceptor(o);
  auto run = Async([server] { return server->Run(); });
  ASSERT_EQ(run.wait_for(kDeadline), std::future_status::ready);
  EXPECT_EQ(run.get(), RunEnd::kAcceptTimeout);
}

TEST_F(ForwardSingle, ConnectIdMismatchIsDenied403) {
  StartServer(/*connect_id=*/42);
  RawDealer client(context_, endpoint_);
  client.Send(MakeHello("client", "c", /*connect_id=*/41));
  const auto deny = As<pmp::Deny>(client.Receive());
  ASSERT_TRUE(deny.has_value());
  EXPECT_EQ(deny->code, 403u);
  EXPECT_NE(deny->reason.find("connect-id"), std::string::npos);
  RawDealer good(context_, endpoint_);
  EXPECT_TRUE(good.Hello(MakeHello("client", "c", 42)).has_value());
}

TEST_F(ForwardSingle, MalformedMessageGetsError400AndHarmsNoSession) {
  ProcessModule* server = StartServer();
  RawDealer client(context_, endpoint_);
  ASSERT_TRUE(client.Hello(MakeHello()).has_value());
  RawDealer attacker(context_, endpoint_);
  attacker.SendFrames(TextFrames({"PMP1\x06garbage"}));
  const auto error = As<pmp::Error>(attacker.Receive());
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->code, 400u);
  // The admitted client garbles a message too: ERROR 400, and its session stays.
  client.SendFrames(TextFrames({"XXXX\x01\x80"}));
  const auto error2 = As<pmp::Error>(client.Receive());
  ASSERT_TRUE(error2.has_value());
  EXPECT_EQ(error2->code, 400u);
  EXPECT_EQ(server->Connections().size(), 1u);
}

TEST_F(ForwardSingle, OtherMajorVersionIsDenied426NamingBoth) {
  StartServer();
  RawDealer client(context_, endpoint_);
  pmp::Hello hello = MakeHello();
  hello.version = "2.0";
  client.Send(hello);
  const auto deny = As<pmp::Deny>(client.Receive());
  ASSERT_TRUE(deny.has_value());
  EXPECT_EQ(deny->code, 426u);
  EXPECT_NE(deny->reason.find("2.0"), std::string::npos);
  EXPECT_NE(deny->reason.find(std::string(pmp::kProtocolVersion)), std::string::npos);
}

TEST_F(ForwardSingle, ServerAnswersRequestsWithRegisteredHandlers) {
  ProcessModule* server = StartServer();
  server->RegisterHandler(
      "echo", [](IncomingRequest& r) { return Reply{.payload = std::move(r.payload)}; });
  RawDealer client(context_, endpoint_);
  ASSERT_TRUE(client.Hello(MakeHello()).has_value());
  client.Send(pmp::Request{.id = 7, .method = "echo"}, TextFrames({"a", "bc"}));
  std::optional<pmp::Message> answer = client.Receive();
  const auto reply = As<pmp::Reply>(answer);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->id, 7u);
  EXPECT_EQ(reply->code, 0u);
  ASSERT_EQ(answer->payload.size(), 2u);
  EXPECT_EQ(Text(answer->payload[1]), "bc");
  client.Send(pmp::Request{.id = 8, .method = "nope"});
  const auto unknown = As<pmp::Reply>(client.Receive());
  ASSERT_TRUE(unknown.has_value());
  EXPECT_EQ(unknown->code, 404u);
  EXPECT_NE(unknown->error.find("nope"), std::string::npos);
}

TEST_F(ForwardSingle, SmallPayloadsRideInTheEnvelopeToAPeerOfVersionOnePointOne) {
  EXPECT_EQ(EchoedFrameCounts("1.1"), (std::vector<size_t>{1, 1, 2, 3}));
}

TEST_F(ForwardSingle, APeerOfVersionOnePointZeroGetsPayloadFramesOfTheirOwn) {
  EXPECT_EQ(EchoedFrameCounts("1.0"), (std::vector<size_t>{2, 2, 2, 3}));
}

TEST_F(ForwardSingle, IdleServerPingsAndMeasuresRtt) {
  ProcessModule* server = StartServer(0, milliseconds(50));
  RawDealer client(context_, endpoint_);
  ASSERT_TRUE(client.Hello(MakeHello()).has_value());
  std::optional<pmp::Message> ping = client.Receive(kDeadline, /*skip_pings=*/false);
  const auto p = As<pmp::Ping>(ping);
  ASSERT_TRUE(p.has_value());
  // Echo it back at once: the server can then measure a round trip.
  client.Send(pmp::Ping{.t = 1, .echo = p->t, .held = 0});
  EXPECT_TRUE(Eventually([&] {
    auto peers = server->Connections();
    return !peers.empty() && peers[0].rtt.count() > 0;
  }));
}

}  // namespace
}  // namespace procmod::testing
