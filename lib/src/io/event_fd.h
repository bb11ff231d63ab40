// event_fd.h: an eventfd(2) that wakes a thread asleep in poll(2).
//
// A loop that sleeps in poll(2) on its sockets' descriptors also polls one of
// these; any thread wakes it with Signal() (one write), and the loop resets it with
// Drain() (one read) once awake. Signals between two drains fold into one wake-up:
// the loop looks at everything it was woken for, not at how often it was asked.
// The process module's I/O thread (its command queue, and the lead-abort signal to
// a thread leading for its reply) and the broker's relay (Stop, SIGHUP) use it.
//
//   EventFd wake;                           // nonblocking, close-on-exec
//   if (!wake.ok()) return InternalError(...);  // errno says why
//   pollfd fds[] = {{wake.fd(), POLLIN, 0}, ...};
//   another thread: wake.Signal();
//   the loop, when fds[0] is readable: wake.Drain();
//
// Signal() and Drain() are safe from any thread (a write and a read on the
// descriptor); creating, moving and destroying one is not.
#ifndef PROCMOD_SRC_IO_EVENT_FD_H_
#define PROCMOD_SRC_IO_EVENT_FD_H_

namespace procmod {

class EventFd {
 public:
  // Creates the descriptor; ok() is false when eventfd(2) failed (errno says why).
  EventFd();
  ~EventFd();
  EventFd(EventFd&& other) noexcept;
  EventFd& operator=(EventFd&& other) noexcept;
  EventFd(const EventFd&) = delete;
  EventFd& operator=(const EventFd&) = delete;

  bool ok() const { return fd_ >= 0; }
  // What poll(2) waits on for POLLIN; -1 when !ok().
  int fd() const { return fd_; }

  // Makes the descriptor readable until the next Drain(). Never blocks.
  void Signal() const;
  // Makes it unreadable again. Never blocks: nothing to read is fine.
  void Drain() const;

 private:
  int fd_ = -1;
};

}  // namespace procmod

#endif  // PROCMOD_SRC_IO_EVENT_FD_H_
