// relay.h: the procmod-broker's loop: its sockets, dispatch, relaying, heartbeats.
//
// A Relay owns the broker's ROUTER (where servers and clients, both dialing out,
// meet) and its admin ROUTER, and runs one poll(2) loop over their ZMQ_FDs
// (polled_socket.h) on the thread that calls Run(). It dispatches; the Directory
// decides (admission, JOINED/LEFT, routes, expiry); the codec encodes. Payload
// frames are moved from the sender's message into the relayed one, never copied.
// The envelope is checked (decoded) and then copied on entry by entry as it came,
// not encoded again, with only `peer` set (towards a server) or taken out (towards a
// client): keys the broker does not know pass through (pmp::EncodeRelayed).
//
// CURVE: a leg's messages must come with the key its HELLO came with. Another key
// means the routing id now leads to someone else (ROUTER handover): the leg ends, as
// the process module ends such a session (PROTOCOL §15).
//
// Never blocking on one peer: every send is dontwait; a message that cannot be queued
// for a slow peer is dropped and counted (its `dropped`, and the relay's total). A
// malformed message gets ERROR 400 and changes nothing else.
//
// Heartbeats, per leg: every tick (interval / 4) each leg silent for interval x
// liveness expires (all legs, not only the oldest), and each leg sent nothing for an
// interval gets a PING.
//
// Resume (PROTOCOL §12): the session's state is the client's and the server's; the
// broker hands out the token, carries a RESUME to the server as JOINED {resume} and
// its RESUMED (or BYE {peer}) back, and PINGs' ack/sent/resend both ways (Directory).
// It keeps nothing for a lost client, so a restarted broker resumes sessions too.
//
// Threads: Create() and Run() on one thread (the daemon's main thread); Stop() from
// any thread, including a signal-handling one.
//
//   Result<std::unique_ptr<Relay>> relay = Relay::Create(options);
//   if (!relay.ok()) return relay.status().IsInvalidArgument() ? 2 : 4;
//   std::printf("procmod-broker: ready on %s\n", (*relay)->ListenEndpoint().c_str());
//   (*relay)->Run();  // until Stop(); then BYE "broker shutting down" to everyone
#ifndef PROCMOD_BROKER_RELAY_H_
#define PROCMOD_BROKER_RELAY_H_

#include <atomic>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "admin/admin.h"
#include "admin/admin_endpoint.h"
#include "base/clock.h"
#include "base/log_text.h"
#include "directory.h"
#include "io/event_fd.h"
#include "io/polled_socket.h"
#include "io/sockets.h"
#include "procmod/options.h"
#include "procmod/result.h"
#include "protocol/codec.h"
#include "security/curve_keys.h"
#include "security/zap_handler.h"
#include "session/heartbeat.h"

namespace procmod::broker {

class Relay : private AdminTarget {
 public:
  // Binds options.listen and, unless it is empty, options.admin.endpoint. Uses name,
  // heartbeat, limits and linger of `options`. Errors: kInvalidArgument for a
  // malformed endpoint or a non-local admin endpoint (bad configuration),
  // kUnavailable when an endpoint cannot be bound (e.g. the port is in use).
  // With security.curve set, both legs (servers and clients) must present a key
  // from authorized_keys_dir, and a tcp:// admin endpoint speaks CURVE too.
  static Result<std::unique_ptr<Relay>> Create(const Options& options);
  ~Relay() override;

  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  // The bound endpoints, with the real port when port 0 was asked for.
  const std::string& ListenEndpoint() const { return listen_endpoint_; }
  const std::string& AdminEndpoint() const { return admin_endpoint_; }  // "" = none

  // Serves until Stop(); then says BYE "broker shutting down" to every leg and closes
  // the sockets (linger bounded by options.linger, at most 1 s).
  void Run();
  // Makes Run() return soon. Thread-safe; only an atomic store and an eventfd write.
  void Stop();
  // Asks the loop to re-read authorized_keys_dir (SIGHUP). Thread-safe, as Stop().
  void RequestKeyReload();

 private:
  Relay(const Options& options, CurveSetup curve);

  Status Bind();
  void PollOnce();
  void OnTimer(TimePoint now);
  void ShutdownSockets();

  // The data ROUTER.
  void ServiceRouter();
  void OnMessage(const std::string& routing_id, pmp::Frames& frames);
  // CURVE: a message on leg `routing_id` came with `frame`'s key. Another key than
  // its HELLO's ends the leg as the Directory says (CheckKey); true then.
  bool EndIfTakenOver(const std::string& routing_id, zmq::message_t& frame);
  // A malformed or oversized message from `routing_id`, if it is a leg.
  void NoteMalformed(const std::string& routing_id);
  void OnHello(const std::string& routing_id, const pmp::Hello& hello, std::string address);
  // A RESUME goes on to the session's server as JOINED {resume} (or is refused);
  // the server's RESUMED admits the client's new leg.
  void OnResume(const std::string& routing_id, const pmp::Resume& resume, std::string address,
                std::string public_key);
  void OnResumed(Leg& server, const pmp::Resumed& resumed);
  // `envelope`: the message's envelope as received, relayed with only `peer` changed.
  void OnLegMessage(Leg& leg, pmp::Message& message, const zmq::message_t& envelope);
  void RelayMessage(Leg& from, pmp::Message& message, const zmq::message_t& envelope);
  void SendOutbox(Outbox& out);
  void LogEnded(const std::vector<Ended>& ended);
  // Sends `frames` to `routing_id` without blocking; counts it on the leg, if any.
  SendOutcome SendTo(const std::string& routing_id, pmp::Frames frames);

  // The admin ROUTER (AdminEndpoint) and the ZAP handler.
  void ServiceAdmin();
  void ServiceZap();
  nlohmann::json ConnectionsJson(TimePoint now) const;
  nlohmann::json ServicesJson() const;

  // AdminTarget: AnswerAdmin adds the broker's own methods (connections.list with
  // services, services.list) to HandleAdminRequest's process.info, connections.close.
  pmp::Reply AnswerAdmin(const pmp::Request& request) override;
  std::vector<PeerInfo> AdminPeers() override;
  nlohmann::json AdminProcessInfo() override;
  bool AdminCloseSession(const std::string& session) override;
  void AdminSetAccepting(bool) override {}      // collab.* is answered 404 before
  void AdminSetConnectId(uint64_t) override {}  // it could get here
  Result<nlohmann::json> AdminReloadKeys() override;

  // ---- constant after construction ----
  const Options options_;
  const CurveSetup curve_;
  const HeartbeatPolicy heartbeat_;
  const TimePoint started_at_;
  std::string listen_endpoint_;
  std::string admin_endpoint_;

  // ---- any thread ----
  std::atomic<bool> stopping_{false};
  std::atomic<bool> reload_keys_{false};
  EventFd wake_fd_;  // Stop() and RequestKeyReload() wake the loop's poll

  // ---- the loop's thread only ----
  zmq::context_t context_;
  std::optional<zmq::socket_t> router_;
  std::unique_ptr<procmod::AdminEndpoint> admin_;  // its own PolledSocket inside
  std::unique_ptr<ZapHandler> zap_;                // CURVE: who may connect, on either leg
  // Each socket waited on through its ZMQ_FD (polled_socket.h), not zmq_poll.
  PolledSocket router_polled_;
  PolledSocket zap_polled_;
  pmp::Decoder decoder_;
  pmp::Frames rx_;
  pmp::Message rx_message_;    // decoded in place, message after message
  std::string rx_routing_id_;  // rx_[0], its buffer reused: no allocation per message
  Directory directory_;
  HeartbeatTick tick_;        // heartbeats and expiry are checked every interval / 4
  uint64_t relayed_ = 0;      // DATA/REQUEST/REPLY passed on
  uint64_t dropped_ = 0;      // messages a full queue refused
  LogBudget denial_log_{20};  // lines per second a flood can cause (log_text.h)
  LogBudget error_log_{20};
};

}  // namespace procmod::broker

#endif  // PROCMOD_BROKER_RELAY_H_
