#include "session/peer_record.h"

#include <algorithm>
#include <optional>

namespace procmod {

PeerInfo PeerRecord::Snapshot(TimePoint now) const {
  PeerInfo info;
  info.session = session;
  info.name = name;
  info.role = role;
  info.address = address;
  info.version = version;
  info.software = software;
  info.public_key = public_key;
  info.state = suspended() ? "suspended" : "admitted";
  if (suspended()) {
    info.resume_left = std::max(milliseconds(0), std::chrono::duration_cast<milliseconds>(
                                                     resume->resume_by() - now));
  }
  info.connected_for = std::chrono::duration_cast<milliseconds>(now - connected_at);
  info.idle_for = std::chrono::duration_cast<milliseconds>(now - last_seen);
  info.rtt = rtt;
  info.msgs_in = msgs_in;
  info.msgs_out = msgs_out;
  info.bytes_in = bytes_in;
  info.bytes_out = bytes_out;
  info.dropped = dropped;
  return info;
}

TimePoint PeerRecord::LastSignOfLife(TimePoint now) const {
  if (!transport.known() || last_malformed > last_seen) return last_seen;
  const std::optional<milliseconds> ago = transport.SinceDataArrived();
  if (!ago) return last_seen;
  return std::max(last_seen, now - *ago);
}

bool PeerRecord::Silent(const HeartbeatPolicy& heartbeat, TimePoint now) {
  if (!heartbeat.IsExpired(last_seen, now)) return false;
  last_seen = LastSignOfLife(now);
  return heartbeat.IsExpired(last_seen, now);
}

}  // namespace procmod
