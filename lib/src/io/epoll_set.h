// epoll_set.h: sockets the I/O thread polls through one descriptor, and that another
// thread can take out of that poll while the I/O thread sleeps.
//
// A poll(2) descriptor list is fixed for the length of a poll: a DEALER in it wakes
// the poller whenever its ZMQ_FD signals. The I/O thread instead polls an epoll
// instance holding the DEALERs' ZMQ_FDs (as one more descriptor). A thread that
// waits for its own REPLY on a DEALER (IoLoop::LeadForReply) has the set ignore that
// DEALER's descriptor first, so the reply wakes only the thread that waits for it,
// and has it heeded again when done.
//
//   EpollSet set;                                    // set.fd() goes into poll(2)
//   EpollSet::Member member = set.Add(dealer_zmq_fd);
//   member.Suspend();   // the I/O thread no longer wakes for this socket
//   member.Resume();    // level-triggered: wakes it at once if the fd is readable
//
// Readiness only: what a ZMQ_FD does and does not announce is in polled_socket.h.
// Not thread-safe by itself: callers serialise Add/Suspend/Resume (the loop lock of
// io_loop.h); epoll itself lets the set change while another thread sleeps in poll
// on it.
#ifndef PROCMOD_SRC_IO_EPOLL_SET_H_
#define PROCMOD_SRC_IO_EPOLL_SET_H_

namespace procmod {

class EpollSet {
 public:
  // One descriptor in the set. Removes itself when destroyed, so it must die before
  // the socket that owns the descriptor is closed (declare it after the socket).
  class Member {
   public:
    Member() = default;
    ~Member();
    Member(Member&& other) noexcept;
    Member& operator=(Member&& other) noexcept;
    Member(const Member&) = delete;
    Member& operator=(const Member&) = delete;

    void Suspend();  // ignored by the set (its mask emptied) until Resume()
    void Resume();

   private:
    friend class EpollSet;
    Member(int epoll_fd, int fd) : epoll_fd_(epoll_fd), fd_(fd), in_set_(true) {}
    void Reset();

    int epoll_fd_ = -1;
    int fd_ = -1;
    bool in_set_ = false;
  };

  EpollSet();
  ~EpollSet();
  EpollSet(const EpollSet&) = delete;
  EpollSet& operator=(const EpollSet&) = delete;

  bool ok() const { return epoll_fd_ >= 0; }
  // Readable (POLLIN) while any member's descriptor is.
  int fd() const { return epoll_fd_; }
  // Adds `fd` (readable = POLLIN, level-triggered).
  Member Add(int fd);

 private:
  int epoll_fd_ = -1;
};

}  // namespace procmod

#endif  // PROCMOD_SRC_IO_EPOLL_SET_H_
