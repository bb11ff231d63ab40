#include "io/epoll_set.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <cstdint>
#include <utility>

namespace procmod {
namespace {

void Control(int epoll_fd, int op, int fd, uint32_t events) {
  epoll_event event{};
  event.events = events;
  event.data.fd = fd;
  // Only EBADF/ENOENT/EEXIST can happen here (a descriptor already gone or already
  // in), and each leaves the set as the caller wants it.
  (void)epoll_ctl(epoll_fd, op, fd, &event);
}

}  // namespace

EpollSet::EpollSet() : epoll_fd_(epoll_create1(EPOLL_CLOEXEC)) {}

EpollSet::~EpollSet() {
  if (epoll_fd_ >= 0) close(epoll_fd_);
}

EpollSet::Member EpollSet::Add(int fd) {
  Control(epoll_fd_, EPOLL_CTL_ADD, fd, EPOLLIN);
  return Member(epoll_fd_, fd);
}

EpollSet::Member::~Member() { Reset(); }

EpollSet::Member::Member(Member&& other) noexcept
    : epoll_fd_(std::exchange(other.epoll_fd_, -1)),
      fd_(std::exchange(other.fd_, -1)),
      in_set_(std::exchange(other.in_set_, false)) {}

EpollSet::Member& EpollSet::Member::operator=(Member&& other) noexcept {
  if (this != &other) {
    Reset();
    epoll_fd_ = std::exchange(other.epoll_fd_, -1);
    fd_ = std::exchange(other.fd_, -1);
    in_set_ = std::exchange(other.in_set_, false);
  }
  return *this;
}

// Suspend and Resume change the descriptor's event mask (EPOLL_CTL_MOD) instead of
// taking it out and putting it back: a removal and an add cost an allocation, a
// memory-cgroup charge and a wait-queue registration each, about twice the time,
// and a leading thread pays them on every request.
void EpollSet::Member::Suspend() {
  if (!in_set_) return;
  Control(epoll_fd_, EPOLL_CTL_MOD, fd_, 0);  // an eventfd never reports ERR or HUP
  in_set_ = false;
}

void EpollSet::Member::Resume() {
  if (in_set_ || fd_ < 0) return;
  Control(epoll_fd_, EPOLL_CTL_MOD, fd_, EPOLLIN);
  in_set_ = true;
}

void EpollSet::Member::Reset() {
  if (fd_ >= 0) Control(epoll_fd_, EPOLL_CTL_DEL, fd_, 0);
  in_set_ = false;
  epoll_fd_ = -1;
  fd_ = -1;
}

}  // namespace procmod
