#include "directory.h"

#include <algorithm>
#include <cstdio>
#include <optional>

#include "session/resume_state.h"

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

// A RESUME needs 1.2; so does a session the broker makes resumable (PROTOCOL §16.1).
constexpr std::string_view kResumeVersion = "1.2";

bool SpeaksResume(const std::string& version) {
  uint32_t major = 0, minor = 0, resume_major = 0, resume_minor = 0;
  return pmp::ParseProtocolVersion(version, major, minor) &&
         pmp::ParseProtocolVersion(kResumeVersion, resume_major, resume_minor) &&
         std::pair(major, minor) >= std::pair(resume_major, resume_minor);
}

// A session's RESUMEs the broker keeps waiting for their server's answers, at most.
// A client retries a RESUME that got no answer from a new socket; beyond this, the
// oldest is given up (its answer discarded), so a flood cannot grow the queue.
constexpr size_t kMaxWaitingResumes = 4;

std::string Gone(const std::string& session) { return "gone: no resumable session " + session; }

ResumeOutcome RefuseResume(const std::string& routing_id, uint32_t code, std::string reason) {
  ResumeOutcome o;
  o.deny_code = code;
  o.reason = std::move(reason);
  o.out.push_back({routing_id, pmp::Deny{code, o.reason}});
  return o;
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
    s.resume_grace_ms = hello.resume_grace_ms;
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
  // Resumable when the client asks and its server resumes (PROTOCOL §16.1 across two
  // hops): the token goes to both ends, which keep the session; the server's grace
  // governs.
  pmp::Joined joined{leg.peer.session, leg.peer.name, "client"};
  if (hello.resume && SpeaksResume(hello.version) && s.resume_grace_ms > 0) {
    leg.resume_token = NewResumeToken();
    welcome.resume_token = joined.resume_token = leg.resume_token;
    welcome.resume_grace_ms = s.resume_grace_ms;
  }
  o.session = leg.peer.session;
  o.out.push_back({routing_id, std::move(welcome)});
  o.out.push_back({s.server, std::move(joined)});
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
    // Not one a RESUME may still claim (after a restart, the broker knows no other).
    if (!by_session_.contains(id) && !resumes_.contains(id)) return id;
  }
}

// ============================================================================
// Ends of sessions
// ============================================================================

void Directory::EndLeg(const std::string& routing_id, EndReason reason, Outbox& out,
                       std::vector<Ended>& ended) {
  auto it = legs_.find(routing_id);
  if (it == legs_.end()) return;
  // A leg taken over, or given up for a RESUME, is lost to its partners as an
  // expired one: it said no BYE.
  const bool expired = reason == EndReason::kExpired || reason == EndReason::kTakenOver ||
                       reason == EndReason::kResuming;
  const char* why = reason == EndReason::kBye         ? "bye"
                    : reason == EndReason::kExpired   ? "expired"
                    : reason == EndReason::kReplaced  ? "replaced"
                    : reason == EndReason::kTakenOver ? "taken over by another key"
                    : reason == EndReason::kResuming  ? "replaced by a RESUME"
                                                      : "closed";
  if (reason == EndReason::kClosed) {
    out.push_back({routing_id, pmp::Bye{"closed by the administrator"}});
  }

  if (!it->second.is_server()) {
    Leg leg = RemoveClient(it);
    // A client leg never outlives its service. LEFT expired suspends a resumable
    // session at its server, which keeps it for a RESUME.
    out.push_back(
        {services_.at(leg.service).server, pmp::Left{leg.peer.session, LeftReason(expired)}});
    ended.push_back({std::move(leg), why});
    return;
  }

  Leg leg = std::move(it->second);
  legs_.erase(it);
  by_session_.erase(leg.peer.session);
  // A server: the service goes, and with it every session of its clients, but for
  // the resumable ones when the server did not end them (no BYE): it keeps them, so
  // they are only forgotten here, without BYE, and resume with its next
  // registration (their next message gets ERROR 404, then they RESUME).
  const bool for_good = reason == EndReason::kBye || reason == EndReason::kClosed;
  auto service = services_.find(leg.service);
  if (service != services_.end()) {
    Service s = std::move(service->second);
    services_.erase(service);
    DropResumes(s.name, for_good, out);
    const std::string client_why(expired ? pmp::kByeServerLost : pmp::kByeServerLeft);
    for (const std::string& session : s.clients) {
      auto client_id = by_session_.find(session);
      if (client_id == by_session_.end()) continue;
      auto client = legs_.find(client_id->second);
      if (client == legs_.end()) continue;
      const std::string client_routing_id = client->first;
      const bool resumes = client->second.resumable() && !for_good;
      Leg client_leg = RemoveClient(client);
      if (resumes) {
        ended.push_back({std::move(client_leg), client_why + "; it may resume"});
        continue;
      }
      out.push_back({client_routing_id, pmp::Bye{client_why}});
      ended.push_back({std::move(client_leg), client_why});
    }
  }
  ended.push_back({std::move(leg), why});
}

Leg Directory::RemoveClient(std::unordered_map<std::string, Leg>::iterator it) {
  Leg leg = std::move(it->second);
  legs_.erase(it);
  by_session_.erase(leg.peer.session);
  if (auto service = services_.find(leg.service); service != services_.end()) {
    std::erase(service->second.clients, leg.peer.session);
  }
  --clients_;
  return leg;
}

void Directory::DropResumes(const std::string& service, bool ended_for_good, Outbox& out) {
  std::erase_if(resumes_, [&](const auto& entry) {
    const Resumes& r = entry.second;
    if (r.service != service) return false;
    if (ended_for_good) {
      for (const PendingResume& p : r.waiting) {
        out.push_back({p.routing_id, pmp::Deny{pmp::kCodeGone, "gone: server left"}});
      }
    }
    return true;
  });
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
  for (auto& [routing_id, leg] : legs_) {
    if (!leg.peer.Silent(heartbeat_, now)) continue;  // bytes on their way are life
    (leg.is_server() ? silent_servers : silent_clients).push_back(routing_id);
  }
  // Servers first: their silent clients then end with the service ("server lost")
  // instead of sending LEFT to a server that is gone too.
  EndOutcome o;
  for (const auto& id : silent_servers) EndLeg(id, EndReason::kExpired, o.out, o.ended);
  for (const auto& id : silent_clients) EndLeg(id, EndReason::kExpired, o.out, o.ended);
  // A RESUME its server did not answer in time is given up: its client dials again.
  // The answer may still come; it is then the oldest, and discarded.
  for (auto& [session, r] : resumes_) {
    while (!r.waiting.empty() && now - r.waiting.front().since >= settings_.resume_answer_timeout) {
      r.waiting.pop_front();
      ++r.abandoned;
    }
  }
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
  resumes_.clear();
  clients_ = 0;
  return out;
}

// ============================================================================
// Resume
// ============================================================================

ResumeOutcome Directory::Resume(const std::string& routing_id, const pmp::Resume& resume,
                                std::string address, std::string public_key, TimePoint now) {
  const std::string& session = resume.session;
  if (resume.service.empty()) {
    // Only a client of procmod 0.1's broker could send it: no session to find.
    return RefuseResume(routing_id, pmp::kCodeGone,
                        Gone(session) + "; a RESUME to a broker needs `service`");
  }
  const Leg* from = Find(routing_id);
  if (from != nullptr && from->is_server()) {
    return RefuseResume(routing_id, pmp::kCodeBusy,
                        "the server of service " + from->service + " cannot resume a client");
  }
  auto service = services_.find(resume.service);
  if (service == services_.end()) {
    // After a broker restart, or while the server registers again: the client
    // retries until its grace is over.
    return RefuseResume(routing_id, pmp::kCodeUnknownSession,
                        "no server for service " + resume.service);
  }
  const Service& s = service->second;
  if (s.resume_grace_ms == 0) return RefuseResume(routing_id, pmp::kCodeGone, Gone(session));
  // The server checks the token, but a live leg is the broker's to keep: only its
  // own token and key may take it over (PROTOCOL §16.6).
  const Leg* live = FindSession(session);
  if (live != nullptr) {
    if (live->is_server() || live->service != resume.service || !live->resumable() ||
        !SameToken(live->resume_token, resume.token)) {
      return RefuseResume(routing_id, pmp::kCodeGone, Gone(session));
    }
    if (live->peer.public_key != public_key) {
      return RefuseResume(routing_id, pmp::kCodeForbidden,
                          "session " + session + " belongs to another key");
    }
  }
  auto waiting = resumes_.find(session);
  if (waiting != resumes_.end() && waiting->second.service != resume.service) {
    return RefuseResume(routing_id, pmp::kCodeGone, Gone(session));
  }

  ResumeOutcome o;
  o.forwarded = true;
  PendingResume pending{.routing_id = routing_id,
                        .address = std::move(address),
                        .public_key = std::move(public_key),
                        .token = resume.token,
                        .name = live ? live->peer.name : std::string(),
                        .version = live ? live->peer.version : std::string(kResumeVersion),
                        .since = now};
  // The client gave up the legs of this routing id and of this session: lost, as far
  // as their server is told (LEFT expired suspends a resumable one there).
  const std::string live_routing_id = live ? live->peer.routing_id : std::string();
  if (from != nullptr) EndLeg(routing_id, EndReason::kResuming, o.out, o.ended);
  if (!live_routing_id.empty() && live_routing_id != routing_id) {
    EndLeg(live_routing_id, EndReason::kResuming, o.out, o.ended);
  }
  Resumes& r = resumes_[session];
  r.service = resume.service;
  if (r.waiting.size() >= kMaxWaitingResumes) {
    r.waiting.pop_front();
    ++r.abandoned;
  }
  pmp::Joined joined{session, pending.name, "client"};
  joined.resume_token = resume.token;
  joined.resume = true;
  joined.received = resume.received;
  r.waiting.push_back(std::move(pending));
  o.out.push_back({s.server, std::move(joined)});
  return o;
}

ResumedOutcome Directory::Resumed(const std::string& routing_id, const pmp::Resumed& resumed,
                                  TimePoint now) {
  ResumedOutcome o;
  const Leg* server = Find(routing_id);
  if (server == nullptr || !server->is_server()) return o;
  const std::string& session = resumed.session;
  auto it = resumes_.find(session);
  if (it == resumes_.end() || it->second.service != server->service) return o;  // not asked
  Resumes& r = it->second;
  std::optional<PendingResume> pending;
  if (r.abandoned > 0) {
    --r.abandoned;
  } else if (!r.waiting.empty()) {
    pending = std::move(r.waiting.front());
    r.waiting.pop_front();
  }
  if (r.waiting.empty() && r.abandoned == 0) resumes_.erase(it);
  Service& s = services_.at(server->service);
  // The server resumed the session for this RESUME: a leg of an earlier one goes.
  if (pending) {
    if (auto old = by_session_.find(session); old != by_session_.end()) {
      if (auto leg = legs_.find(old->second); leg != legs_.end()) {
        o.ended.push_back({RemoveClient(leg), "resumed from elsewhere"});
      }
    }
  }
  if (!pending || legs_.contains(pending->routing_id)) {
    // Its client stopped waiting (or HELLOed on that routing id since): the server
    // holds a session admitted that has no leg here, so it hears the link is gone.
    if (!by_session_.contains(session)) {
      o.out.push_back({routing_id, pmp::Left{session, LeftReason(/*expired=*/true)}});
    }
    return o;
  }
  // The same session id, on the new routing id; admitted now. In single mode it
  // takes no new slot: it had the slot (a restarted broker marks it used).
  Leg& leg = legs_[pending->routing_id];
  leg = Leg{};
  leg.kind = Leg::Kind::kClient;
  leg.service = server->service;
  leg.resume_token = std::move(pending->token);
  leg.peer.routing_id = pending->routing_id;
  leg.peer.session = session;
  leg.peer.admitted_seq = next_seq_++;
  leg.peer.name = std::move(pending->name);
  leg.peer.role = "client";
  leg.peer.address = std::move(pending->address);
  leg.peer.public_key = std::move(pending->public_key);
  leg.peer.version = std::move(pending->version);
  leg.peer.payload_form = pmp::PayloadFormFor(leg.peer.version);
  leg.peer.connected_at = leg.peer.last_seen = leg.peer.last_sent = now;
  by_session_[session] = pending->routing_id;
  s.clients.push_back(session);
  s.slot_used = true;
  ++clients_;
  o.routing_id = pending->routing_id;
  o.out.push_back({pending->routing_id, pmp::Resumed{session, resumed.received}});
  return o;
}

EndOutcome Directory::ServerBye(const std::string& routing_id, const pmp::Bye& bye) {
  EndOutcome o;
  const Leg* server = Find(routing_id);
  if (server == nullptr || !server->is_server() || bye.peer.empty()) return o;
  // A refused RESUME first: the oldest waiting one is what the server answered.
  auto it = resumes_.find(bye.peer);
  if (it != resumes_.end() && it->second.service == server->service) {
    Resumes& r = it->second;
    if (r.abandoned > 0) {
      --r.abandoned;
    } else if (!r.waiting.empty()) {
      o.out.push_back(
          {r.waiting.front().routing_id,
           pmp::Deny{pmp::kCodeGone, bye.reason.empty() ? Gone(bye.peer) : bye.reason}});
      r.waiting.pop_front();
    }
    if (r.waiting.empty() && r.abandoned == 0) resumes_.erase(it);
    return o;
  }
  // Else the server ends one client's session: the client hears it, the server
  // needs no LEFT back.
  auto client_id = by_session_.find(bye.peer);
  if (client_id == by_session_.end()) return o;
  auto client = legs_.find(client_id->second);
  if (client == legs_.end() || client->second.is_server() ||
      client->second.service != server->service) {
    return o;
  }
  o.out.push_back({client->first, pmp::Bye{bye.reason}});
  o.ended.push_back({RemoveClient(client), "ended by its server"});
  return o;
}

Outbox Directory::ForwardPing(const std::string& routing_id, const pmp::Ping& ping,
                              TimePoint now) const {
  Outbox out;
  const Leg* from = Find(routing_id);
  if (from == nullptr) return out;
  if (!from->is_server()) {
    if (!from->resumable() || (!ping.ack && !ping.sent && !ping.resend)) return out;
    // No echo: this PING is about the client's session, not the server leg's RTT.
    pmp::Ping forwarded = HeartbeatPolicy::MakePing(PingEcho{}, now);
    forwarded.ack = ping.ack;
    forwarded.sent = ping.sent;
    forwarded.resend = ping.resend;
    forwarded.peer = from->peer.session;
    out.push_back({services_.at(from->service).server, std::move(forwarded)});
    return out;
  }
  if (ping.peer.empty()) return out;
  const Leg* client = FindSession(ping.peer);
  if (client == nullptr || client->is_server() || client->service != from->service ||
      !client->resumable()) {
    return out;  // suspended (no leg) or not its own: the server's buffer keeps it
  }
  // Towards the client it is the broker's PING on that leg too: echo and held are
  // the leg's, so the client's RTT stays right.
  pmp::Ping forwarded = HeartbeatPolicy::MakePing(client->peer.echo, now);
  forwarded.ack = ping.ack;
  forwarded.sent = ping.sent;
  forwarded.resend = ping.resend;
  out.push_back({client->peer.routing_id, std::move(forwarded)});
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
