// procmod/connection.h
//
// A Connection is a handle to one admitted peer of this process: a server this
// client connected to, or a client that connected to this server. It is cheap to
// copy; every copy names the same session. All calls are thread-safe: they post to
// the process module's I/O thread and never touch a socket themselves.
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

// Payload frames: opaque bytes, moved end to end, never copied by procmod.
using Frames = std::vector<zmq::message_t>;

// The answer to a REQUEST. `code` 0 is success; Connection::Request turns any
// other code into a kRemoteError (or the matching) Status instead.
struct Reply {
  uint32_t code = 0;
  std::string error;   // when code != 0
  std::string result;  // one msgpack-encoded value, empty when none
  Frames payload;
};

class Connection {
 public:
  Connection() = default;  // refers to nothing; valid() is false

  bool valid() const { return !session_.empty(); }
  const std::string& session() const { return session_; }
  const std::string& name() const { return name_; }
  const std::string& role() const { return role_; }
  const std::string& address() const { return address_; }
  bool incoming() const { return incoming_; }  // the peer connected to us

  // Sends DATA (optionally on `channel`). Returns once queued for the I/O thread;
  // kUnavailable if the peer is gone. A full send queue drops the message and
  // counts it in PeerInfo::dropped.
  Status Send(Frames payload, std::string_view channel = {}) const;
  Status Send(std::string_view bytes, std::string_view channel = {}) const;

  // Sends REQUEST `method` and returns a future of the reply. The future holds an
  // error when no REPLY came within `timeout` (kDeadlineExceeded), the peer went
  // away first (kUnavailable), or the peer answered with a non-zero code
  // (StatusFromPmpCode, e.g. kRemoteError with pmp_code()). `args` is one
  // msgpack-encoded map, or empty.
  std::future<Result<Reply>> Request(std::string method, Frames payload = {},
                                     std::chrono::milliseconds timeout =
                                         std::chrono::milliseconds(5000),
                                     std::string args = {}) const;

  // Sends BYE with `reason` and forgets the peer. Idempotent.
  Status Close(std::string reason = "bye") const;

  // This peer's current statistics, or kUnavailable once it is gone.
  Result<PeerInfo> Stats() const;

 private:
  friend class IoLoop;
  Connection(std::weak_ptr<IoLoop> loop, const PeerInfo& info);

  std::weak_ptr<IoLoop> loop_;
  std::string session_;
  std::string name_;
  std::string role_;
  std::string address_;
  bool incoming_ = true;
};

}  // namespace procmod

#endif  // PROCMOD_CONNECTION_H_
