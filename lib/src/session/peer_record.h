// peer_record.h: one admitted peer as the accepting side keeps it.
//
// The IdentityTable owns these (admission, expiry), the IoLoop updates their times
// and counters as traffic flows, and the broker's directory keeps one per
// registered server; the monitor sees a PeerInfo snapshot. Plain data: not
// thread-safe, like everything the I/O thread owns.
//
//   PeerRecord* peer = table.Find(routing_id);
//   peer->CountSent(frame_bytes, now);
//   PeerInfo shown = peer->Snapshot(now);
#ifndef PROCMOD_SRC_SESSION_PEER_RECORD_H_
#define PROCMOD_SRC_SESSION_PEER_RECORD_H_

#include <cstdint>
#include <memory>
#include <string>

#include "base/clock.h"
#include "io/transport_activity.h"
#include "procmod/connection.h"
#include "procmod/peer_info.h"
#include "protocol/codec.h"
#include "session/heartbeat.h"
#include "session/resume_state.h"

namespace procmod {

// One admitted peer. The IoLoop updates the times and counters as traffic flows.
struct PeerRecord {
  std::string routing_id;
  std::string session;
  std::string name;
  std::string role;
  std::string address;
  std::string version;
  // How payloads go to this peer: inline when small, if its version decodes that.
  pmp::PayloadForm payload_form = pmp::PayloadForm::kFrames;
  std::string software;
  std::string public_key;     // CURVE: the peer's key (Z85); else ""
  uint64_t admitted_seq = 0;  // admission order: the oldest client is the master
  TimePoint connected_at{};
  TimePoint last_seen{};  // last well-formed message from the peer
  TimePoint last_sent{};  // last message to the peer (PING when idle)
  // The TCP connection its messages come in on, so that one message too big to
  // arrive within interval * liveness still shows life (io/transport_activity.h).
  TcpConnection transport;
  // The last malformed or oversized message from the peer (not life).
  TimePoint last_malformed{};
  PingEcho echo;  // for RTT
  microseconds rtt{0};
  uint64_t msgs_in = 0, msgs_out = 0, bytes_in = 0, bytes_out = 0, dropped = 0;
  // PMP/1.2: set when the session may outlive its link (resume_state.h); shared by
  // the copies of the record the loop makes for callbacks.
  std::shared_ptr<ResumeState> resume;
  // Made once at admission by the I/O loop and handed to every callback about this
  // peer (a copy is one reference count).
  Connection handle;

  PeerInfo Snapshot(TimePoint now) const;
  // When the peer last showed life: last_seen, or later if bytes arrived on its
  // connection since (a message still on its way). Not when a malformed message
  // came after last_seen: those bytes may be more of the same. Asks the kernel.
  TimePoint LastSignOfLife(TimePoint now) const;
  // Whether the peer is gone by `heartbeat`: nothing well-formed for interval *
  // liveness, and no bytes of a message on its way either. Only a peer that looks
  // silent costs a question to the kernel; its last_seen then moves up to the
  // bytes' arrival. What every expiry (accepting side, links, the broker's legs)
  // asks.
  bool Silent(const HeartbeatPolicy& heartbeat, TimePoint now);
  // The link is lost and the session waits for a RESUME.
  bool suspended() const { return resume && resume->suspended(); }
  // A message of `bytes` went out to the peer at `now`.
  void CountSent(uint64_t bytes, TimePoint now) {
    last_sent = now;
    msgs_out++;
    bytes_out += bytes;
  }
};

}  // namespace procmod

#endif  // PROCMOD_SRC_SESSION_PEER_RECORD_H_
