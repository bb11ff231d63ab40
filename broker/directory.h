// directory.h: who is registered at a procmod-broker, and what each event means.
//
// The broker (docs/BROKER.md, PROTOCOL.md §12) is an accepting side for both servers
// and clients. The Directory is its state: the *services* (one server each, with that
// server's admission policy: connect-id and single/multi) and the *legs* (one per
// routing id with a session: a server leg or a client leg). It decides, and says what
// to send, as an Outbox of (routing id, header) the relay sends in order:
//
//   HELLO, server role        version major != 1 -> 426    role unknown -> 403
//                             no service -> DENY 400       live server  -> 409
//                             else WELCOME {role: broker, multi: the server's}
//   HELLO, client role        unknown service -> 404       connect-id differs -> 403
//                             single server that had its client (ever) -> 409
//                             limits.max_connections clients already   -> 503
//                             else WELCOME {the server's role, name, version} to the
//                             client and JOINED {session, name, role} to the server
//   HELLO on a leg that has a session: checked as above; if admitted it replaces
//                             the old session (a client: LEFT bye to its server
//                             first; a server: BYE "server left" to its clients). A
//                             client re-HELLOing the same service keeps its slot.
//   BYE / expiry of a client  LEFT {session, bye | expired} to its server
//   BYE / expiry of a server  BYE {server left | server lost} to each of its clients;
//                             the service and its clients' sessions are gone
//   CURVE: a message with     the leg ends as a lost one (LEFT expired, or BYE server
//   another key than its      lost to its clients), and nothing goes to its routing
//   HELLO's (CheckKey)        id, which leads to the other key now
//   DATA/REQUEST/REPLY        RouteFrom(): client -> its server with peer = client's
//                             session; server -> the client its `peer` names
//
// Pure state, no sockets, no clock: callers pass `now`. Not thread-safe (the relay's
// one thread owns it).
//
//   Directory directory({.name = "procmod-broker", .heartbeat = {1000ms, 3}});
//   HelloOutcome o = directory.Hello(routing_id, hello, address, now);
//   for (Outgoing& m : o.out) send m.header to m.routing_id;
#ifndef PROCMOD_BROKER_DIRECTORY_H_
#define PROCMOD_BROKER_DIRECTORY_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "protocol/codec.h"
#include "session/heartbeat.h"
#include "session/peer_record.h"

namespace procmod::broker {

inline constexpr std::string_view kBrokerRole = "broker";

struct DirectorySettings {
  std::string name = "procmod-broker";  // the broker's name, in a server's WELCOME
  HeartbeatSettings heartbeat;          // announced in every WELCOME, enforced per leg
  size_t max_connections = 1024;        // client legs in all; beyond it, DENY 503
};

// One admitted peer of the broker: a registered server or a client of a service.
struct Leg {
  enum class Kind { kServer, kClient };
  Kind kind = Kind::kClient;
  std::string service;
  PeerRecord peer;  // routing id, session, name, role, times, counters, RTT

  bool is_server() const { return kind == Kind::kServer; }
};

// One registered service: its server and the policy that server asked for.
struct Service {
  std::string name;
  std::string server;                // routing id of the server leg
  std::string server_session;        // its session
  uint64_t connect_id = 0;           // what the service's clients must present
  bool multi = false;                // false: one client, once for good
  bool slot_used = false;            // single: its one client came (it stays used)
  std::vector<std::string> clients;  // client sessions, in admission order
};

// A message the relay must send, in Outbox order.
struct Outgoing {
  std::string routing_id;
  pmp::Header header;
};
using Outbox = std::vector<Outgoing>;

// Why a leg's session ended, for the log: "bye", "expired", "replaced", "closed",
// "taken over by another key", "server left", "server lost".
struct Ended {
  Leg leg;
  std::string why;
};

struct HelloOutcome {
  bool admitted = false;
  uint32_t deny_code = 0;        // when refused: 400, 403, 404, 409, 426, 503
  std::string reason;            // when refused
  std::string session;           // when admitted: the new session
  std::string replaced_session;  // when admitted over an older session of that id
  Outbox out;                    // the DENY, or: the old session's end, WELCOME, JOINED
  std::vector<Ended> ended;      // sessions the replacement ended
};

// What happened to a set of legs (BYE, expiry, an administrator's close).
struct EndOutcome {
  Outbox out;
  std::vector<Ended> ended;
};

// Where a relayed DATA, REQUEST or REPLY goes. error_code 0: send it to `to` with
// `peer` as its peer key; otherwise answer the sender ERROR error_code `reason`.
struct Route {
  uint32_t error_code = 0;  // answer the sender with ERROR error_code, reason
  // Drop quietly: the server wrote to a client that is not (or no longer) one of its
  // own. Usually the client just left and the LEFT is on its way, so this is a race
  // every server meets, not an error to report; an ERROR 404 would read as "your own
  // session is gone" (PROTOCOL §10.1).
  bool drop = false;
  std::string reason;
  std::string to;    // routing id
  std::string peer;  // the client's session towards a server, "" towards a client
  pmp::PayloadForm form = pmp::PayloadForm::kFrames;  // what `to` decodes
};

class Directory {
 public:
  explicit Directory(DirectorySettings settings);

  // Decides on a well-formed HELLO from `routing_id` (checks in the order of the
  // file comment; the first that fails is the DENY, and nothing changes).
  HelloOutcome Hello(const std::string& routing_id, const pmp::Hello& hello, std::string address,
                     TimePoint now);

  // The leg said BYE.
  EndOutcome Bye(const std::string& routing_id);
  // The leg is gone without BYE (e.g. its WELCOME could not be delivered): as expiry.
  EndOutcome Lost(const std::string& routing_id);
  // An administrator closes the session: BYE "closed by the administrator" to it,
  // then what its BYE would have caused. Empty `ended` when there is no such session.
  EndOutcome Close(const std::string& session);
  // Every leg silent for interval * liveness, servers first (every leg is checked).
  EndOutcome Expire(TimePoint now);
  // CURVE: a message of leg `routing_id` came with `public_key` (its ZAP user id).
  // Another key than the leg's (its HELLO's) means that another peer holds the
  // routing id now (ROUTER handover), so keeping the session would send its traffic
  // to them: the leg ends as a lost one, its partners told as for expiry, nothing
  // sent to the routing id (PROTOCOL §15). The leg itself is last in `ended`. Empty
  // `ended` for the same key or no such leg.
  EndOutcome CheckKey(const std::string& routing_id, std::string_view public_key);
  // BYE `reason` to every leg; the directory is empty afterwards.
  Outbox Shutdown(const std::string& reason);

  // The routing ids of legs sent nothing for a whole interval: they are due a PING.
  std::vector<std::string> DuePings(TimePoint now) const;

  // Where a DATA/REQUEST/REPLY from `routing_id` carrying `peer` goes.
  Route RouteFrom(const std::string& routing_id, const std::string& peer) const;

  Leg* Find(const std::string& routing_id);
  const Leg* Find(const std::string& routing_id) const;
  const Leg* FindSession(const std::string& session) const;
  const Service* FindService(const std::string& name) const;

  // Every leg, oldest first.
  std::vector<const Leg*> Legs() const;
  const std::map<std::string, Service>& services() const { return services_; }
  size_t client_count() const { return clients_; }
  size_t size() const { return legs_.size(); }
  const DirectorySettings& settings() const { return settings_; }

 private:
  enum class EndReason { kBye, kExpired, kReplaced, kClosed, kTakenOver };

  HelloOutcome Deny(const std::string& routing_id, uint32_t code, std::string reason) const;
  // Removes the leg and appends what its end means to `out` and `ended`.
  void EndLeg(const std::string& routing_id, EndReason reason, Outbox& out,
              std::vector<Ended>& ended);
  Leg& AddLeg(const std::string& routing_id, Leg::Kind kind, const pmp::Hello& hello,
              std::string address, TimePoint now);
  pmp::Welcome WelcomeFromBroker(const Leg& leg, bool multi) const;
  std::string NewSessionId();

  const DirectorySettings settings_;
  const HeartbeatPolicy heartbeat_;
  std::unordered_map<std::string, Leg> legs_;                // by routing id
  std::unordered_map<std::string, std::string> by_session_;  // session -> routing id
  std::map<std::string, Service> services_;                  // by name
  size_t clients_ = 0;
  uint64_t next_seq_ = 1;
  std::mt19937_64 random_;
};

}  // namespace procmod::broker

#endif  // PROCMOD_BROKER_DIRECTORY_H_
