// relayed_peers.h: the clients a broker relays to this server.
//
// A server behind a procmod-broker accepts nothing itself: it registers a service
// over one of its DEALERs (a Link), and the broker tells it who came (JOINED) and
// went (LEFT), and names the client (`peer`) on every DATA, REQUEST and REPLY it
// relays. RelayedPeers keeps those sessions: which link each came through, in which
// order they came (the oldest is the master, as on our own ROUTER), and what ends
// when a broker link does. No sockets: the IoLoop receives and sends, this decides
// whom a message is from and for.
//
//   RelayedPeers relayed;
//   PeerRecord& client = relayed.Join(broker_link_id, "via tcp://b:5555", joined, now);
//   if (PeerRecord* from = relayed.Find(*RelayedPeers::From(message))) ...
//   for (PeerRecord& gone : relayed.DropLink(broker_link_id)) ... // the broker went
#ifndef PROCMOD_SRC_SESSION_RELAYED_PEERS_H_
#define PROCMOD_SRC_SESSION_RELAYED_PEERS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "procmod/connection.h"
#include "procmod/process_module.h"
#include "protocol/codec.h"
#include "session/peer_record.h"

namespace procmod {

class RelayedPeers {
 public:
  // The session a JOINED announces, reached through link `link_id` (`address`: what
  // the monitor shows for it). Joining again replaces the record.
  PeerRecord& Join(uint64_t link_id, std::string address, const pmp::Joined& joined,
                   TimePoint now);
  // The session a LEFT ends; nullopt when it is not ours.
  std::optional<PeerRecord> Leave(const std::string& session);
  // Every session relayed through link `link_id`, which ended. One that may resume
  // (PMP/1.2) is kept instead, to be suspended, and listed in `*kept`.
  std::vector<PeerRecord> DropLink(uint64_t link_id, std::vector<PeerRecord*>* kept = nullptr);
  // A resumed session is reached through `link_id` from now on.
  void Reattach(const std::string& session, uint64_t link_id);
  // Removes and returns the suspended sessions whose grace is over at `now`.
  std::vector<PeerRecord> EndSuspended(TimePoint now);
  template <typename F>
  void ForEach(F&& f) {
    for (auto& [session, relayed] : sessions_) f(relayed.record, relayed.link_id);
  }

  PeerRecord* Find(const std::string& session);
  // The link `session` is reached through (0 when unknown).
  uint64_t LinkOf(const std::string& session) const;
  // Oldest first: the front one is the master.
  std::vector<const PeerRecord*> InJoinOrder() const;
  size_t size() const { return sessions_.size(); }

  // The client a relayed DATA, REQUEST or REPLY names (`peer`), or a PING about a
  // resumable client's session (1.2); null for what the broker says for itself
  // (its own PING, BYE, ERROR, ...: their `peer` is absent, so empty).
  static std::string* From(pmp::Message& message);
  // Names `client` as the one `header` is for: false for commands that cannot be
  // relayed to a client (anything but DATA, REQUEST, REPLY).
  static bool AddressTo(const std::string& client, pmp::Header& header);
  // How a relayed client's session ends when its broker's does: lost, not left (the
  // client said no BYE; the relay is gone), unless this side closed it.
  static DisconnectReason LossFor(DisconnectReason broker);

 private:
  struct Relayed {
    PeerRecord record;
    uint64_t link_id = 0;
  };
  std::unordered_map<std::string, Relayed> sessions_;  // by client session
  uint64_t next_seq_ = 1;
};

}  // namespace procmod

#endif  // PROCMOD_SRC_SESSION_RELAYED_PEERS_H_
