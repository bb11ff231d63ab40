// sockets.h: how procmod configures and uses its ZeroMQ sockets, in one place.
//
// Every socket option (docs/ARCHITECTURE.md) is set here, from Options, so they can be audited
// on one screen. Sends never block (dontwait) and never throw: the outcome is a
// value. I/O thread only (sockets are not thread-safe).
#ifndef PROCMOD_SRC_IO_SOCKETS_H_
#define PROCMOD_SRC_IO_SOCKETS_H_

#include <string>
#include <string_view>
#include <vector>

#include <zmq.hpp>

#include "procmod/options.h"
#include "procmod/result.h"
#include "procmod/status.h"
#include "security/curve_keys.h"

namespace procmod {

// ROUTER that binds: ROUTER_MANDATORY (a send to a gone peer fails at once instead
// of vanishing), ROUTER_HANDOVER (a reconnecting peer with the same routing id takes
// over), bounded LINGER, MAXMSGSIZE, HWMs, a deep BACKLOG; no ZMTP heartbeat (see
// sockets.cc for why).
void ConfigureAcceptor(zmq::socket_t& socket, const Options& options);

// DEALER that connects: reconnect backoff, bounded LINGER, MAXMSGSIZE, HWMs. No
// ZMTP heartbeat, and not IMMEDIATE (see sockets.cc for why).
void ConfigureConnector(zmq::socket_t& socket, const Options& options);

// The admin ROUTER (docs/PROTOCOL.md §13): no LINGER, and requests are small (1 MiB at most).
void ConfigureAdmin(zmq::socket_t& socket);

// CURVE on a socket that binds: `own` is this side's key pair; the process's ZAP
// handler (zap_handler.h) decides whose handshake completes. Before bind.
void ConfigureCurveServer(zmq::socket_t& socket, const CurveKeyPair& own);
// CURVE on a socket that dials the acceptor whose public key is `server_key`.
// Before connect.
void ConfigureCurveClient(zmq::socket_t& socket, const CurveKeyPair& own,
                          const std::string& server_key);

enum class SendOutcome {
  kSent,
  kQueueFull,  // HWM reached (or no link yet): dropped, the caller counts it
  kPeerGone,   // EHOSTUNREACH: the ROUTER no longer knows that routing id
  kFailed,     // anything else (socket closed, context terminated)
};

// An envelope and its payload frames as one range for SendFrames, so the hot path
// need not gather them into a new vector first.
struct EnvelopeAndPayload {
  zmq::message_t& envelope;
  std::vector<zmq::message_t>& payload;
  size_t size() const { return 1 + payload.size(); }
  zmq::message_t& operator[](size_t i) { return i == 0 ? envelope : payload[i - 1]; }
  const zmq::message_t& operator[](size_t i) const { return i == 0 ? envelope : payload[i - 1]; }
};

// The bytes of frames[first..] (a Frames or an EnvelopeAndPayload).
template <typename Range>
uint64_t FrameBytes(const Range& frames, size_t first = 0) {
  uint64_t total = 0;
  for (size_t i = first; i < frames.size(); ++i) total += frames[i].size();
  return total;
}

// Sends `frames` as one multipart message without blocking. When `routing_id` is
// not empty it goes first (ROUTER). Frames are consumed either way.
template <typename Range>
SendOutcome SendFrames(zmq::socket_ref socket, std::string_view routing_id, Range& frames) noexcept;

// Binds `socket` to `endpoint` and returns what it bound (port 0 resolved), or the
// error. An ipc:// path where another process is listening is refused
// (kUnavailable, as a TCP port in use): libzmq would unlink that socket file and
// take the address over, silently cutting the other process off (two servers
// started with one --name).
Result<std::string> BindSocket(zmq::socket_t& socket, const std::string& endpoint,
                               std::string_view what);

// Removes the socket file of an ipc:// endpoint this process bound, after its socket
// is closed: libzmq 4.3 leaves it behind. Nothing for other transports or the
// abstract namespace (ipc://@name).
void RemoveIpcFile(const std::string& endpoint);

// A Status for a failed bind or connect: kInvalidArgument for a malformed endpoint
// or unsupported transport, kUnavailable otherwise (address in use, no such host).
Status EndpointError(std::string_view verb, std::string_view endpoint, const zmq::error_t& error);

// A CURVE peer's public key (Z85), the "User-Id" our ZAP handler gave it, or "".
std::string PeerKeyOf(zmq::message_t& frame);

// The peer's address as libzmq reports it ("Peer-Address" metadata), or "".
std::string PeerAddressOf(zmq::message_t& frame);

}  // namespace procmod

#include "io/sockets_inl.h"

#endif  // PROCMOD_SRC_IO_SOCKETS_H_
