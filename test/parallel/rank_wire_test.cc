// What rank 0 broadcasts and each rank answers survives the trip as bytes, and bytes
// that are not one are a typed error, never a crash. The reducers a parallel method
// names make the one REPLY a client gets.
#include <gtest/gtest.h>

#include <msgpack.hpp>

#include "parallel/rank_wire.h"
#include "procmod/parallel.h"
#include "support/raw_peer.h"

namespace procmod::testing {
namespace {

std::string PackValue(const auto& value) {
  msgpack::sbuffer buffer;
  msgpack::pack(buffer, value);
  return std::string(buffer.data(), buffer.size());
}

TEST(RankWire, ACommandComesBackAsItWasSent) {
  RankCommand sent{RankCommand::kRequest, 0, "parallel.sum", PackValue(42),
                   TextFrames({"a", std::string(5000, 'b'), ""})};
  Result<RankCommand> got = DecodeCommand(EncodeCommand(sent));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->op, RankCommand::kRequest);
  EXPECT_EQ(got->method, "parallel.sum");
  EXPECT_EQ(got->args, sent.args);
  ASSERT_EQ(got->payload.size(), 3u);
  EXPECT_EQ(Text(got->payload[1]), std::string(5000, 'b'));
  EXPECT_EQ(got->payload[2].size(), 0u);

  Result<RankCommand> stop = DecodeCommand(EncodeCommand(RankCommand{RankCommand::kStop, 3}));
  ASSERT_TRUE(stop.ok());
  EXPECT_EQ(stop->op, RankCommand::kStop);
  EXPECT_EQ(stop->exit_code, 3);
}

TEST(RankWire, AnAnswerComesBackAsItWasSent) {
  Result<Reply> got =
      DecodeAnswer(EncodeAnswer(Reply{404, "no such method", "", TextFrames({"x"})}));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->code, 404u);
  EXPECT_EQ(got->error, "no such method");
  ASSERT_EQ(got->payload.size(), 1u);
}

TEST(RankWire, BytesThatAreNoCommandAreATypedError) {
  for (const std::string& bad : {std::string(), std::string("\xc1"), PackValue(7),
                                 PackValue(std::vector<int>{1, 2}), std::string("\x95\x01")}) {
    Result<RankCommand> command = DecodeCommand(bad);
    EXPECT_FALSE(command.ok());
    Result<Reply> answer = DecodeAnswer(bad);
    EXPECT_FALSE(answer.ok());
  }
}

TEST(Reducers, SumAddsIntegersExactlyAndFloatsAsFloats) {
  std::vector<Reply> answers(3);
  answers[0].result = PackValue(1);
  answers[1].result = PackValue(-2);
  answers[2].result = PackValue(int64_t{1} << 40);
  Reply whole = reduce::Sum(answers);
  EXPECT_EQ(whole.code, 0u);
  EXPECT_EQ(msgpack::unpack(whole.result.data(), whole.result.size())->as<int64_t>(),
            (int64_t{1} << 40) - 1);
  answers[1].result = PackValue(0.5);
  Reply real = reduce::Sum(answers);
  EXPECT_DOUBLE_EQ(msgpack::unpack(real.result.data(), real.result.size())->as<double>(),
                   1.5 + static_cast<double>(int64_t{1} << 40));
}

TEST(Reducers, SumOfSomethingThatIsNoNumberNamesTheRank) {
  std::vector<Reply> answers(2);
  answers[0].result = PackValue(1);
  answers[1].result = PackValue(std::string("two"));
  Reply reply = reduce::Sum(answers);
  EXPECT_EQ(reply.code, 500u);
  EXPECT_NE(reply.error.find("rank 1"), std::string::npos) << reply.error;
}

TEST(Reducers, ConcatenateKeepsRankOrderOfResultsAndFrames) {
  std::vector<Reply> answers(3);
  answers[0].result = PackValue(std::string("zero"));
  answers[0].payload = TextFrames({"a"});
  answers[2].result = PackValue(2);
  answers[2].payload = TextFrames({"c", "d"});
  Reply reply = reduce::Concatenate(answers);
  msgpack::object_handle results = msgpack::unpack(reply.result.data(), reply.result.size());
  ASSERT_EQ(results->type, msgpack::type::ARRAY);
  ASSERT_EQ(results->via.array.size, 3u);
  EXPECT_EQ(results->via.array.ptr[0].as<std::string>(), "zero");
  EXPECT_TRUE(results->via.array.ptr[1].is_nil());
  EXPECT_EQ(results->via.array.ptr[2].as<int>(), 2);
  ASSERT_EQ(reply.payload.size(), 3u);
  EXPECT_EQ(Text(reply.payload[0]), "a");
  EXPECT_EQ(Text(reply.payload[2]), "d");
}

TEST(Reducers, FirstIsRankZerosAnswer) {
  std::vector<Reply> answers(2);
  answers[0].result = PackValue(0);
  answers[1].result = PackValue(1);
  EXPECT_EQ(reduce::First(answers).result, PackValue(0));
}

}  // namespace
}  // namespace procmod::testing
