// EpollSet: the set is readable exactly while a member in it is; a suspended or
// destroyed member no longer wakes whoever polls the set (what lets a thread that
// waits on one DEALER keep its REPLY from waking the I/O thread).
#include "io/epoll_set.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>
#include <optional>

namespace procmod {
namespace {

class EventFd {
 public:
  EventFd() : fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
  ~EventFd() { close(fd_); }
  int fd() const { return fd_; }
  void Signal() {
    const uint64_t one = 1;
    ASSERT_EQ(write(fd_, &one, sizeof one), static_cast<ssize_t>(sizeof one));
  }
  void Drain() {
    uint64_t count = 0;
    ASSERT_EQ(read(fd_, &count, sizeof count), static_cast<ssize_t>(sizeof count));
  }

 private:
  int fd_;
};

bool Readable(const EpollSet& set) {
  pollfd item{set.fd(), POLLIN, 0};
  return poll(&item, 1, 0) == 1 && (item.revents & POLLIN);
}

TEST(EpollSet, ReadableWhileAMemberIs) {
  EpollSet set;
  ASSERT_TRUE(set.ok());
  EventFd a, b;
  EpollSet::Member ma = set.Add(a.fd());
  EpollSet::Member mb = set.Add(b.fd());
  EXPECT_FALSE(Readable(set));
  b.Signal();
  EXPECT_TRUE(Readable(set));
  b.Drain();
  EXPECT_FALSE(Readable(set)) << "level-triggered: no stale readiness once drained";
}

TEST(EpollSet, SuspendedMemberWakesNobodyAndResumeCatchesUp) {
  EpollSet set;
  EventFd a;
  EpollSet::Member member = set.Add(a.fd());
  member.Suspend();
  a.Signal();
  EXPECT_FALSE(Readable(set));
  member.Resume();
  EXPECT_TRUE(Readable(set)) << "what became readable meanwhile is seen on Resume";
  member.Suspend();
  member.Suspend();  // idempotent
  member.Resume();
  member.Resume();
  EXPECT_TRUE(Readable(set));
}

TEST(EpollSet, DestroyedOrMovedFromMembersLeaveTheSet) {
  EpollSet set;
  EventFd a;
  a.Signal();
  std::optional<EpollSet::Member> member(set.Add(a.fd()));
  EXPECT_TRUE(Readable(set));
  EpollSet::Member moved = std::move(*member);
  member.reset();  // the moved-from one must not take the descriptor out
  EXPECT_TRUE(Readable(set));
  moved = EpollSet::Member();  // assigning over a member removes it
  EXPECT_FALSE(Readable(set));
}

}  // namespace
}  // namespace procmod
