#include "session/relayed_peers.h"

#include <algorithm>

namespace procmod {

PeerRecord& RelayedPeers::Join(uint64_t link_id, std::string address, const pmp::Joined& joined,
                               TimePoint now) {
  Relayed& relayed = sessions_[joined.session];
  relayed.link_id = link_id;
  PeerRecord& client = relayed.record;
  client.session = joined.session;
  client.name = joined.name;
  client.role = joined.role.empty() ? "client" : joined.role;
  client.address = std::move(address);
  client.version = std::string(pmp::kProtocolVersion);
  client.admitted_seq = next_seq_++;
  client.connected_at = client.last_seen = client.last_sent = now;
  return client;
}

std::optional<PeerRecord> RelayedPeers::Leave(const std::string& session) {
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return std::nullopt;
  PeerRecord client = std::move(it->second.record);
  sessions_.erase(it);
  return client;
}

std::vector<PeerRecord> RelayedPeers::DropLink(uint64_t link_id, std::vector<PeerRecord*>* kept) {
  std::vector<PeerRecord> gone;
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    if (it->second.link_id == link_id && it->second.record.resume && kept != nullptr) {
      kept->push_back(&it->second.record);
      ++it;
    } else if (it->second.link_id == link_id) {
      gone.push_back(std::move(it->second.record));
      it = sessions_.erase(it);
    } else {
      ++it;
    }
  }
  return gone;
}

void RelayedPeers::Reattach(const std::string& session, uint64_t link_id) {
  if (auto it = sessions_.find(session); it != sessions_.end()) it->second.link_id = link_id;
}

std::vector<PeerRecord> RelayedPeers::EndSuspended(TimePoint now) {
  std::vector<PeerRecord> gone;
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    if (it->second.record.suspended() && it->second.record.resume->resume_by() <= now) {
      gone.push_back(std::move(it->second.record));
      it = sessions_.erase(it);
    } else {
      ++it;
    }
  }
  return gone;
}

PeerRecord* RelayedPeers::Find(const std::string& session) {
  auto it = sessions_.find(session);
  return it == sessions_.end() ? nullptr : &it->second.record;
}

uint64_t RelayedPeers::LinkOf(const std::string& session) const {
  auto it = sessions_.find(session);
  return it == sessions_.end() ? 0 : it->second.link_id;
}

std::vector<const PeerRecord*> RelayedPeers::InJoinOrder() const {
  std::vector<const PeerRecord*> records;
  records.reserve(sessions_.size());
  for (const auto& [session, relayed] : sessions_) records.push_back(&relayed.record);
  std::sort(records.begin(), records.end(), [](const PeerRecord* a, const PeerRecord* b) {
    return a->admitted_seq < b->admitted_seq;
  });
  return records;
}

std::string* RelayedPeers::From(pmp::Message& message) {
  switch (message.command()) {
    case pmp::Command::kData:
      return &std::get<pmp::Data>(message.header).peer;
    case pmp::Command::kRequest:
      return &std::get<pmp::Request>(message.header).peer;
    case pmp::Command::kReply:
      return &std::get<pmp::Reply>(message.header).peer;
    case pmp::Command::kPing:
      return &std::get<pmp::Ping>(message.header).peer;
    default:
      return nullptr;
  }
}

bool RelayedPeers::AddressTo(const std::string& client, pmp::Header& header) {
  if (auto* data = std::get_if<pmp::Data>(&header)) {
    data->peer = client;
  } else if (auto* request = std::get_if<pmp::Request>(&header)) {
    request->peer = client;
  } else if (auto* reply = std::get_if<pmp::Reply>(&header)) {
    reply->peer = client;
  } else {
    return false;
  }
  return true;
}

DisconnectReason RelayedPeers::LossFor(DisconnectReason broker) {
  return broker == DisconnectReason::kClosed ? DisconnectReason::kClosed
                                             : DisconnectReason::kExpired;
}

}  // namespace procmod
