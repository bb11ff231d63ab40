// handshake_watch.h: what happened to a dialing socket's ZMTP handshake.
//
// libzmq hides the transport: a DEALER that dials a CURVE server without CURVE, or
// with the wrong server key, just reconnects quietly forever; so does one that dials
// a port nobody listens on. A HandshakeWatch reads the socket's monitor events
// (libzmq's zmq_socket_monitor) and turns them into what the user must hear: the
// connect was refused, the transport is up (so timeouts.handshake starts), the
// handshake succeeded, or it failed, and why, as one line:
//   "handshake failed: the server requires CURVE or the key is wrong (URL)".
//
// A refused connect, as libzmq 4.3.4 reports it (seen with a probe program against a
// closed loopback port and ipc:// paths): for tcp:// CONNECT_DELAYED, CLOSED,
// CONNECT_RETRIED; for ipc:// (no socket file, or a stale one) CLOSED,
// CONNECT_RETRIED; the same again at each of libzmq's redials. CLOSED is the one
// that tells: a dialing socket sends it only when a connect attempt's descriptor is
// closed unconnected. It carries no errno, so to a remote host "unreachable" (or a
// SYN that timed out after about two minutes) reads the same; RefusedError says so.
//
// Owned by whoever owns the socket, on the same thread. The watched socket must
// outlive its watch (declare the socket first): ending the watch stops the socket's
// monitor. libzmq sends monitor events from its I/O thread with a blocking send, so
// a socket left monitored after its watch closed (a closed socket lingers and may
// redial) would block that thread, and every socket of the context, at its next
// event.
//
//   Result<HandshakeWatch> watch = HandshakeWatch::Start(context, socket, url, curve);
//   poll watch->socket(); HandshakeWatch::Progress p = watch->Drain();
//   if (p.failed) fail with *p.failed; else if (p.succeeded) ...
#ifndef PROCMOD_SRC_IO_HANDSHAKE_WATCH_H_
#define PROCMOD_SRC_IO_HANDSHAKE_WATCH_H_

#include <memory>
#include <optional>
#include <string>

#include <zmq.hpp>

#include "procmod/result.h"
#include "procmod/status.h"

namespace procmod {

// Why a connect to `endpoint` is refused: "nothing is listening there", and for a
// host that is not local "..., or the host cannot be reached" (see above).
std::string RefusalReason(const std::string& endpoint);
// kUnavailable: "ENDPOINT: connection refused (REASON)".
Status RefusedError(const std::string& endpoint);

class HandshakeWatch {
 public:
  // Watches `watched` (not yet connected) dialing `url`. `curve`: this side speaks
  // CURVE (its messages then name its own public key, `public_key`).
  static Result<HandshakeWatch> Start(zmq::context_t& context, zmq::socket_t& watched,
                                      std::string url, bool curve, std::string public_key = {});

  struct Progress {
    bool transport_up = false;     // a TCP/ipc connection was made
    bool transport_lost = false;   // ... and lost before its handshake completed
    bool succeeded = false;        // the ZMTP (and CURVE) handshake completed
    std::optional<Status> failed;  // kPermissionDenied: the handshake was refused
    // Connect attempts refused since the last transport came up: when not 0, the
    // last thing that happened is that nothing listened (libzmq redials by itself).
    int refused = 0;
  };
  // Reads every pending event, without blocking.
  Progress Drain();
  // The failure to report when the transport came up but no handshake completed
  // within timeouts.handshake.
  Status TimedOut() const;

  zmq::socket_t& socket() { return monitor_; }

  HandshakeWatch(HandshakeWatch&&) = default;
  // Not assignable: the watch assigned over would close its monitor before it
  // stopped the monitoring (use std::optional::emplace).
  HandshakeWatch& operator=(HandshakeWatch&&) = delete;

 private:
  // Stops the watched socket's monitoring when the watch ends.
  struct MonitorStopper {
    void operator()(void* watched) const;
  };

  HandshakeWatch(void* watched, zmq::socket_t monitor, std::string url, bool curve,
                 std::string public_key);
  Status Failure(uint16_t event, uint32_t value) const;

  zmq::socket_t monitor_;
  std::string url_;
  bool curve_ = false;
  std::string public_key_;
  bool connected_ = false;  // a transport is up and its handshake not yet done
  int cut_off_ = 0;         // transports lost mid-handshake in a row
  // Last, so it is destroyed first: the monitoring stops before monitor_ closes.
  std::unique_ptr<void, MonitorStopper> watched_;
};

}  // namespace procmod

#endif  // PROCMOD_SRC_IO_HANDSHAKE_WATCH_H_
