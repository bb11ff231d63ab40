#include "session/pending_requests.h"

#include <gtest/gtest.h>

#include "support/fake_clock.h"

namespace procmod {
namespace {

using std::chrono::milliseconds;
using testing::FakeClock;

class PendingRequestsTest : public ::testing::Test {
 protected:
  // Adds request `id` to `session`, due `timeout` from the fake clock's now.
  std::shared_ptr<ReplySlot> Add(uint64_t id, const std::string& session, milliseconds timeout) {
    auto slot = std::make_shared<ReplySlot>();
    pending_.Add(id, session, clock_.Now() + timeout, slot);
    return slot;
  }

  FakeClock clock_;
  PendingRequests pending_;
};

TEST_F(PendingRequestsTest, CompleteHandsBackTheSlotOnce) {
  std::shared_ptr<ReplySlot> slot = Add(1, "s1", milliseconds(100));
  ASSERT_EQ(pending_.size(), 1u);
  const PendingRequests::Request* request = pending_.Find(1);
  ASSERT_NE(request, nullptr);
  EXPECT_EQ(request->session, "s1");
  EXPECT_EQ(request->deadline, clock_.Now() + milliseconds(100));

  EXPECT_EQ(pending_.Complete(1), slot);
  // The caller fills it: Complete itself delivers nothing.
  EXPECT_FALSE(slot->ready());
  EXPECT_TRUE(pending_.empty());
  EXPECT_EQ(pending_.Find(1), nullptr);
  EXPECT_EQ(pending_.NextDeadline(), TimePoint::max());
  // A second REPLY with the same id (a duplicate, or a late one) finds nothing.
  EXPECT_EQ(pending_.Complete(1), nullptr);
}

TEST_F(PendingRequestsTest, CompleteOfAnUnknownIdIsNull) {
  std::shared_ptr<ReplySlot> slot = Add(1, "s1", milliseconds(100));
  EXPECT_EQ(pending_.Complete(2), nullptr);
  EXPECT_EQ(pending_.size(), 1u);
  EXPECT_FALSE(slot->ready());
}

TEST_F(PendingRequestsTest, ExpiresOverdueRequestsEarliestFirst) {
  std::shared_ptr<ReplySlot> late = Add(1, "s1", milliseconds(300));
  std::shared_ptr<ReplySlot> early = Add(2, "s2", milliseconds(100));
  std::shared_ptr<ReplySlot> middle = Add(3, "s1", milliseconds(200));

  clock_.Advance(milliseconds(99));
  EXPECT_EQ(pending_.Expire(clock_.Now()), 0u);
  clock_.Advance(milliseconds(1));  // exactly at the deadline: due
  EXPECT_EQ(pending_.Expire(clock_.Now()), 1u);
  ASSERT_TRUE(early->ready());
  Result<Reply> failed = early->Take();
  EXPECT_TRUE(failed.status().IsDeadlineExceeded());
  EXPECT_EQ(failed.status().message(), "no reply from session s2 in time");
  EXPECT_FALSE(middle->ready());
  EXPECT_FALSE(late->ready());

  clock_.Advance(milliseconds(500));
  EXPECT_EQ(pending_.Expire(clock_.Now()), 2u);
  EXPECT_TRUE(middle->Take().status().IsDeadlineExceeded());
  EXPECT_TRUE(late->Take().status().IsDeadlineExceeded());
  EXPECT_TRUE(pending_.empty());
  // An expired request's REPLY, when it comes at last, is dropped.
  EXPECT_EQ(pending_.Complete(1), nullptr);
}

TEST_F(PendingRequestsTest, ACompletedRequestDoesNotExpire) {
  Add(1, "s1", milliseconds(100));
  ASSERT_NE(pending_.Complete(1), nullptr);
  clock_.Advance(milliseconds(200));
  EXPECT_EQ(pending_.Expire(clock_.Now()), 0u);
}

TEST_F(PendingRequestsTest, FailSessionFailsThatSessionsRequestsOnly) {
  std::shared_ptr<ReplySlot> a1 = Add(1, "a", milliseconds(100));
  std::shared_ptr<ReplySlot> b = Add(2, "b", milliseconds(200));
  std::shared_ptr<ReplySlot> a2 = Add(3, "a", milliseconds(300));

  EXPECT_EQ(pending_.FailSession("a", UnavailableError("peer a is gone")), 2u);
  for (const auto& slot : {a1, a2}) {
    ASSERT_TRUE(slot->ready());
    Result<Reply> failed = slot->Take();
    EXPECT_TRUE(failed.status().IsUnavailable());
    EXPECT_EQ(failed.status().message(), "peer a is gone");
  }
  EXPECT_FALSE(b->ready());
  EXPECT_EQ(pending_.size(), 1u);
  ASSERT_NE(pending_.Find(2), nullptr);
  // The failed ones' deadlines went with them.
  EXPECT_EQ(pending_.NextDeadline(), clock_.Now() + milliseconds(200));
  EXPECT_EQ(pending_.FailSession("nobody", UnavailableError("x")), 0u);
}

TEST_F(PendingRequestsTest, FailAllFailsEveryRequest) {
  std::shared_ptr<ReplySlot> a = Add(1, "a", milliseconds(100));
  std::shared_ptr<ReplySlot> b = Add(2, "b", milliseconds(200));
  EXPECT_EQ(pending_.FailAll(AbortedError("process module finalized")), 2u);
  EXPECT_TRUE(a->Take().status().IsAborted());
  EXPECT_TRUE(b->Take().status().IsAborted());
  EXPECT_TRUE(pending_.empty());
  EXPECT_EQ(pending_.NextDeadline(), TimePoint::max());
  clock_.Advance(milliseconds(1000));
  EXPECT_EQ(pending_.Expire(clock_.Now()), 0u);
}

TEST_F(PendingRequestsTest, NextDeadlineIsTheEarliestPending) {
  EXPECT_EQ(pending_.NextDeadline(), TimePoint::max());
  const TimePoint start = clock_.Now();
  Add(1, "s", milliseconds(300));
  EXPECT_EQ(pending_.NextDeadline(), start + milliseconds(300));
  Add(2, "s", milliseconds(100));
  EXPECT_EQ(pending_.NextDeadline(), start + milliseconds(100));
  // Two requests may share a deadline; each keeps its own entry.
  Add(3, "s", milliseconds(100));
  ASSERT_NE(pending_.Complete(2), nullptr);
  EXPECT_EQ(pending_.NextDeadline(), start + milliseconds(100));
  ASSERT_NE(pending_.Complete(3), nullptr);
  EXPECT_EQ(pending_.NextDeadline(), start + milliseconds(300));
}

}  // namespace
}  // namespace procmod
