// epoll_set.h: sockets the I/O thread polls through one descriptor, and that another
// thread can take out of that poll while the I/O thread sleeps.
//
// A zmq_poll item list is fixed for the length of a poll: a DEALER in it wakes the
// poller whenever its ZMQ_FD signals. The I/O thread instead polls an epoll instance
// holding the DEALERs' ZMQ_FDs (as one more zmq_poll item). A thread that waits for
// its own REPLY on a DEALER (IoLoop::LeadForReply) takes that DEALER's descriptor out
// of the set first, so the reply wakes only the thread that waits for it, and puts it
// back when done.
//
//   EpollSet set;                                    // set.fd() goes into zmq_poll
//   EpollSet::Member member = set.Add(dealer_zmq_fd);
//   member.Suspend();   // the I/O thread no longer wakes for this socket
//   member.Resume();    // level-triggered: wakes it at once if the fd is readable
//
// Readiness only: a ZMQ_FD says that the socket's state may have changed, so what a
// socket holds is always read from ZMQ_EVENTS. Not thread-safe by itself: callers
// serialise Add/Suspend/Resume (the loop lock of io_loop.h); epoll itself lets the
// set change while another thread sleeps in poll on it.
#ifndef PROCMOD_SRC_EPOLL_SET_H_
#define PROCMOD_SRC_EPOLL_SET_H_

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

    void Suspend();  // out of the set until Resume()
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

#endif  // PROCMOD_SRC_EPOLL_SET_H_
