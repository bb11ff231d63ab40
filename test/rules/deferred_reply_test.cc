// A handler that answers later (IncomingRequest::Defer): the REPLY goes out when
// another thread sends it, requests after it are answered meanwhile, one never sent
// answers 500, and one sent after its client left is dropped. A raw DEALER is the
// client of a real module.
#include <gtest/gtest.h>

#include <thread>

#include "support/module_fixture.h"

namespace procmod::testing {
namespace {

class Deferred : public ModuleTest {
 protected:
  void SetUp() override {
    Options o = TestOptions(Role::kServer);
    o.multiple_connections = true;
    server_ = StartAcceptor(o);
    ASSERT_NE(server_, nullptr);
    server_->RegisterHandler("later", [this](IncomingRequest& r) {
      later_.Push(r.Defer());
      return Reply{.code = 500, .error = "ignored: the reply was deferred"};
    });
    server_->RegisterHandler("now", [](IncomingRequest&) { return Reply{.result = "\xc3"}; });
    server_->RegisterHandler("dropped", [](IncomingRequest& r) {
      DeferredReply unsent = r.Defer();  // destroyed unsent when the handler returns
      return Reply{};
    });
  }

  std::optional<pmp::Reply> ReplyTo(RawDealer& client, uint64_t id) {
    std::optional<pmp::Reply> reply = As<pmp::Reply>(client.Receive());
    if (reply) {
      EXPECT_EQ(reply->id, id);
    }
    return reply;
  }

  ProcessModule* server_ = nullptr;
  Mailbox<DeferredReply> later_;
};

TEST_F(Deferred, AnsweredFromAnotherThreadWhileLaterRequestsAreAnswered) {
  RawDealer client(context_, endpoint_);
  ASSERT_TRUE(client.Hello(MakeHello("client", "c")).has_value());
  client.Send(pmp::Request{.id = 1, .method = "later"}, TextFrames({"question"}));
  std::optional<DeferredReply> answer = later_.Pop();
  ASSERT_TRUE(answer.has_value());
  EXPECT_TRUE(answer->pending());

  client.Send(pmp::Request{.id = 2, .method = "now"});
  std::optional<pmp::Reply> now = ReplyTo(client, 2);  // not held up by request 1
  ASSERT_TRUE(now.has_value());
  EXPECT_EQ(now->code, 0u);

  std::thread worker([&answer] {
    answer->Send(Reply{.payload = TextFrames({"answer"})});
    answer->Send(Reply{.code = 500, .error = "a second Send does nothing"});
  });
  worker.join();
  std::optional<pmp::Message> m = client.Receive();
  std::optional<pmp::Reply> reply = As<pmp::Reply>(m);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->id, 1u);
  EXPECT_EQ(reply->code, 0u);
  ASSERT_EQ(m->payload.size(), 1u);
  EXPECT_EQ(Text(m->payload[0]), "answer");
  EXPECT_FALSE(client.Receive(milliseconds(200)).has_value());  // one REPLY, not two
}

TEST_F(Deferred, OneNeverSentAnswers500SoTheClientDoesNotWaitForever) {
  RawDealer client(context_, endpoint_);
  ASSERT_TRUE(client.Hello(MakeHello("client", "c")).has_value());
  client.Send(pmp::Request{.id = 7, .method = "dropped"});
  std::optional<pmp::Reply> reply = ReplyTo(client, 7);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->code, 500u);
  EXPECT_NE(reply->error.find("no reply"), std::string::npos) << reply->error;
}

TEST_F(Deferred, SentAfterItsClientLeftIsDroppedAndNothingBreaks) {
  {
    RawDealer client(context_, endpoint_);
    ASSERT_TRUE(client.Hello(MakeHello("client", "gone")).has_value());
    client.Send(pmp::Request{.id = 1, .method = "later"});
    std::optional<DeferredReply> answer = later_.Pop();
    ASSERT_TRUE(answer.has_value());
    client.Send(pmp::Bye{.reason = "bye"});
    ASSERT_TRUE(Eventually([this] { return server_->Connections().empty(); }));
    answer->Send(Reply{.payload = TextFrames({"too late"})});
  }
  RawDealer next(context_, endpoint_);
  ASSERT_TRUE(next.Hello(MakeHello("client", "next")).has_value());
  next.Send(pmp::Request{.id = 2, .method = "now"});
  std::optional<pmp::Reply> reply = ReplyTo(next, 2);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->code, 0u);
}

}  // namespace
}  // namespace procmod::testing
