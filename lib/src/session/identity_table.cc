#include "session/identity_table.h"

#include <algorithm>
#include <cstdio>

namespace procmod {
namespace {

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

}  // namespace

IdentityTable::IdentityTable(AdmissionPolicy policy)
    : policy_(std::move(policy)), random_(std::random_device{}()) {}

Admission IdentityTable::Deny(uint32_t code, std::string reason) const {
  Admission a;
  a.deny_code = code;
  a.reason = std::move(reason);
  return a;
}

std::string IdentityTable::NewSessionId() {
  for (;;) {
    char id[17];
    std::snprintf(id, sizeof id, "%016llx", static_cast<unsigned long long>(random_()));
    if (!by_session_.contains(id)) return id;
  }
}

Admission IdentityTable::Admit(const std::string& routing_id, const pmp::Hello& hello,
                               std::string address, TimePoint now) {
  uint32_t major = 0, minor = 0, our_major = 0, our_minor = 0;
  pmp::ParseProtocolVersion(pmp::kProtocolVersion, our_major, our_minor);
  if (!pmp::ParseProtocolVersion(hello.version, major, minor) || major != our_major) {
    // Both versions and what to do, so the connector's one line is enough.
    const std::string theirs =
        hello.version + (hello.software.empty() ? "" : " (" + hello.software + ")");
    return Deny(pmp::kCodeUnsupportedVersion,
                "protocol version " + theirs + " is not supported; this side speaks " +
                    std::string(pmp::kProtocolVersion) +
                    " (procmod " PROCMOD_VERSION
                    "): peers need the same major version; upgrade the older side");
  }
  const auto& roles = policy_.accepted_roles;
  if (std::find(roles.begin(), roles.end(), hello.role) == roles.end()) {
    return Deny(pmp::kCodeForbidden,
                "role '" + hello.role + "' is not accepted here; expected " + Join(roles));
  }
  if (hello.connect_id != policy_.connect_id) {
    return Deny(pmp::kCodeForbidden,
                "connect-id " + std::to_string(hello.connect_id) + " does not match");
  }

  const bool replacing = peers_.contains(routing_id);
  if (!replacing) {
    if (!accepting_) return Deny(pmp::kCodeBusy, "further connections are disabled");
    if (!policy_.multi && used_slots_.contains(hello.role)) {
      return Deny(pmp::kCodeBusy,
                  "already serving its " + hello.role + " (single-connection mode)");
    }
    if (policy_.multi && peers_.size() >= policy_.max_connections) {
      return Deny(pmp::kCodeFull,
                  "at max_connections (" + std::to_string(policy_.max_connections) + ")");
    }
  }

  Admission a;
  a.admitted = true;
  if (replacing) {
    a.replaced = true;
    a.replaced_session = peers_[routing_id].session;
    by_session_.erase(a.replaced_session);
  }
  used_slots_.insert(hello.role);
  PeerRecord& peer = peers_[routing_id];
  peer = PeerRecord{};
  peer.routing_id = routing_id;
  peer.session = NewSessionId();
  peer.admitted_seq = next_seq_++;
  peer.name = hello.name;
  peer.role = hello.role;
  peer.address = std::move(address);
  peer.version = hello.version;
  peer.payload_form = pmp::PayloadFormFor(hello.version);
  peer.software = hello.software;
  peer.connected_at = peer.last_seen = peer.last_sent = now;
  by_session_[peer.session] = routing_id;
  a.peer = &peer;
  return a;
}

PeerRecord* IdentityTable::Find(const std::string& routing_id) {
  auto it = peers_.find(routing_id);
  return it == peers_.end() ? nullptr : &it->second;
}

PeerRecord* IdentityTable::FindSession(const std::string& session) {
  auto it = by_session_.find(session);
  return it == by_session_.end() ? nullptr : Find(it->second);
}

bool IdentityTable::Remove(const std::string& routing_id) {
  auto it = peers_.find(routing_id);
  if (it == peers_.end()) return false;
  by_session_.erase(it->second.session);
  peers_.erase(it);
  return true;
}

std::vector<PeerRecord> IdentityTable::Expire(TimePoint now, const HeartbeatPolicy& heartbeat,
                                              std::vector<PeerRecord*>* suspended) {
  std::vector<PeerRecord> expired;
  for (auto it = peers_.begin(); it != peers_.end();) {
    PeerRecord& peer = it->second;
    const bool silent = !peer.suspended() && peer.Silent(heartbeat, now);
    if (silent && peer.resume && !peer.resume->suspended()) {
      peer.resume->Suspend(now);
      if (suspended) suspended->push_back(&peer);
      ++it;
      continue;
    }
    const bool gone = peer.suspended() ? peer.resume->resume_by() <= now : silent;
    if (gone) {
      by_session_.erase(it->second.session);
      expired.push_back(std::move(it->second));
      it = peers_.erase(it);
    } else {
      ++it;
    }
  }
  return expired;
}

TimePoint IdentityTable::NextDeadline(const HeartbeatPolicy& heartbeat, TimePoint fallback) const {
  TimePoint next = fallback;
  for (const auto& [id, peer] : peers_) {
    if (peer.suspended()) {
      next = std::min(next, peer.resume->resume_by());
      continue;
    }
    next =
        std::min({next, heartbeat.ExpiresAt(peer.last_seen), heartbeat.NextPingAt(peer.last_sent)});
  }
  return next;
}

IdentityTable::Resumption IdentityTable::Resume(const std::string& routing_id,
                                                const pmp::Resume& resume, std::string address,
                                                const std::string& public_key, TimePoint now) {
  Resumption r;
  auto by_session = by_session_.find(resume.session);
  auto it = by_session == by_session_.end() ? peers_.end() : peers_.find(by_session->second);
  if (it == peers_.end() || !it->second.resume ||
      !SameToken(it->second.resume->token(), resume.token)) {
    r.deny_code = pmp::kCodeGone;
    r.reason = "gone: no resumable session " + resume.session;
    return r;
  }
  if (it->second.public_key != public_key) {
    r.deny_code = pmp::kCodeForbidden;
    r.reason = "session " + resume.session + " belongs to another key";
    return r;
  }
  if (it->first != routing_id) {
    if (peers_.count(routing_id) != 0) {
      r.deny_code = pmp::kCodeBusy;
      r.reason = "this connection already has another session";
      return r;
    }
    auto node = peers_.extract(it);
    node.key() = routing_id;
    node.mapped().routing_id = routing_id;
    it = peers_.insert(std::move(node)).position;
    by_session->second = routing_id;
  }
  PeerRecord& peer = it->second;
  if (!address.empty()) peer.address = std::move(address);
  peer.resume->Resumed();
  peer.last_seen = now;
  r.peer = &peer;
  return r;
}

std::vector<PeerInfo> IdentityTable::Snapshot(TimePoint now) const {
  std::vector<const PeerRecord*> ordered;
  ordered.reserve(peers_.size());
  for (const auto& [id, peer] : peers_) ordered.push_back(&peer);
  std::sort(ordered.begin(), ordered.end(), [](const PeerRecord* a, const PeerRecord* b) {
    return a->admitted_seq < b->admitted_seq;  // oldest first
  });
  const std::string master = MasterSession();
  std::vector<PeerInfo> out;
  out.reserve(ordered.size());
  for (const PeerRecord* peer : ordered) {
    out.push_back(peer->Snapshot(now));
    out.back().master = !master.empty() && peer->session == master;
  }
  return out;
}

std::string IdentityTable::MasterSession() const {
  const PeerRecord* oldest = nullptr;
  for (const auto& [id, peer] : peers_) {
    if (peer.role != "client") continue;
    if (oldest == nullptr || peer.admitted_seq < oldest->admitted_seq) oldest = &peer;
  }
  return oldest ? oldest->session : std::string();
}

}  // namespace procmod
