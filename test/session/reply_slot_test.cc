// ReplySlot: the promise/future pair behind ReplyFuture. The first answer put in
// wins until it is taken; a waiter on another thread wakes when it arrives, or
// gives up at its deadline; the answer (a Reply with its frames, or an error) comes
// out whole, once.
#include "session/reply_slot.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <thread>

#include "support/blocked_thread.h"

namespace procmod::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

Reply MakeReply(std::string result, std::initializer_list<std::string_view> frames = {}) {
  Reply reply;
  reply.result = std::move(result);
  for (std::string_view frame : frames) reply.payload.emplace_back(frame);
  return reply;
}

TEST(ReplySlot, AnAnswerPutInIsReadyAndTakenWhole) {
  ReplySlot slot;
  EXPECT_FALSE(slot.ready());
  slot.Set(MakeReply("r", {"one", "two"}));
  EXPECT_TRUE(slot.ready());
  EXPECT_TRUE(slot.WaitUntil(steady_clock::now()));  // there already: no wait

  Result<Reply> reply = slot.Take();
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  EXPECT_EQ(reply->code, 0u);
  EXPECT_EQ(reply->result, "r");
  ASSERT_EQ(reply->payload.size(), 2u);
  EXPECT_EQ(reply->payload[0].to_string(), "one");
  EXPECT_EQ(reply->payload[1].to_string(), "two");
  // Taken once: the slot is empty again.
  EXPECT_FALSE(slot.ready());
}

TEST(ReplySlot, AnErrorComesOutAsItsStatus) {
  ReplySlot slot;
  slot.Set(UnavailableError("session s1 is gone"));
  Result<Reply> reply = slot.Take();
  ASSERT_FALSE(reply.ok());
  EXPECT_TRUE(reply.status().IsUnavailable());
  EXPECT_EQ(reply.status().message(), "session s1 is gone");
}

// The REPLY and the request's expiry may race to answer: whichever came first is
// what the caller sees.
TEST(ReplySlot, TheFirstAnswerWinsUntilItIsTaken) {
  ReplySlot slot;
  slot.Set(MakeReply("first"));
  slot.Set(DeadlineExceededError("too late"));
  slot.Set(MakeReply("third"));
  Result<Reply> reply = slot.Take();
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  EXPECT_EQ(reply->result, "first");

  slot.Set(MakeReply("after"));
  ASSERT_TRUE(slot.ready());
  EXPECT_EQ(slot.Take()->result, "after");
}

TEST(ReplySlot, WaitUntilGivesUpAtTheDeadline) {
  ReplySlot slot;
  const auto start = steady_clock::now();
  EXPECT_FALSE(slot.WaitUntil(start + kWaitThatRunsOut));
  EXPECT_GE(steady_clock::now() - start, kWaitThatRunsOut);
  EXPECT_FALSE(slot.WaitUntil(start));  // a deadline already past: no wait at all
  EXPECT_FALSE(slot.ready());
}

// A thread waiting on the slot, until `deadline`, then taking what is there.
class Waiter {
 public:
  Waiter(std::shared_ptr<ReplySlot> slot, steady_clock::time_point deadline)
      : slot_(std::move(slot)), thread_([this, deadline] {
          tid_ = CurrentThreadId();
          const bool arrived = slot_->WaitUntil(deadline);
          arrived_.set_value(arrived);
        }) {}
  ~Waiter() {
    // Answers a waiter a failed test left waiting, so the thread ends.
    slot_->Set(AbortedError("test over"));
    thread_.join();
  }

  bool Asleep() { return WaitUntilAsleep(tid_); }
  // What WaitUntil returned, if it returned within `timeout`.
  std::optional<bool> Arrived(milliseconds timeout = kThreadDeadline) {
    if (future_.wait_for(timeout) != std::future_status::ready) return std::nullopt;
    return future_.get();
  }

 private:
  std::shared_ptr<ReplySlot> slot_;
  std::atomic<pid_t> tid_{0};
  std::promise<bool> arrived_;
  std::future<bool> future_ = arrived_.get_future();
  std::thread thread_;  // last: started once everything it uses exists
};

TEST(ReplySlot, EveryWaiterWithoutADeadlineWakesWhenTheAnswerArrives) {
  auto slot = std::make_shared<ReplySlot>();
  Waiter first(slot, steady_clock::time_point::max());
  Waiter second(slot, steady_clock::time_point::max());
  ASSERT_TRUE(first.Asleep());
  ASSERT_TRUE(second.Asleep());

  slot->Set(MakeReply("r"));
  EXPECT_EQ(first.Arrived(), std::optional<bool>(true));
  EXPECT_EQ(second.Arrived(), std::optional<bool>(true));
  // Waiting does not take the answer.
  ASSERT_TRUE(slot->ready());
  EXPECT_EQ(slot->Take()->result, "r");
}

TEST(ReplySlot, AWaiterWithADeadlineWakesWhenTheAnswerArrivesBeforeIt) {
  auto slot = std::make_shared<ReplySlot>();
  Waiter waiter(slot, steady_clock::now() + kThreadDeadline);
  ASSERT_TRUE(waiter.Asleep());
  slot->Set(MakeReply("r"));
  // Well before its deadline: woken by the answer, not by the clock.
  EXPECT_EQ(waiter.Arrived(kThreadDeadline / 2), std::optional<bool>(true));
}

TEST(ReplySlot, AWaiterWhoseDeadlinePassesReturnsFalse) {
  auto slot = std::make_shared<ReplySlot>();
  Waiter waiter(slot, steady_clock::now() + kWaitThatRunsOut);
  EXPECT_EQ(waiter.Arrived(), std::optional<bool>(false));
}

TEST(ReplySlot, TakeWaitsForTheAnswerFromAnotherThread) {
  ReplySlot slot;
  std::atomic<pid_t> tid{0};
  std::promise<Result<Reply>> taken;
  std::future<Result<Reply>> reply = taken.get_future();
  std::thread reader([&] {
    tid = CurrentThreadId();
    taken.set_value(slot.Take());
  });
  const bool asleep = WaitUntilAsleep(tid);
  slot.Set(MakeReply("r", {"frame"}));
  reader.join();
  EXPECT_TRUE(asleep);  // Take waited rather than returning something empty
  ASSERT_EQ(reply.wait_for(milliseconds(0)), std::future_status::ready);
  Result<Reply> value = reply.get();
  ASSERT_TRUE(value.ok()) << value.status().ToString();
  EXPECT_EQ(value->result, "r");
  ASSERT_EQ(value->payload.size(), 1u);
  EXPECT_EQ(value->payload[0].to_string(), "frame");
}

}  // namespace
}  // namespace procmod::testing
