#include "directory.h"

#include <algorithm>
#include <cstdio>

namespace procmod::broker {
namespace {

constexpr std::string_view kSoftware = "procmod " PROCMOD_VERSION;

// The lower of two MAJOR.MINOR versions of the same major (admission checked that).
std::string OlderVersion(const std::string& a, std::string_view b) {
  uint32_t a_major = 0, a_minor = 0, b_major = 0, b_minor = 0;
  if (!pmp::ParseProtocolVersion(a, a_major, a_minor) ||
      !pmp::ParseProtocolVersion(b, b_major, b_minor)) {
    return a;
  }
  return std::pair(a_major, a_minor) <= std::pair(b_major, b_minor) ? a : std::string(b);
}

bool IsServerRole(const std::string& role) {
  return role == "server" || role == "data-server" || role == "render-server";
}

// "bye" and "expired" are the only LEFT reasons (PROTOCOL.md §6.11): a client closed
// by the administrator or replaced by a new HELLO left in order, so "bye".
const char* LeftReason(bool expired) { return expired ? "expired" : "bye"; }

}  // namespace

Directory::Directory(DirectorySettings settings)
    : settings_(std::move(settings)),
      heartbeat_(HeartbeatSettings{settings_.heartbeat.interval,
                                   std::max<uint32_t>(settings_.heartbeat.liveness, 1)}),
      random_(std::random_device{}()) {}

// ============================================================================
// HELLO
// ============================================================================

HelloOutcome Directory::Deny(const std::string& routing_id, uint32_t code,
                             std::string reason) const {
  HelloOutcome o;
  o.deny_code = code;
  o.reason = std::move(reason);
  o.out.push_back({routing_id, pmp::Deny{code, o.reason}});
  return o;
}

HelloOutcome Directory::Hello(const std::string& routing_id, const pmp::Hello& hello,
                              std::string address, TimePoint now) {
  uint32_t major = 0, minor = 0, our_major = 0, our_minor = 0;
  pmp::ParseProtocolVersion(pmp::kProtocolVersion, our_major, our_minor);
  if (!pmp::ParseProtocolVersion(hello.version, major, minor) || major != our_major) {
    return Deny(routing_id, pmp::kCodeUnsupportedVersion,
                "protocol version " + hello.version + " is not supported; this side speaks " +
                    std::string(pmp::kProtocolVersion));
  }
  const bool server = IsServerRole(hello.role);
  if (!server && hello.role != "client") {
    return Deny(routing_id, pmp::kCodeForbidden,
                "role '" + hello.role +
                    "' is not accepted here; expected client, server, data-server or "
                    "render-server");
  }
  if (hello.service.empty()) {
    return Deny(routing_id, pmp::kCodeMalformed, "HELLO to a broker needs a service");
  }

  const Leg* old = Find(routing_id);
  auto service = services_.find(hello.service);
  if (server) {
    // The live server of the service may re-HELLO (it replaces itself); an expired
    // one's registration is already gone, so a newcomer may take the name.
    if (service != services_.end() && service->second.server != routing_id) {
      return Deny(routing_id, pmp::kCodeBusy, "service " + hello.service + " already has a server");
    }
  } else {
    if (service == services_.end()) {
      return Deny(routing_id, pmp::kCodeUnknownSession, "unknown service " + hello.service);
    }
    const Service& s = service->second;
    if (s.server == routing_id) {
      return Deny(routing_id, pmp::kCodeBusy,
                  "the server of service " + hello.service + " cannot be its own client");
    }
    if (hello.connect_id != s.connect_id) {
      return Deny(routing_id, pmp::kCodeForbidden,
                  "connect-id " + std::to_string(hello.connect_id) + " does not match");
    }
    // A client re-HELLOing the same service keeps its slot (PROTOCOL.md §9.2).
    const bool old_is_client = old != nullptr && !old->is_server();
    const bool same_slot = old_is_client && old->service == hello.service;
    if (!same_slot) {
      if (!s.multi && s.slot_used) {
        return Deny(
            routing_id, pmp::kCodeBusy,
            "service " + hello.service + " already has its client (single-connection server)");
      }
      const size_t others = clients_ - (old_is_client ? 1 : 0);
      if (others >= settings_.max_connections) {
        return Deny(routing_id, pmp::kCodeFull,
                    "at max_connections (" + std::to_string(settings_.max_connections) + ")");
      }
    }
  }

  // Admitted. The old session of this routing id ends first, as its BYE would.
  HelloOutcome o;
  o.admitted = true;
  if (old != nullptr) {
    o.replaced_session = old->peer.session;
    EndLeg(routing_id, EndReason::kReplaced, o.out, o.ended);
  }

  if (server) {
    Leg& leg = AddLeg(routing_id, Leg::Kind::kServer, hello, std::move(address), now);
    Service& s = services_[hello.service];
    s = Service{};
    s.name = hello.service;
    s.server = routing_id;
    s.server_session = leg.peer.session;
    s.connect_id = hello.connect_id;
    s.multi = hello.multi;
    o.session = leg.peer.session;
    o.out.push_back({routing_id, WelcomeFromBroker(leg, s.multi)});
    return o;
  }

  Leg& leg = AddLeg(routing_id, Leg::Kind::kClient, hello, std::move(address), now);
  Service& s = services_.at(hello.service);  // replacing a client never ends a service
  s.slot_used = true;
  s.clients.push_back(leg.peer.session);
  ++clients_;
  const Leg& server_leg = legs_.at(s.server);
  pmp::Welcome welcome;
  welcome.session = leg.peer.session;
  welcome.role = server_leg.peer.role;
  welcome.name = server_leg.peer.name;
  // The client's messages cross two hops, so it hears the version both speak.
  welcome.version = OlderVersion(server_leg.peer.version, pmp::kProtocolVersion);
  welcome.software = server_leg.peer.software;
  welcome.heartbeat_ms = static_cast<uint64_t>(heartbeat_.settings().interval.count());
  welcome.liveness = heartbeat_.settings().liveness;
  welcome.multi = s.multi;
  o.session = leg.peer.session;
  o.out.push_back({routing_id, std::move(welcome)});
  o.out.push_back({s.server, pmp::Joined{leg.peer.session, leg.peer.name, "client"}});
  return o;
}

Leg& Directory::AddLeg(const std::string& routing_id, Leg::Kind kind, const pmp::Hello& hello,
                       std::string address, TimePoint now) {
  Leg& leg = legs_[routing_id];
  leg = Leg{};
  leg.kind = kind;
  leg.service = hello.service;
  leg.peer.routing_id = routing_id;
  leg.peer.session = NewSessionId();
  leg.peer.admitted_seq = next_seq_++;
  leg.peer.name = hello.name;
  leg.peer.role = hello.role;
  leg.peer.address = std::move(address);
  leg.peer.version = hello.version;
  leg.peer.payload_form = pmp::PayloadFormFor(hello.version);
  leg.peer.software = hello.software;
  leg.peer.connected_at = leg.peer.last_seen = leg.peer.last_sent = now;
  by_session_[leg.peer.session] = routing_id;
  return leg;
}

pmp::Welcome Directory::WelcomeFromBroker(const Leg& leg, bool multi) const {
  pmp::Welcome welcome;
  welcome.session = leg.peer.session;
  welcome.role = std::string(kBrokerRole);
  welcome.name = settings_.name;
  welcome.version = std::string(pmp::kProtocolVersion);
  welcome.software = std::string(kSoftware);
  welcome.heartbeat_ms = static_cast<uint64_t>(heartbeat_.settings().interval.count());
  welcome.liveness = heartbeat_.settings().liveness;
  welcome.multi = multi;
  return welcome;
}

std::string Directory::NewSessionId() {
  for (;;) {
    char id[17];
    std::snprintf(id, sizeof id, "%016llx", static_cast<unsigned long long>(random_()));
    if (!by_session_.contains(id)) return id;
  }
}

// ============================================================================
// Ends of sessions
// ============================================================================

void Directory::EndLeg(const std::string& routing_id, EndReason reason, Outbox& out,
                       std::vector<Ended>& ended) {
  auto it = legs_.find(routing_id);
  if (it == legs_.end()) return;
  Leg leg = std::move(it->second);
  legs_.erase(it);
  by_session_.erase(leg.peer.session);
  // A leg taken over is lost to its partners as an expired one: it said no BYE.
  const bool expired = reason == EndReason::kExpired || reason == EndReason::kTakenOver;
  const char* why = reason == EndReason::kBye         ? "bye"
                    : reason == EndReason::kExpired   ? "expired"
                    : reason == EndReason::kReplaced  ? "replaced"
                    : reason == EndReason::kTakenOver ? "taken over by another key"
                                                      : "closed";
  if (reason == EndReason::kClosed) {
    out.push_back({routing_id, pmp::Bye{"closed by the administrator"}});
  }

  if (!leg.is_server()) {
    Service& s = services_.at(leg.service);  // a client leg never outlives its service
    std::erase(s.clients, leg.peer.session);
    --clients_;
    out.push_back({s.server, pmp::Left{leg.peer.session, LeftReason(expired)}});
    ended.push_back({std::move(leg), why});
    return;
  }

  // A server: the service goes, and with it every session of its clients.
  auto service = services_.find(leg.service);
  if (service != services_.end()) {
    Service s = std::move(service->second);
    services_.erase(service);
    const std::string client_why = expired ? "server lost" : "server left";
    for (const std::string& session : s.clients) {
      auto client_id = by_session_.find(session);
      if (client_id == by_session_.end()) continue;
      const std::string client_routing_id = client_id->second;
      by_session_.erase(client_id);
      auto client = legs_.find(client_routing_id);
      if (client == legs_.end()) continue;
      out.push_back({client_routing_id, pmp::Bye{client_why}});
      ended.push_back({std::move(client->second), client_why});
      legs_.erase(client);
      --clients_;
    }
  }
  ended.push_back({std::move(leg), why});
}

EndOutcome Directory::Bye(const std::string& routing_id) {
  EndOutcome o;
  EndLeg(routing_id, EndReason::kBye, o.out, o.ended);
  return o;
}

EndOutcome Directory::Lost(const std::string& routing_id) {
  EndOutcome o;
  EndLeg(routing_id, EndReason::kExpired, o.out, o.ended);
  return o;
}

EndOutcome Directory::Close(const std::string& session) {
  EndOutcome o;
  auto it = by_session_.find(session);
  if (it == by_session_.end()) return o;
  const std::string routing_id = it->second;
  EndLeg(routing_id, EndReason::kClosed, o.out, o.ended);
  return o;
}

EndOutcome Directory::Expire(TimePoint now) {
  std::vector<std::string> silent_servers, silent_clients;
  for (const auto& [routing_id, leg] : legs_) {
    if (!heartbeat_.IsExpired(leg.peer.last_seen, now)) continue;
    (leg.is_server() ? silent_servers : silent_clients).push_back(routing_id);
  }
  // Servers first: their silent clients then end with the service ("server lost")
  // instead of sending LEFT to a server that is gone too.
  EndOutcome o;
  for (const auto& id : silent_servers) EndLeg(id, EndReason::kExpired, o.out, o.ended);
  for (const auto& id : silent_clients) EndLeg(id, EndReason::kExpired, o.out, o.ended);
  return o;
}

EndOutcome Directory::CheckKey(const std::string& routing_id, std::string_view public_key) {
  EndOutcome o;
  auto it = legs_.find(routing_id);
  if (it == legs_.end() || it->second.peer.public_key == public_key) return o;
  EndLeg(routing_id, EndReason::kTakenOver, o.out, o.ended);
  return o;
}

Outbox Directory::Shutdown(const std::string& reason) {
  Outbox out;
  for (const Leg* leg : Legs()) out.push_back({leg->peer.routing_id, pmp::Bye{reason}});
  legs_.clear();
  by_session_.clear();
  services_.clear();
  clients_ = 0;
  return out;
}

// ============================================================================
// Heartbeats and relaying
// ============================================================================

std::vector<std::string> Directory::DuePings(TimePoint now) const {
  std::vector<std::string> due;
  for (const auto& [routing_id, leg] : legs_) {
    if (heartbeat_.ShouldPing(leg.peer.last_sent, now)) due.push_back(routing_id);
  }
  return due;
}

Route Directory::RouteFrom(const std::string& routing_id, const std::string& peer) const {
  Route route;
  const Leg* from = Find(routing_id);
  if (from == nullptr) {
    route.error_code = pmp::kCodeUnknownSession;
    route.reason = "unknown session; send HELLO";
    return route;
  }
  const Service& service = services_.at(from->service);  // every leg has its service
  if (!from->is_server()) {
    // Towards the server, `peer` names the client, whatever the client wrote there.
    route.to = service.server;
    route.peer = from->peer.session;
    route.form = legs_.at(service.server).peer.payload_form;
    return route;
  }
  if (peer.empty()) {
    route.error_code = pmp::kCodeMalformed;
    route.reason = "relayed messages from a server need `peer`";
    return route;
  }
  const Leg* client = FindSession(peer);
  if (client == nullptr || client->is_server() || client->service != from->service) {
    route.drop = true;
    route.reason = "unknown peer session " + peer;
    return route;
  }
  route.to = client->peer.routing_id;
  route.form = client->peer.payload_form;
  return route;  // peer "": the client leg carries none
}

// ============================================================================
// Lookups
// ============================================================================

Leg* Directory::Find(const std::string& routing_id) {
  auto it = legs_.find(routing_id);
  return it == legs_.end() ? nullptr : &it->second;
}

const Leg* Directory::Find(const std::string& routing_id) const {
  auto it = legs_.find(routing_id);
  return it == legs_.end() ? nullptr : &it->second;
}

const Leg* Directory::FindSession(const std::string& session) const {
  auto it = by_session_.find(session);
  return it == by_session_.end() ? nullptr : Find(it->second);
}

const Service* Directory::FindService(const std::string& name) const {
  auto it = services_.find(name);
  return it == services_.end() ? nullptr : &it->second;
}

std::vector<const Leg*> Directory::Legs() const {
  std::vector<const Leg*> legs;
  legs.reserve(legs_.size());
  for (const auto& [routing_id, leg] : legs_) legs.push_back(&leg);
  std::sort(legs.begin(), legs.end(),
            [](const Leg* a, const Leg* b) { return a->peer.admitted_seq < b->peer.admitted_seq; });
  return legs;
}

}  // namespace procmod::broker
