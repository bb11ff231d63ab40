// transport_activity.h: whether bytes are arriving on a peer's TCP connection.
//
// PMP counts a message as life once it has arrived whole, and a PING queues behind
// the message being sent (ZMTP frames one message at a time). A 256 MiB image that
// takes 5 s to cross a link would make its receiver take a live sender for gone at
// the default 1 s x 3. libzmq shows nothing of a message until it is whole, but the
// kernel does: TCP_INFO's tcpi_last_data_recv says how long ago the connection last
// received data. So each peer record notes the connection its messages come in on
// (libzmq names the descriptor of every message it delivers, ZMQ_SRCFD), and before
// a silent peer is taken for gone its record asks the kernel (PeerRecord::Silent).
// Bytes that may be more of a malformed message are not life: that is the record's
// to judge.
//
// libzmq owns the descriptor: it may close it, and the number may then be reused,
// within milliseconds when sessions churn. A connection is therefore noted with
// its socket's inode, and is only trusted, or shut down, while the descriptor
// still names that socket. (Not the remote address: on loopback the kernel reuses
// a closed connection's port at once, so a new connection on the same descriptor
// number can come from the same address and port; shutting that one down ended a
// newcomer's session in the churn soak test, 73 times in 40,000.)
//
// TCP only: a Unix socket (ipc://) has no such clock, nor does inproc://; their
// records stay unknown() and their peers are judged by whole messages, as before.
//
//   peer.transport = TcpConnection::Of(frame);    // on HELLO, WELCOME, RESUME, PING
//   if (auto ago = peer.transport.SinceDataArrived()) { bytes came in *ago ago }
//   peer.transport.Shutdown();                    // expired: drop it and its queue
#ifndef PROCMOD_SRC_IO_TRANSPORT_ACTIVITY_H_
#define PROCMOD_SRC_IO_TRANSPORT_ACTIVITY_H_

#include <sys/types.h>

#include <optional>

#include <zmq.hpp>

#include "base/clock.h"

namespace procmod {

class TcpConnection {
 public:
  TcpConnection() = default;

  // The TCP connection `frame` arrived on; unknown() for other transports.
  static TcpConnection Of(const zmq::message_t& frame);
  // The connection on descriptor `fd` as it is now; unknown() unless it is TCP.
  static TcpConnection OfDescriptor(int fd);

  bool known() const { return fd_ >= 0; }

  // How long ago data (not a bare ACK) last arrived on the connection, as the
  // kernel counts it (to its tick, a few ms); nothing when unknown or no longer
  // the connection noted (closed, or its descriptor now another's).
  std::optional<milliseconds> SinceDataArrived() const;

  // Shuts the connection down both ways, when it is still the one noted: libzmq
  // then sees it end, closes it and drops what it had queued for it. For a peer
  // the table has given up on, whose TCP connection would otherwise stay open as
  // long as the kernel keeps it (for ever, if the peer is merely stopped).
  // Returns whether it did.
  bool Shutdown() const;

 private:
  // True when `fd_` still names the socket noted.
  bool StillOurs() const;

  int fd_ = -1;
  ino_t inode_ = 0;  // the socket's, from fstat
};

}  // namespace procmod

#endif  // PROCMOD_SRC_IO_TRANSPORT_ACTIVITY_H_
