// procmod/connection.h
//
// A Connection is a handle to one admitted peer of this process: a server this
// client connected to, or a client that connected to this server. It is cheap to
// copy (one shared, immutable block per session); every copy names the same
// session. All calls are thread-safe. They post to the process module's I/O thread,
// except a request to a peer this process dialed, which the calling thread sends
// and (in ReplyFuture::get) receives itself when the I/O thread is idle.
//
//   procmod::Result<procmod::Connection> server = module->ConnectToRemote(url);
//   if (!server.ok()) return server.status();
//   server->Send("hello", "chat");                       // DATA on channel "chat"
//   auto reply = server->Request("ping", procmod::Frames{}).get();
//   if (!reply.ok()) std::cerr << reply.status().ToString();  // timeout, gone, ...
//   server->Close();                                       // BYE
//
// A handle outlives its peer: once the peer is gone, calls fail with kUnavailable
// (or kAborted once the module is finalized).
#ifndef PROCMOD_CONNECTION_H_
#define PROCMOD_CONNECTION_H_

#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <zmq.hpp>

#include "procmod/peer_info.h"
#include "procmod/result.h"

namespace procmod {

class IoLoop;
class ReplySlot;
class SendWindow;

// Payload frames: opaque bytes, moved end to end, never copied by procmod, except
// that a payload of one frame of at most 1 KiB travels inside the message's envelope
// (copied in and out: cheaper than a second ZeroMQ frame) and arrives as one frame.
using Frames = std::vector<zmq::message_t>;

// The answer to a REQUEST. `code` 0 is success; Connection::Request turns any
// other code into a kRemoteError (or the matching) Status instead.
struct Reply {
  uint32_t code = 0;
  std::string error;   // when code != 0
  std::string result;  // one msgpack-encoded value, empty when none
  Frames payload;
};

// The reply to one Connection::Request, as a std::future<Result<Reply>> holds it:
// get() waits for it and takes it (once); wait(), wait_for() and wait_until() wait
// without taking it.
//
// Why not a std::future: a thread that waits here for a reply from a peer this
// process dialed waits on that peer's socket itself while the I/O thread is idle,
// and receives its REPLY there. That saves the two thread wake-ups of handing the
// request to the I/O thread and the reply back, most of what a round trip costs
// over raw ZeroMQ (docs/BENCHMARKS.md). Everything else that arrives meanwhile goes
// to the I/O thread, in order, so callbacks still run only there.
class ReplyFuture {
 public:
  ReplyFuture() = default;  // valid() is false
  // A future that holds `failure` already: the answer of a call that failed before
  // anything was sent (no peer, module finalized). `failure` must not be OK.
  static ReplyFuture Failed(Status failure);

  // False for a default-constructed ReplyFuture and after get().
  bool valid() const { return slot_ != nullptr; }
  // Throws std::future_error (no_state) when !valid(), as std::future::get does.
  // In a callback or handler (on the I/O thread, which delivers replies) nothing
  // waits: get() returns kFailedPrecondition while the reply is not there (the
  // future stays valid) and wait*() return at once.
  Result<Reply> get();
  void wait() const;
  std::future_status wait_for(std::chrono::nanoseconds timeout) const;
  std::future_status wait_until(std::chrono::steady_clock::time_point deadline) const;

 private:
  friend class IoLoop;
  friend class Connection;
  explicit ReplyFuture(std::shared_ptr<ReplySlot> slot, std::weak_ptr<IoLoop> loop = {},
                       uint64_t request_id = 0)
      : slot_(std::move(slot)), loop_(std::move(loop)), request_id_(request_id) {}
  // Waits on the socket until the reply or `until`, when this thread may. False
  // when this thread must not wait at all (the I/O thread).
  bool Lead(std::chrono::steady_clock::time_point until) const;

  std::shared_ptr<ReplySlot> slot_;  // where the reply is put (src/reply_slot.h)
  std::weak_ptr<IoLoop> loop_;
  uint64_t request_id_ = 0;
};

class Connection {
 public:
  Connection() = default;  // refers to nothing; valid() is false

  bool valid() const { return state_ != nullptr; }
  const std::string& session() const;
  const std::string& name() const;
  const std::string& role() const;
  const std::string& address() const;
  bool incoming() const;  // the peer connected to us

  // Sends DATA (optionally on `channel`). Returns once queued for the I/O thread;
  // kUnavailable if the peer is gone.
  // To a server we connected to (any peer we dialed): lossless and in order. When
  // limits.send_queue messages are already waiting, Send waits for room, as
  // zmq_send does, up to timeouts.send (then kResourceExhausted); it never waits
  // when called on the I/O thread (from a callback).
  // To a peer that connected to us: a peer whose queue is full (it does not read)
  // gets nothing more; the message is dropped and counted in PeerInfo::dropped, so
  // one slow client cannot stall a server or grow its memory.
  Status Send(Frames payload, std::string_view channel = {}) const;
  Status Send(std::string_view bytes, std::string_view channel = {}) const;

  // Sends REQUEST `method` and returns a future of the reply. The future holds an
  // error when no REPLY came within `timeout` (kDeadlineExceeded), the peer went
  // away first (kUnavailable), or the peer answered with a non-zero code
  // (StatusFromPmpCode, e.g. kRemoteError with pmp_code()). `args` is one
  // msgpack-encoded map, or empty.
  ReplyFuture Request(std::string method, Frames payload = {},
                      std::chrono::milliseconds timeout = std::chrono::milliseconds(5000),
                      std::string args = {}) const;

  // Sends BYE with `reason` and forgets the peer. Idempotent. A client a broker
  // relays to this server is ended through the broker (BYE with `peer`, protocol
  // 1.2); with an older broker that cannot be done: kFailedPrecondition.
  Status Close(std::string reason = "bye") const;

  // This peer's current statistics, or kUnavailable once it is gone.
  Result<PeerInfo> Stats() const;

 private:
  friend class IoLoop;
  friend class DeferredReply;
  struct State;  // lib/src/session/connection_state.h
  explicit Connection(std::shared_ptr<const State> state) : state_(std::move(state)) {}

  std::shared_ptr<const State> state_;
};

}  // namespace procmod

#endif  // PROCMOD_CONNECTION_H_
