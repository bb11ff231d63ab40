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
// Resume (PROTOCOL §12, §16.7): the session state (token check, seq/ack, replay
// buffers) is end to end, between the client and the server; the broker issues the
// token, keeps it on the client leg only to know the leg is resumable, and carries
// the rest:
//   HELLO, server role        resume_grace_ms > 0: the service resumes its clients
//   HELLO, client role        resume: true, version >= 1.2, a resuming server: the
//                             WELCOME has resume_token + the service's grace, the
//                             JOINED the token
//   expiry (or replacement,   of a server: its resumable clients are forgotten
//   CURVE takeover)           without BYE (their next message gets ERROR 404, and
//                             they RESUME); a server's BYE ends them as before
//   RESUME {session, token,   unknown service, no server -> 404 (the client retries);
//   received, service}        no service, a server that does not resume, a live leg
//                             of that session with another token -> 410; another
//                             key -> 403; else the legs of the routing id and of the
//                             session end as lost (LEFT expired) and the server gets
//                             JOINED {session, resume_token, resume, received}
//   the server's RESUMED      the oldest unanswered RESUME of that session gets a
//                             client leg with the same session id, and the RESUMED
//   the server's BYE {peer}   that RESUME gets DENY 410 (the BYE's reason); with none
//                             waiting, the live client leg gets the BYE (no LEFT)
//   PINGs with ack/sent/      ForwardPing(): client -> server with peer = session;
//   resend, or peer           server -> the client its `peer` names
// A server answers each JOINED {resume} once, in order; so do the waiting RESUMEs
// (Resumes), which is how an answer finds its RESUME without naming it.
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
#include <deque>
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
  // How long a RESUME waits for its server's answer. After that it is not answered
  // to the client (which dials again) and the server's late answer is discarded.
  Duration resume_answer_timeout = std::chrono::seconds(5);
};

// One admitted peer of the broker: a registered server or a client of a service.
struct Leg {
  enum class Kind { kServer, kClient };
  Kind kind = Kind::kClient;
  std::string service;
  PeerRecord peer;  // routing id, session, name, role, times, counters, RTT
  // A client leg's resume token ("" = not resumable). The session is the client's
  // and its server's; the broker keeps the token to know what to forward, and to
  // refuse a RESUME that would take over this live leg with another token.
  std::string resume_token;

  bool is_server() const { return kind == Kind::kServer; }
  bool resumable() const { return !resume_token.empty(); }
};

// One registered service: its server and the policy that server asked for.
struct Service {
  std::string name;
  std::string server;                // routing id of the server leg
  std::string server_session;        // its session
  uint64_t connect_id = 0;           // what the service's clients must present
  bool multi = false;                // false: one client, once for good
  bool slot_used = false;            // single: its one client came (it stays used)
  uint64_t resume_grace_ms = 0;      // > 0: the server resumes its clients' sessions
  std::vector<std::string> clients;  // client sessions, in admission order
};

// A message the relay must send, in Outbox order.
struct Outgoing {
  std::string routing_id;
  pmp::Header header;
};
using Outbox = std::vector<Outgoing>;

// Why a leg's session ended, for the log: "bye", "expired", "replaced", "closed",
// "taken over by another key", "server left", "server lost", "server lost; it may
// resume", "replaced by a RESUME", "resumed from elsewhere", "ended by its server".
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

// A RESUME sent on to the server as JOINED {resume}, waiting for its answer.
struct PendingResume {
  std::string routing_id;  // where the client resumes from
  std::string address;
  std::string public_key;  // CURVE: the RESUME's key, the new leg's
  std::string token;
  std::string name;     // of the leg the RESUME ended, if any ("" after a restart)
  std::string version;  // the same; else 1.2, the least that sends RESUME
  TimePoint since{};
};

// The RESUMEs of one session sent on to its server, in the order sent.
struct Resumes {
  std::string service;
  std::deque<PendingResume> waiting;
  // JOINED {resume} whose RESUME gave up waiting (resume_answer_timeout): their
  // answers, which come before those of `waiting`, are discarded.
  uint32_t abandoned = 0;
};

struct ResumeOutcome {
  bool forwarded = false;    // JOINED {resume} went to the server
  uint32_t deny_code = 0;    // when refused: 403, 404, 409, 410
  std::string reason;        // when refused
  Outbox out;                // the DENY, or: the ends of the legs it replaces, JOINED
  std::vector<Ended> ended;  // those legs
};

// What a server's RESUMED caused.
struct ResumedOutcome {
  std::string routing_id;    // the client's new leg; "" when it admitted nobody
  Outbox out;                // RESUMED to the client, or LEFT expired to the server
  std::vector<Ended> ended;  // the session's leg of an older RESUME, if any
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
  // Every leg silent for interval * liveness (PeerRecord::Silent: bytes of a message
  // on its way are not silence), servers first (every leg is checked);
  // and every RESUME unanswered for resume_answer_timeout is given up (silently).
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

  // A RESUME from `routing_id` (a leg or not; checks in the order of the file
  // comment; a refusal changes nothing). `public_key`: its CURVE key ("" without).
  ResumeOutcome Resume(const std::string& routing_id, const pmp::Resume& resume,
                       std::string address, std::string public_key, TimePoint now);
  // The server leg `routing_id` answered the oldest waiting RESUME of its session.
  ResumedOutcome Resumed(const std::string& routing_id, const pmp::Resumed& resumed, TimePoint now);
  // The server leg `routing_id` said BYE {peer, reason}: a refused RESUME, or the end
  // of one client's session.
  EndOutcome ServerBye(const std::string& routing_id, const pmp::Bye& bye);
  // Where a PING of leg `routing_id` is forwarded: empty unless it is about a
  // resumable relayed session (a client's with ack/sent/resend, a server's with
  // peer). Towards a client it carries that leg's echo (`now` for `t` and `held`).
  Outbox ForwardPing(const std::string& routing_id, const pmp::Ping& ping, TimePoint now) const;
  const std::unordered_map<std::string, Resumes>& resumes() const { return resumes_; }

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
  enum class EndReason { kBye, kExpired, kReplaced, kClosed, kTakenOver, kResuming };

  HelloOutcome Deny(const std::string& routing_id, uint32_t code, std::string reason) const;
  // Removes the leg and appends what its end means to `out` and `ended`.
  void EndLeg(const std::string& routing_id, EndReason reason, Outbox& out,
              std::vector<Ended>& ended);
  // Removes a client leg from the directory and from its service; tells nobody.
  Leg RemoveClient(std::unordered_map<std::string, Leg>::iterator it);
  // The service's server is gone: its waiting RESUMEs go too; `ended_for_good` (its
  // BYE) answers each DENY 410, otherwise they are dropped and their clients retry.
  void DropResumes(const std::string& service, bool ended_for_good, Outbox& out);
  Leg& AddLeg(const std::string& routing_id, Leg::Kind kind, const pmp::Hello& hello,
              std::string address, TimePoint now);
  pmp::Welcome WelcomeFromBroker(const Leg& leg, bool multi) const;
  std::string NewSessionId();

  const DirectorySettings settings_;
  const HeartbeatPolicy heartbeat_;
  std::unordered_map<std::string, Leg> legs_;                // by routing id
  std::unordered_map<std::string, std::string> by_session_;  // session -> routing id
  std::map<std::string, Service> services_;                  // by name
  std::unordered_map<std::string, Resumes> resumes_;         // by session
  size_t clients_ = 0;
  uint64_t next_seq_ = 1;
  std::mt19937_64 random_;
};

}  // namespace procmod::broker

#endif  // PROCMOD_BROKER_DIRECTORY_H_
