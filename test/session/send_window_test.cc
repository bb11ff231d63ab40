// SendWindow: Connection::Send's flow control. Senders take a slot and the
// message's bytes, wait (up to their deadline) when either runs out, and are let go
// by the I/O thread's releases once the window has drained to half, or by Close.
// Blocking is tested with real threads: the test waits until a sender is asleep in
// Acquire before it wakes it, so a wake-up that never comes is a failure, not a pass.
#include "session/send_window.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "support/blocked_thread.h"

namespace procmod::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr milliseconds kForever{0};           // Acquire's "as long as the link lives"
constexpr milliseconds kNeverReached{60000};  // a sender's deadline no test waits for
constexpr int64_t kManyBytes = 1 << 30;       // a byte bound no test reaches

// One sender on its own thread, blocked (or not) in Acquire. When it goes it closes
// the window, so that a sender a failed test left waiting ends instead of hanging.
class Sender {
 public:
  Sender(SendWindow& window, int64_t bytes, milliseconds timeout)
      : window_(window), thread_([this, bytes, timeout] {
          tid_ = CurrentThreadId();
          result_.set_value(window_.Acquire(bytes, timeout));
        }) {}
  ~Sender() {
    window_.Close();
    thread_.join();
  }

  // True once the sender sleeps inside Acquire.
  bool Asleep() { return WaitUntilAsleep(tid_); }
  // True if Acquire returned within `timeout`.
  bool Returned(milliseconds timeout = kThreadDeadline) {
    return future_.wait_for(timeout) == std::future_status::ready;
  }
  Status status() { return future_.get(); }

 private:
  SendWindow& window_;
  std::atomic<pid_t> tid_{0};
  std::promise<Status> result_;
  std::future<Status> future_ = result_.get_future();
  std::thread thread_;  // last: started once everything it uses exists
};

TEST(SendWindow, TakesSlotsUntilFullThenTimesOutNamingTheSession) {
  SendWindow window("s1", 2, kManyBytes);
  EXPECT_TRUE(window.Acquire(10, kWaitThatRunsOut).ok());
  EXPECT_TRUE(window.Acquire(10, kWaitThatRunsOut).ok());

  const auto start = steady_clock::now();
  Status full = window.Acquire(10, kWaitThatRunsOut);
  EXPECT_GE(steady_clock::now() - start, kWaitThatRunsOut);  // it waited its whole timeout
  EXPECT_TRUE(full.IsResourceExhausted()) << full.ToString();
  EXPECT_EQ(full.message(),
            "send queue to session s1 stayed full for 30 ms: the peer does not keep up "
            "(timeouts.send)");
}

TEST(SendWindow, TheByteBoundStopsASenderBeforeTheSlotsRunOut) {
  SendWindow window("s1", 100, 1000);
  EXPECT_TRUE(window.Acquire(600, kWaitThatRunsOut).ok());
  EXPECT_TRUE(window.Acquire(600, kWaitThatRunsOut).ok());  // 600 of 1000 used: room for one more
  // 1200 bytes queued, 98 slots free: the bytes say wait.
  EXPECT_TRUE(window.Acquire(1, kWaitThatRunsOut).IsResourceExhausted());
}

TEST(SendWindow, AMessageBiggerThanTheWholeByteWindowStillGoesAlone) {
  SendWindow window("s1", 10, 100);
  EXPECT_TRUE(window.Acquire(500, kWaitThatRunsOut).ok());
  EXPECT_TRUE(window.Acquire(1, kWaitThatRunsOut).IsResourceExhausted());
  window.Release(500);
  EXPECT_TRUE(window.Acquire(1, kWaitThatRunsOut).ok());
}

TEST(SendWindow, AReleasedSlotIsTakenAgainWithoutWaiting) {
  SendWindow window("s1", 2, kManyBytes);
  ASSERT_TRUE(window.Acquire(10, kWaitThatRunsOut).ok());
  ASSERT_TRUE(window.Acquire(10, kWaitThatRunsOut).ok());
  window.Release(10);
  // No sender waits, so nothing needs waking: the free slot is simply there.
  const auto start = steady_clock::now();
  EXPECT_TRUE(window.Acquire(10, kWaitThatRunsOut).ok());
  EXPECT_LT(steady_clock::now() - start, kWaitThatRunsOut);
}

TEST(SendWindow, ABlockedSenderIsLetGoOnceAnotherThreadDrainsTheSlotsToHalf) {
  SendWindow window("s1", 4, kManyBytes);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(window.Acquire(1, kWaitThatRunsOut).ok());
  Sender sender(window, 1, kForever);
  ASSERT_TRUE(sender.Asleep());

  // 3 of 4 used: a slot is free, but a waiter is woken only at half (2), so that a
  // sender that outruns its peer costs one wake-up per capacity/2 messages.
  window.Release(1);
  EXPECT_FALSE(sender.Returned(kWaitThatRunsOut));
  window.Release(1);
  ASSERT_TRUE(sender.Returned());
  EXPECT_TRUE(sender.status().ok());
}

TEST(SendWindow, ABlockedSenderIsLetGoOnceAnotherThreadDrainsTheBytesToHalf) {
  SendWindow window("s1", 100, 1000);
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(window.Acquire(400, kWaitThatRunsOut).ok());  // 1200 bytes
  // What lets this sender go must be the releases, not its deadline.
  Sender sender(window, 400, kNeverReached);
  ASSERT_TRUE(sender.Asleep());

  window.Release(400);  // 800 bytes: under the bound, not yet under half of it
  EXPECT_FALSE(sender.Returned(kWaitThatRunsOut));
  window.Release(400);  // 400 bytes: half is 500
  ASSERT_TRUE(sender.Returned());
  EXPECT_TRUE(sender.status().ok());
}

TEST(SendWindow, ABlockedSenderWithADeadlineGivesUpAtIt) {
  SendWindow window("s1", 1, kManyBytes);
  ASSERT_TRUE(window.Acquire(1, kWaitThatRunsOut).ok());
  Sender sender(window, 1, milliseconds(50));
  ASSERT_TRUE(sender.Returned());
  EXPECT_TRUE(sender.status().IsResourceExhausted());
}

TEST(SendWindow, CloseWakesEveryWaitingSenderWithUnavailable) {
  SendWindow window("s1", 1, kManyBytes);
  ASSERT_TRUE(window.Acquire(1, kWaitThatRunsOut).ok());
  Sender forever(window, 1, kForever);
  Sender with_deadline(window, 1, kNeverReached);
  ASSERT_TRUE(forever.Asleep());
  ASSERT_TRUE(with_deadline.Asleep());

  window.Close();
  const bool both_returned = forever.Returned() && with_deadline.Returned();
  EXPECT_TRUE(both_returned);
  if (!both_returned) window.Release(1);  // drained: wakes them, so the threads end
  for (Sender* sender : {&forever, &with_deadline}) {
    Status status = sender->status();
    EXPECT_TRUE(status.IsUnavailable()) << status.ToString();
    EXPECT_EQ(status.message(), "session s1 is gone");
  }
}

TEST(SendWindow, AfterCloseEverySenderFailsAtOnceEvenWithRoomLeft) {
  SendWindow window("s1", 10, kManyBytes);
  window.Close();
  const auto start = steady_clock::now();
  Status status = window.Acquire(1, kThreadDeadline);
  EXPECT_LT(steady_clock::now() - start, kThreadDeadline / 2);  // did not wait for the deadline
  EXPECT_TRUE(status.IsUnavailable()) << status.ToString();
}

// Several application threads send through one window while an "I/O thread"
// releases what they queued: every message goes through, and the window never
// holds more than its capacity.
TEST(SendWindow, ManySendersAndOneReleaserNeverExceedTheCapacity) {
  constexpr int kCapacity = 8;
  constexpr int kSenders = 4;
  constexpr int kMessagesEach = 2000;
  SendWindow window("s1", kCapacity, kManyBytes);

  std::mutex mu;
  std::condition_variable queued;
  std::deque<int64_t> queue;  // what the senders handed to the "I/O thread"
  std::atomic<int> in_window{0};
  std::atomic<int> most_in_window{0};
  std::atomic<int> failures{0};

  std::vector<std::thread> senders;
  for (int s = 0; s < kSenders; ++s) {
    senders.emplace_back([&] {
      for (int i = 0; i < kMessagesEach; ++i) {
        const int64_t bytes = 1 + i % 64;
        if (!window.Acquire(bytes, kThreadDeadline).ok()) {
          ++failures;
          return;
        }
        const int now = ++in_window;
        int most = most_in_window.load();
        while (now > most && !most_in_window.compare_exchange_weak(most, now)) {
        }
        std::lock_guard<std::mutex> lock(mu);
        queue.push_back(bytes);
        queued.notify_one();
      }
    });
  }

  int released = 0;
  const auto deadline = steady_clock::now() + kThreadDeadline;
  while (released < kSenders * kMessagesEach && failures.load() == 0 &&
         steady_clock::now() < deadline) {
    int64_t bytes = 0;
    {
      std::unique_lock<std::mutex> lock(mu);
      if (!queued.wait_until(lock, deadline, [&] { return !queue.empty(); })) break;
      bytes = queue.front();
      queue.pop_front();
    }
    --in_window;  // before the release: a new sender may take the slot at once
    window.Release(bytes);
    ++released;
  }
  window.Close();  // a sender still waiting (after a failure) ends now
  for (std::thread& sender : senders) sender.join();

  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(released, kSenders * kMessagesEach);
  EXPECT_LE(most_in_window.load(), kCapacity);
  EXPECT_GE(most_in_window.load(), 1);
}

}  // namespace
}  // namespace procmod::testing
