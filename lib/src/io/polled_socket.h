// polled_socket.h: a ZeroMQ socket waited on through its ZMQ_FD with poll(2) or
// epoll, instead of zmq_poll().
//
// zmq_poll() spends up to four system calls per socket and wait: a first pass with
// a zero timeout, then a ZMQ_EVENTS query (getpid and poll each) before and after
// the real wait. The I/O loops of the process module and the broker wait on the
// sockets' ZMQ_FDs themselves and spend one. The catch is what that descriptor
// means: it becomes readable when libzmq's I/O thread posts the socket a *new*
// command, so a message can sit in the socket unannounced once something has run
// the socket's commands without receiving it: a send, a ZMQ_EVENTS query, or a
// receive that returned a message (more may follow it). The descriptor is only
// trustworthy ("drained") after a receive found nothing, until the next send or
// message received. PolledSocket keeps that one bit, and asks ZMQ_EVENTS before a
// wait only when it is not set.
//
//   PolledSocket polled(router);
//   pollfd fd{polled.fd(), POLLIN, 0};
//   int timeout = polled.MayHoldUnsignalledInput() ? 0 : ms;
//   poll(&fd, 1, timeout);
//   ... receive with dontwait until EAGAIN, then polled.SetDrained(true);
//   ... after every send: polled.SetDrained(false);
//
// Not thread-safe: it lives with the socket, on the thread that uses it.
#ifndef PROCMOD_SRC_IO_POLLED_SOCKET_H_
#define PROCMOD_SRC_IO_POLLED_SOCKET_H_

#include <zmq.hpp>

namespace procmod {

class PolledSocket {
 public:
  PolledSocket() = default;
  explicit PolledSocket(zmq::socket_ref socket);

  // The socket's ZMQ_FD; -1 for a default-constructed PolledSocket.
  int fd() const { return fd_; }
  zmq::socket_ref socket() const { return socket_; }

  // True after a receive returned EAGAIN; false after a send or a message received.
  void SetDrained(bool drained) { drained_ = drained; }
  bool drained() const { return drained_; }

  // Before a wait on fd(): true when the socket may hold input the descriptor will
  // not announce (not drained, and ZMQ_EVENTS says POLLIN). A query that finds
  // nothing leaves the socket drained, so it costs nothing next time.
  bool MayHoldUnsignalledInput();

 private:
  zmq::socket_ref socket_;
  int fd_ = -1;
  bool drained_ = false;
};

}  // namespace procmod

#endif  // PROCMOD_SRC_IO_POLLED_SOCKET_H_
