// EventFd: what wakes a loop asleep in poll(2).
#include "io/event_fd.h"

#include <fcntl.h>
#include <poll.h>

#include <gtest/gtest.h>

namespace procmod {
namespace {

// Whether `fd` polls readable now.
bool Readable(int fd) {
  pollfd item{fd, POLLIN, 0};
  return poll(&item, 1, 0) == 1 && (item.revents & POLLIN);
}

TEST(EventFd, ASignalWakesAPollUntilDrained) {
  EventFd event;
  ASSERT_TRUE(event.ok());
  EXPECT_FALSE(Readable(event.fd()));
  event.Signal();
  EXPECT_TRUE(Readable(event.fd()));
  EXPECT_TRUE(Readable(event.fd()));  // polling does not consume it
  event.Drain();
  EXPECT_FALSE(Readable(event.fd()));
}

TEST(EventFd, ManySignalsNeedOneDrain) {
  EventFd event;
  for (int i = 0; i < 1000; ++i) event.Signal();
  event.Drain();
  EXPECT_FALSE(Readable(event.fd()));
}

TEST(EventFd, DrainingNothingDoesNotBlock) {
  EventFd event;
  event.Drain();  // non-blocking: returns although nothing was signalled
  event.Drain();
  EXPECT_FALSE(Readable(event.fd()));
}

TEST(EventFd, AMoveHandsTheDescriptorOverAndTheLastOwnerClosesIt) {
  int fd = -1;
  {
    EventFd first;
    fd = first.fd();
    EventFd second(std::move(first));
    EXPECT_EQ(second.fd(), fd);
    EXPECT_FALSE(first.ok());  // NOLINT(bugprone-use-after-move): what a move leaves
    second.Signal();
    EXPECT_TRUE(Readable(fd));
    EXPECT_NE(fcntl(fd, F_GETFD), -1);
  }
  EXPECT_EQ(fcntl(fd, F_GETFD), -1);  // closed once, by `second`
}

}  // namespace
}  // namespace procmod
