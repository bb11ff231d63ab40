// limits.max_message_size on an admitted session (PROTOCOL §7): a message whose
// frames together exceed it is answered ERROR 413 and dropped, undecoded; the session
// goes on. (A single frame over the limit is cut off by libzmq's ZMQ_MAXMSGSIZE,
// which drops the connection.)
#include <gtest/gtest.h>

#include "support/module_fixture.h"

namespace procmod::testing {
namespace {

constexpr size_t kLimit = 1024;

pmp::Frames TwoFramesOf(size_t bytes) {
  pmp::Frames frames;
  frames.emplace_back(std::string(bytes, 'a'));
  frames.emplace_back(std::string(bytes, 'b'));
  return frames;
}

class Limits : public ModuleTest {
 protected:
  // Each DATA `module` delivers: its payload bytes, into data_.
  void RecordData(ProcessModule* module) {
    module->OnData([this](const Connection&, std::string_view, Frames payload) {
      size_t bytes = 0;
      for (const auto& frame : payload) bytes += frame.size();
      data_.Push(bytes);
    });
  }

  Mailbox<size_t> data_;
};

TEST_F(Limits, AnOversizedMessageFromAClientGets413AndTheSessionGoesOn) {
  Options o = TestOptions(Role::kServer);
  o.limits.max_message_size = kLimit;
  ProcessModule* server = StartAcceptor(o);
  ASSERT_NE(server, nullptr);
  RecordData(server);
  server->RegisterHandler("ping", [](IncomingRequest&) { return Reply{}; });
  RawDealer client(context_, endpoint_);
  ASSERT_TRUE(client.Hello(MakeHello("client", "big")).has_value());

  client.Send(pmp::Data{}, TwoFramesOf(600));  // each frame fits, together 1,200 B
  std::optional<pmp::Message> answer = client.Receive();
  std::optional<pmp::Error> error = As<pmp::Error>(answer);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->code, 413u);
  EXPECT_NE(error->reason.find("max_message_size (1024)"), std::string::npos) << error->reason;

  client.Send(pmp::Data{}, TwoFramesOf(100));  // within the limit: delivered
  std::optional<size_t> delivered = data_.Pop();
  ASSERT_TRUE(delivered.has_value());
  EXPECT_EQ(*delivered, 200u);  // the big one never reached OnData
  client.Send(pmp::Request{.id = 7, .method = "ping"});
  std::optional<pmp::Reply> reply = As<pmp::Reply>(client.Receive());
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->id, 7u);
  EXPECT_EQ(server->Connections().size(), 1u);
}

TEST_F(Limits, AnOversizedMessageFromAServerGets413AndTheLinkStays) {
  RawRouter server(context_);
  Options o = TestOptions(Role::kClient);
  o.server_url = server.endpoint();
  o.limits.max_message_size = kLimit;
  ProcessModule* client = Init(o);
  ASSERT_NE(client, nullptr);
  RecordData(client);
  auto start = Async([client] { return client->Start(); });
  std::optional<RawRouter::Incoming> hello = server.AcceptHello("server");
  ASSERT_TRUE(hello.has_value());
  ASSERT_EQ(start.wait_for(kDeadline), std::future_status::ready);
  ASSERT_TRUE(start.get().ok());

  server.SendTo(hello->routing_id, pmp::Data{}, TwoFramesOf(600));
  std::optional<RawRouter::Incoming> answer = server.Receive();
  ASSERT_TRUE(answer.has_value());
  const auto* error = std::get_if<pmp::Error>(&answer->message.header);
  ASSERT_NE(error, nullptr);
  EXPECT_EQ(error->code, 413u);

  server.SendTo(hello->routing_id, pmp::Data{}, TwoFramesOf(100));
  std::optional<size_t> delivered = data_.Pop();
  ASSERT_TRUE(delivered.has_value());
  EXPECT_EQ(*delivered, 200u);
  EXPECT_EQ(client->Connections().size(), 1u);
}

}  // namespace
}  // namespace procmod::testing
