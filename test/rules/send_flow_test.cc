// Flow control of Connection::Send to a peer this process dialed (send_window.h): a
// sender that outruns its peer waits for room instead of losing messages, gives up
// after timeouts.send, and is let go at once when the peer goes. A raw ROUTER plays
// the server and reads only when the test says so.
#include <gtest/gtest.h>

#include <cstring>

#include "support/module_fixture.h"

namespace procmod::testing {
namespace {

constexpr size_t kPayloadBytes = 4096;  // big enough that kernel buffers fill fast

std::string Numbered(uint32_t n) {
  std::string bytes(kPayloadBytes, 'x');
  std::memcpy(bytes.data(), &n, sizeof n);
  return bytes;
}

uint32_t NumberOf(const zmq::message_t& frame) {
  uint32_t n = 0;
  if (frame.size() >= sizeof n) std::memcpy(&n, frame.data(), sizeof n);
  return n;
}

class SendFlow : public ModuleTest {
 protected:
  // A client module connected to `server`, with a tiny send queue so that the
  // window (limits.send_queue) and ZeroMQ's SNDHWM fill after a few messages.
  Connection Dial(RawRouter& server, milliseconds send_timeout) {
    Options o = TestOptions(Role::kClient);
    o.server_url = server.endpoint();
    o.limits.send_queue = 8;
    o.timeouts.send = send_timeout;
    ProcessModule* client = Init(o);
    if (client == nullptr) return Connection();
    auto start = Async([client] { return client->Start(); });
    hello_ = server.AcceptHello("server", "slow-reader");
    if (!hello_ || start.wait_for(kDeadline) != std::future_status::ready) return Connection();
    Status s = start.get();
    EXPECT_TRUE(s.ok()) << s.ToString();
    std::vector<PeerInfo> peers = client->Connections();
    if (peers.size() != 1) return Connection();
    Result<Connection> server_connection = client->FindConnection(peers[0].session);
    return server_connection.ok() ? *server_connection : Connection();
  }

  // Sends numbered messages until one fails or `count` are sent; the failure.
  static std::future<Status> SendInALoop(Connection to, uint32_t count) {
    return std::async(std::launch::async, [to, count] {
      for (uint32_t i = 0; i < count; ++i) {
        if (Status s = to.Send(Numbered(i)); !s.ok()) return s;
      }
      return Status();
    });
  }

  std::optional<RawRouter::Incoming> hello_;
};

TEST_F(SendFlow, AFastSenderWaitsForItsPeerAndLosesNothing) {
  RawRouter server(context_);
  Connection to = Dial(server, milliseconds(0));
  ASSERT_TRUE(to.valid());
  constexpr uint32_t kCount = 5000;  // 20 MB: far more than every queue on the way
  std::future<Status> sender = SendInALoop(to, kCount);
  // The server reads nothing yet: the sender must be waiting for room.
  EXPECT_EQ(sender.wait_for(milliseconds(300)), std::future_status::timeout);

  for (uint32_t i = 0; i < kCount; ++i) {
    std::optional<RawRouter::Incoming> in = server.Receive();
    ASSERT_TRUE(in.has_value()) << "message " << i << " never came";
    ASSERT_EQ(in->message.command(), pmp::Command::kData);
    ASSERT_EQ(in->message.payload.size(), 1u);
    ASSERT_EQ(NumberOf(in->message.payload[0]), i) << "lost or reordered";
  }
  ASSERT_EQ(sender.wait_for(kDeadline), std::future_status::ready);
  Status s = sender.get();
  EXPECT_TRUE(s.ok()) << s.ToString();
  Result<PeerInfo> stats = to.Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->dropped, 0u);
}

TEST_F(SendFlow, GivesUpAfterTimeoutsSendWhenThePeerDoesNotRead) {
  RawRouter server(context_);
  Connection to = Dial(server, milliseconds(200));
  ASSERT_TRUE(to.valid());
  std::future<Status> sender = SendInALoop(to, 1'000'000);
  ASSERT_EQ(sender.wait_for(kDeadline), std::future_status::ready);
  Status s = sender.get();
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.ToString();
  EXPECT_NE(s.ToString().find("timeouts.send"), std::string::npos) << s.ToString();
}

TEST_F(SendFlow, AWaitingSenderIsLetGoWhenThePeerLeaves) {
  RawRouter server(context_);
  Connection to = Dial(server, milliseconds(0));  // would wait as long as the peer lives
  ASSERT_TRUE(to.valid());
  std::future<Status> sender = SendInALoop(to, 1'000'000);
  EXPECT_EQ(sender.wait_for(milliseconds(300)), std::future_status::timeout);

  server.SendTo(hello_->routing_id, pmp::Bye{"going away"});
  ASSERT_EQ(sender.wait_for(kDeadline), std::future_status::ready);
  Status s = sender.get();
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
}

// The other direction: a server sending to a client that connected to it never
// waits. A client that stops reading gets nothing more once its queue is full (the
// rest is dropped and counted), and the other clients are served as before.
TEST_F(SendFlow, AClientThatDoesNotReadNeitherStallsTheServerNorTheOthers) {
  Options o = TestOptions(Role::kServer);
  o.multiple_connections = true;
  o.limits.send_queue = 16;
  ProcessModule* server = StartAcceptor(o);
  ASSERT_NE(server, nullptr);
  server->RegisterHandler(
      "ping", [](IncomingRequest& r) { return Reply{.payload = std::move(r.payload)}; });
  RawDealer stuck(context_, endpoint_), reader(context_, endpoint_);
  std::optional<pmp::Welcome> stuck_welcome = stuck.Hello(MakeHello("client", "stuck"));
  ASSERT_TRUE(stuck_welcome.has_value());
  ASSERT_TRUE(reader.Hello(MakeHello("client", "reader")).has_value());
  Result<Connection> to_stuck = server->FindConnection(stuck_welcome->session);
  ASSERT_TRUE(to_stuck.ok());

  // 2,000 messages of 64 KiB (128 MB) to a client that reads none of them. Each
  // refers to one constant block instead of a copy of its own: the test then costs
  // the sanitizers (which shadow every byte copied) no more than the module does.
  static const std::string kBlock(65536, 'x');
  auto block = [] {
    Frames payload;
    payload.emplace_back(const_cast<char*>(kBlock.data()), kBlock.size(), nullptr, nullptr);
    return payload;
  };
  auto sender = Async([&] {
    for (uint32_t i = 0; i < 2000; ++i) {
      if (Status s = to_stuck->Send(block()); !s.ok()) return s;
    }
    return Status();
  });
  ASSERT_EQ(sender.wait_for(kDeadline), std::future_status::ready) << "Send waited";
  Status sent = sender.get();
  EXPECT_TRUE(sent.ok()) << sent.ToString();

  // The reader is answered as usual.
  for (uint64_t id = 1; id <= 20; ++id) {
    reader.Send(pmp::Request{.id = id, .method = "ping"}, TextFrames({"hi"}));
    std::optional<pmp::Message> reply = reader.Receive();
    ASSERT_TRUE(reply.has_value()) << "request " << id << " was not answered";
    ASSERT_EQ(reply->command(), pmp::Command::kReply);
    EXPECT_EQ(std::get<pmp::Reply>(reply->header).id, id);
  }
  // What did not fit was dropped and counted, not queued without bound.
  ASSERT_TRUE(Eventually([&] {
    Result<PeerInfo> stats = to_stuck->Stats();
    return stats.ok() && stats->dropped > 0 && stats->dropped + stats->msgs_out >= 2000;
  }));
  // Once everything between us is full (libzmq on the client side still takes up to
  // its RCVHWM while the kernel buffers drain), a REQUEST to it fails at once with a
  // typed error instead of waiting for its timeout.
  EXPECT_TRUE(Eventually([&] {
    for (int i = 0; i < 500; ++i) (void)to_stuck->Send(block());  // top the queue up
    ReplyFuture request = to_stuck->Request("status", {}, milliseconds(100));
    if (request.wait_for(milliseconds(20)) != std::future_status::ready) return false;
    return request.get().status().code() == StatusCode::kResourceExhausted;
  }));
}

}  // namespace
}  // namespace procmod::testing
