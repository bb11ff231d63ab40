// ResumeState: numbering, the replay buffer and its bound, what arrives twice or
// out of order, and when acknowledgements and resend requests are due.
#include "session/resume_state.h"

#include <cstring>
#include <span>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace procmod {
namespace {

using Frames = std::vector<zmq::message_t>;

Frames Message(const std::string& text) {
  Frames frames;
  frames.emplace_back(text.data(), text.size());
  return frames;
}

std::string Text(const Frames& frames) { return frames.at(0).to_string(); }

std::span<const char> BytesOf(const zmq::message_t& frame) {
  return {frame.data<char>(), frame.size()};
}

TEST(ResumeStateTest, NumbersEachDirectionFromOne) {
  ResumeState resume("t", std::chrono::seconds(60), 1 << 20);
  EXPECT_EQ(resume.sent(), 0u);
  EXPECT_EQ(resume.NextSeq(), 1u);
  EXPECT_EQ(resume.NextSeq(), 2u);
  EXPECT_EQ(resume.sent(), 2u);
  EXPECT_EQ(resume.received(), 0u);
}

TEST(ResumeStateTest, KeepsUntilAcknowledgedAndSendsAgainWhatThePeerMissed) {
  ResumeState resume("t", std::chrono::seconds(60), 1 << 20);
  for (int i = 1; i <= 5; ++i) {
    Frames frames = Message("m" + std::to_string(i));
    const uint64_t seq = resume.NextSeq();
    ASSERT_TRUE(resume.Keep(seq, frames));
    EXPECT_EQ(Text(frames), "m" + std::to_string(i)) << "the original stays sendable";
  }
  EXPECT_EQ(resume.kept_messages(), 5u);
  EXPECT_EQ(resume.kept_bytes(), 10u);
  resume.Acknowledge(2);
  EXPECT_EQ(resume.kept_messages(), 3u);
  EXPECT_EQ(resume.kept_bytes(), 6u);

  std::vector<Frames> again = resume.Unacknowledged(3);  // the peer had up to 3
  ASSERT_EQ(again.size(), 2u);
  EXPECT_EQ(Text(again[0]), "m4");
  EXPECT_EQ(Text(again[1]), "m5");
  EXPECT_EQ(resume.kept_messages(), 3u) << "sent again, still kept until acknowledged";
  resume.Acknowledge(5);
  EXPECT_EQ(resume.kept_messages(), 0u);
  EXPECT_EQ(resume.kept_bytes(), 0u);
}

TEST(ResumeStateTest, KeepsAnEnvelopeAndItsPayloadAsOneMessage) {
  ResumeState resume("t", std::chrono::seconds(60), 1 << 20);
  zmq::message_t envelope("env", 3);
  Frames payload = Message(std::string(4096, 'x'));
  ASSERT_TRUE(resume.Keep(resume.NextSeq(), BytesOf(envelope), payload));
  EXPECT_EQ(resume.kept_bytes(), 3u + 4096u);
  std::vector<Frames> again = resume.Unacknowledged(0);
  ASSERT_EQ(again.size(), 1u);
  ASSERT_EQ(again[0].size(), 2u);
  EXPECT_EQ(again[0][0].to_string(), "env");
  EXPECT_EQ(again[0][1].size(), 4096u);
}

TEST(ResumeStateTest, WhatIsSentAgainIsWhatWasKeptAcrossManyAcknowledgements) {
  // Small frames are copied into one log that drops its acknowledged head as it
  // goes; large ones are shared. Either way the bytes sent again are the originals.
  ResumeState resume("t", std::chrono::seconds(60), 64 << 20);
  const std::string big(5000, 'B');
  uint64_t acked = 0;
  for (uint32_t i = 1; i <= 20000; ++i) {
    zmq::message_t envelope(&i, sizeof i);
    Frames payload;
    if (i % 1000 == 0) payload.emplace_back(big.data(), big.size());
    ASSERT_TRUE(resume.Keep(resume.NextSeq(), BytesOf(envelope), payload));
    if (i % 700 == 0) resume.Acknowledge(acked = i - 50);
  }
  std::vector<Frames> again = resume.Unacknowledged(acked);
  ASSERT_EQ(again.size(), 20000 - acked);
  for (size_t k = 0; k < again.size(); ++k) {
    const uint32_t expected = static_cast<uint32_t>(acked + 1 + k);
    uint32_t n = 0;
    ASSERT_EQ(again[k][0].size(), sizeof n);
    std::memcpy(&n, again[k][0].data(), sizeof n);
    ASSERT_EQ(n, expected);
    ASSERT_EQ(again[k].size(), expected % 1000 == 0 ? 2u : 1u);
    if (again[k].size() == 2) {
      EXPECT_EQ(again[k][1].to_string(), big);
    }
  }
  resume.Acknowledge(20000);
  EXPECT_EQ(resume.kept_bytes(), 0u);
  EXPECT_EQ(resume.kept_messages(), 0u);
}

TEST(ResumeStateTest, KeptBytesSurviveTheRingWrappingGrowingAndShrinking) {
  // Envelopes of uneven sizes, so they straddle the ring's end; a burst of 4 MiB
  // unacknowledged grows it, and Trim() shrinks it again once the burst is over.
  ResumeState resume("t", std::chrono::seconds(60), 64 << 20);
  auto body = [](uint64_t seq) {
    std::string text(static_cast<size_t>(seq * 37 % 1999 + 1), ' ');
    for (size_t k = 0; k < text.size(); ++k) text[k] = static_cast<char>('a' + (seq + k) % 26);
    return text;
  };
  auto keep = [&](uint64_t upto) {
    while (resume.sent() < upto) {
      const uint64_t seq = resume.NextSeq();
      const std::string text = body(seq);
      zmq::message_t envelope(text.data(), text.size());
      Frames none;
      ASSERT_TRUE(resume.Keep(seq, BytesOf(envelope), none));
    }
  };
  auto expect_kept_from = [&](uint64_t after) {
    std::vector<Frames> again = resume.Unacknowledged(after);
    ASSERT_EQ(again.size(), resume.sent() - after);
    for (size_t k = 0; k < again.size(); ++k) {
      ASSERT_EQ(again[k][0].to_string(), body(after + 1 + k)) << "seq " << after + 1 + k;
    }
  };
  uint64_t acked = 0;
  for (int round = 0; round < 200; ++round) {  // steady: about 100 KiB in flight
    keep(resume.sent() + 150);
    resume.Acknowledge(acked = resume.sent() - 100);
  }
  expect_kept_from(acked);
  keep(resume.sent() + 4000);  // the burst
  expect_kept_from(acked);
  const size_t grown = resume.ring_capacity();
  EXPECT_GE(grown, size_t{4} << 20) << "the burst is kept whole";
  resume.Acknowledge(acked = resume.sent() - 10);
  resume.Trim();
  EXPECT_EQ(resume.ring_capacity(), grown) << "the burst was in this interval: kept for the next";
  keep(resume.sent() + 50);
  resume.Trim();
  EXPECT_EQ(resume.ring_capacity(), grown / 2) << "an interval of little: half goes back";
  expect_kept_from(acked);
  for (int i = 0; i < 20; ++i) resume.Trim();
  EXPECT_LE(resume.ring_capacity(), 4 * (resume.kept_bytes() + (size_t{64} << 10)))
      << "down to about what is still kept";
  expect_kept_from(acked);
  resume.Acknowledge(resume.sent());
  EXPECT_EQ(resume.kept_bytes(), 0u);
}

TEST(ResumeStateTest, AnAckIsStampedOnlyWhenItSaysSomethingNew) {
  ResumeState resume("t", std::chrono::seconds(60), 1 << 20);
  EXPECT_EQ(resume.AckToStamp(), 0u) << "nothing received yet";
  ASSERT_EQ(resume.OnReceived(1, 10), ResumeState::Arrival::kDeliver);
  ASSERT_EQ(resume.OnReceived(2, 10), ResumeState::Arrival::kDeliver);
  EXPECT_EQ(resume.AckToStamp(), 2u);
  EXPECT_EQ(resume.AckToStamp(), 0u) << "a one-way stream repeats no ack";
  EXPECT_FALSE(resume.OwesAck());
  ASSERT_EQ(resume.OnReceived(3, 10), ResumeState::Arrival::kDeliver);
  EXPECT_EQ(resume.AckToSend(), 3u) << "a PING says it always";
  EXPECT_EQ(resume.AckToStamp(), 0u) << "and it counts as said";
}

TEST(ResumeStateTest, WhileSuspendedAFullBufferRefusesRatherThanGrows) {
  ResumeState resume("t", std::chrono::seconds(60), 10);
  resume.Suspend(TimePoint{});
  Frames six = Message("123456");
  ASSERT_TRUE(resume.Keep(resume.NextSeq(), six));
  Frames five = Message("12345");
  EXPECT_FALSE(resume.Keep(resume.NextSeq(), five));
  EXPECT_EQ(resume.kept_bytes(), 6u) << "nothing of the refused message is kept";
  resume.Acknowledge(1);
  Frames ten = Message("1234567890");
  EXPECT_TRUE(resume.Keep(resume.NextSeq(), ten));
}

TEST(ResumeStateTest, OnALiveLinkWhatDoesNotFitGoesUnkeptAndOnlyAResendNeedingItFails) {
  ResumeState resume("t", std::chrono::seconds(60), 10);
  Frames six = Message("123456");
  ASSERT_TRUE(resume.Keep(resume.NextSeq(), six));
  // Bigger than the whole buffer, and more than is left of it: both go, unkept.
  Frames big = Message("0123456789ABCDEF");
  EXPECT_TRUE(resume.Keep(resume.NextSeq(), big));
  Frames five = Message("12345");
  EXPECT_TRUE(resume.Keep(resume.NextSeq(), five));
  EXPECT_EQ(resume.kept_bytes(), 6u) << "nothing of either is kept";
  EXPECT_EQ(resume.kept_messages(), 1u);
  EXPECT_EQ(resume.unkept_through(), 3u);
  EXPECT_FALSE(resume.CanResend(0)) << "messages 2 and 3 cannot be sent again";
  EXPECT_FALSE(resume.CanResend(2));
  EXPECT_TRUE(resume.CanResend(3)) << "the peer has them: nothing after 3 is missing";
  resume.Acknowledge(3);
  Frames four = Message("1234");
  ASSERT_TRUE(resume.Keep(resume.NextSeq(), four));
  EXPECT_EQ(resume.kept_bytes(), 4u);
  EXPECT_TRUE(resume.CanResend(3));
  const auto again = resume.Unacknowledged(3);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0][0].to_string(), "1234");
}

TEST(ResumeStateTest, DeliversInOrderDropsDuplicatesAndReportsGaps) {
  ResumeState resume("t", std::chrono::seconds(60), 1 << 20);
  EXPECT_EQ(resume.OnReceived(1, 10), ResumeState::Arrival::kDeliver);
  EXPECT_EQ(resume.OnReceived(2, 10), ResumeState::Arrival::kDeliver);
  EXPECT_EQ(resume.OnReceived(2, 10), ResumeState::Arrival::kDuplicate);
  EXPECT_EQ(resume.OnReceived(1, 10), ResumeState::Arrival::kDuplicate);
  EXPECT_EQ(resume.OnReceived(4, 10), ResumeState::Arrival::kGap);
  EXPECT_EQ(resume.received(), 2u) << "a gap does not move what was received";
  EXPECT_EQ(resume.OnReceived(3, 10), ResumeState::Arrival::kDeliver);
  EXPECT_EQ(resume.OnReceived(4, 10), ResumeState::Arrival::kDeliver);
  EXPECT_EQ(resume.received(), 4u);
}

TEST(ResumeStateTest, AnAcknowledgementIsDueAfterAThousandMessagesOrAMebibyte) {
  ResumeState resume("t", std::chrono::seconds(60), 1 << 20);
  uint64_t seq = 0;
  for (uint64_t i = 1; i < ResumeState::kAckEveryMessages; ++i) resume.OnReceived(++seq, 8);
  EXPECT_FALSE(resume.AckDue());
  resume.OnReceived(++seq, 8);
  EXPECT_TRUE(resume.AckDue());
  EXPECT_EQ(resume.AckToSend(), seq);
  EXPECT_FALSE(resume.AckDue()) << "any message carrying ack counts";
  resume.OnReceived(++seq, ResumeState::kAckEveryBytes);
  EXPECT_TRUE(resume.AckDue());
}

TEST(ResumeStateTest, AsksForAResendOncePerIntervalWhileNothingMoves) {
  ResumeState resume("t", std::chrono::seconds(60), 1 << 20);
  const TimePoint t0{};
  const Duration interval = std::chrono::seconds(1);
  EXPECT_TRUE(resume.ShouldAskResend(t0, interval));
  EXPECT_FALSE(resume.ShouldAskResend(t0 + std::chrono::milliseconds(500), interval));
  EXPECT_TRUE(resume.ShouldAskResend(t0 + std::chrono::seconds(1), interval))
      << "the first request may have been lost too";
  resume.OnReceived(1, 1);
  EXPECT_TRUE(resume.ShouldAskResend(t0 + std::chrono::seconds(1), interval))
      << "a new gap after progress is asked for at once";
}

TEST(ResumeStateTest, SuspensionLastsTheGracePeriod) {
  ResumeState resume("t", std::chrono::seconds(60), 1 << 20);
  EXPECT_FALSE(resume.suspended());
  const TimePoint t0 = TimePoint{} + std::chrono::seconds(5);
  resume.Suspend(t0);
  EXPECT_TRUE(resume.suspended());
  EXPECT_EQ(resume.resume_by(), t0 + std::chrono::seconds(60));
  resume.Resumed();
  EXPECT_FALSE(resume.suspended());
}

TEST(ResumeStateTest, TokensAreFreshHexAndComparedWhole) {
  const std::string a = NewResumeToken();
  const std::string b = NewResumeToken();
  EXPECT_EQ(a.size(), 32u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(a, b);
  EXPECT_TRUE(SameToken(a, a));
  EXPECT_FALSE(SameToken(a, b));
  EXPECT_FALSE(SameToken(a, a.substr(0, 31)));
}

}  // namespace
}  // namespace procmod
