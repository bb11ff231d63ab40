// identity_table.h: who is connected to the accepting side, and who may connect.
//
// Maps a ZeroMQ routing id to a PeerRecord (session, name, role, address, times,
// counters). It is the single source for admission, expiry and the monitor. Its
// AdmissionPolicy turns ParaView's rules into DENY codes:
//   version major differs        -> 426      role not accepted here  -> 403
//   connect-id differs           -> 403      accepting switched off  -> 409
//   single: the slot for that role was already used (ever)           -> 409
//   multi: max_connections peers already admitted                    -> 503
// A HELLO from a routing id that has a session replaces that session (and keeps its
// slot). In single mode a slot is used once for good: after the one client leaves,
// the server is ending (F4) and must not admit a newcomer meanwhile.
//
// State, no sockets of its own; callers pass `now`. Expire asks the kernel about a
// silent peer's TCP connection (PeerRecord::Silent). I/O thread only: not
// thread-safe.
//
//   IdentityTable table(AdmissionPolicy::ForwardServer(/*multi=*/false, options));
//   Admission a = table.Admit(routing_id, hello, peer_address, now);
//   if (!a.admitted) send DENY a.deny_code a.reason; else send WELCOME a.peer->session
#ifndef PROCMOD_SRC_SESSION_IDENTITY_TABLE_H_
#define PROCMOD_SRC_SESSION_IDENTITY_TABLE_H_

#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "procmod/peer_info.h"
#include "protocol/codec.h"
#include "session/heartbeat.h"
#include "session/peer_record.h"

namespace procmod {

struct AdmissionPolicy {
  bool multi = false;
  size_t max_connections = 1024;  // multi only; beyond it: 503
  uint64_t connect_id = 0;        // must equal the HELLO's (0 = none on both sides)
  // Roles that may HELLO here. In single mode each role has one slot.
  std::vector<std::string> accepted_roles = {"client"};
};

struct Admission {
  bool admitted = false;
  uint32_t deny_code = 0;      // when !admitted: 403, 409, 426, 503
  std::string reason;          // when !admitted: says why, naming what was expected
  PeerRecord* peer = nullptr;  // when admitted; valid until the next change
  bool replaced = false;       // the routing id's previous session was replaced
  std::string replaced_session;
};

class IdentityTable {
 public:
  explicit IdentityTable(AdmissionPolicy policy);

  // Decides on a HELLO and, when it is admitted, records the peer with a new
  // session id. Denied HELLOs leave no trace in the table.
  Admission Admit(const std::string& routing_id, const pmp::Hello& hello, std::string address,
                  TimePoint now);

  PeerRecord* Find(const std::string& routing_id);
  PeerRecord* FindSession(const std::string& session);

  // Removes the peer; returns false if there was none.
  bool Remove(const std::string& routing_id);

  // Removes and returns every peer silent for interval * liveness (PeerRecord::
  // Silent: bytes of a message on its way are not silence). All peers are
  // checked, not only the oldest. A peer whose session may resume (PMP/1.2) is
  // suspended instead: kept, with its slot, and listed in `*suspended`. One that
  // stayed suspended past its grace period is removed and returned (its record
  // still says suspended()).
  std::vector<PeerRecord> Expire(TimePoint now, const HeartbeatPolicy& heartbeat,
                                 std::vector<PeerRecord*>* suspended = nullptr);

  // RESUME from `routing_id`: the session resumes there if the token is its own
  // and, with CURVE, `public_key` is its HELLO's. The record takes the new routing
  // id and, when known, `address`; a session still admitted elsewhere (the peer
  // noticed the loss first) is taken over the same way. Refusals: 410 for an
  // unknown or ended session or a wrong token (one answer, so a guesser learns
  // nothing), 403 for another key.
  struct Resumption {
    PeerRecord* peer = nullptr;  // resumed; valid until the next change
    uint32_t deny_code = 0;
    std::string reason;
  };
  Resumption Resume(const std::string& routing_id, const pmp::Resume& resume, std::string address,
                    const std::string& public_key, TimePoint now);

  // The earliest instant at which some peer will expire or need a PING; `fallback`
  // when the table is empty. Lets the loop sleep exactly until there is work.
  TimePoint NextDeadline(const HeartbeatPolicy& heartbeat, TimePoint fallback) const;

  // Oldest first, with the master marked.
  std::vector<PeerInfo> Snapshot(TimePoint now) const;

  // The session of the oldest admitted client (ParaView's collaboration master), or
  // "" when no client is admitted. A HELLO that replaces a session starts a new one.
  std::string MasterSession() const;

  template <typename F>
  void ForEach(F&& f) {
    for (auto& [id, peer] : peers_) f(peer);
  }

  size_t size() const { return peers_.size(); }
  bool empty() const { return peers_.empty(); }

  // Off: every new HELLO gets 409 "further connections are disabled"; admitted
  // peers stay. (ParaView's collaboration "disable further connections".)
  void SetAccepting(bool accepting) { accepting_ = accepting; }
  bool accepting() const { return accepting_; }
  void SetConnectId(uint64_t connect_id) { policy_.connect_id = connect_id; }
  const AdmissionPolicy& policy() const { return policy_; }

 private:
  Admission Deny(uint32_t code, std::string reason) const;
  std::string NewSessionId();

  AdmissionPolicy policy_;
  bool accepting_ = true;
  std::unordered_map<std::string, PeerRecord> peers_;        // by routing id
  std::unordered_map<std::string, std::string> by_session_;  // session -> routing id
  std::set<std::string> used_slots_;                         // single mode: roles
  uint64_t next_seq_ = 1;
  std::mt19937_64 random_;
};

}  // namespace procmod

#endif  // PROCMOD_SRC_SESSION_IDENTITY_TABLE_H_
