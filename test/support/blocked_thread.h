// blocked_thread.h: waiting, with a deadline, until another thread is asleep.
//
// A test of a blocking call (a sender waiting in a full SendWindow, a reader waiting
// on a ReplySlot) must know that the other thread really waits before it wakes it:
// otherwise the wake-up comes first and the call returns on its fast path, and the
// test proves nothing. The kernel knows: /proc/self/task/TID/stat says "S" while the
// thread sleeps in a futex wait. The thread publishes its id right before the call,
// so a sleeping thread is one asleep inside that call.
//
//   std::atomic<pid_t> tid{0};
//   std::thread t([&] { tid = CurrentThreadId(); window.Acquire(1, 0ms); });
//   ASSERT_TRUE(WaitUntilAsleep(tid));  // now Release() must be what wakes it
#ifndef PROCMOD_TEST_SUPPORT_BLOCKED_THREAD_H_
#define PROCMOD_TEST_SUPPORT_BLOCKED_THREAD_H_

#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

namespace procmod::testing {

// A wait a test expects to run out, and a deadline for one that must end (generous:
// CI machines are slow).
inline constexpr std::chrono::milliseconds kWaitThatRunsOut{30};
inline constexpr std::chrono::milliseconds kThreadDeadline{5000};

// The calling thread's kernel id.
inline pid_t CurrentThreadId() { return static_cast<pid_t>(syscall(SYS_gettid)); }

// The state letter of thread `tid` of this process ('R', 'S', ...), or 0.
inline char ThreadState(pid_t tid) {
  std::ifstream file("/proc/self/task/" + std::to_string(tid) + "/stat");
  const std::string stat((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  // "TID (COMM) STATE ...": COMM may itself hold spaces and parentheses.
  const size_t close = stat.rfind(')');
  if (close == std::string::npos || close + 2 >= stat.size()) return 0;
  return stat[close + 2];
}

// True once the thread that published its id in `tid` sleeps; false at the deadline.
inline bool WaitUntilAsleep(const std::atomic<pid_t>& tid,
                            std::chrono::milliseconds timeout = kThreadDeadline) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    const pid_t id = tid.load();
    if (id != 0 && ThreadState(id) == 'S') return true;
    std::this_thread::yield();
  }
  return false;
}

}  // namespace procmod::testing

#endif  // PROCMOD_TEST_SUPPORT_BLOCKED_THREAD_H_
