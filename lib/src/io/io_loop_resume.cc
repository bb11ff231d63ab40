// Sessions that outlive their link (PMP/1.2, docs/PROTOCOL.md "Session resume").
//
// A resumable session numbers what the application sends (`seq`) and acknowledges
// what it received (`ack`); ResumeState (session/resume_state.h) keeps what the
// peer has not acknowledged and decides what an arrival means. This file wires it
// to both sides: stamping and keeping on the way out, dropping duplicates and
// asking again after a gap on the way in, suspending a session whose link went
// silent instead of ending it, and the RESUME/RESUMED exchange that brings it back
// on a new connection, from wherever the peer now is.
#include <spdlog/spdlog.h>

#include "base/log_text.h"
#include "io/io_loop.h"
#include "io/io_loop_internal.h"
#include "procmod/config.h"

namespace procmod {

using io_loop_internal::GraceOf;
using io_loop_internal::Invoke;
using io_loop_internal::NotResumedWithin;

// ---- on the way out -------------------------------------------------------------

uint64_t IoLoop::Stamp(PeerRecord& peer, pmp::Header& header) {
  if (!peer.resume) return 0;
  return std::visit(
      [&](auto& message) -> uint64_t {
        if constexpr (requires {
                        message.seq;
                        message.ack;
                      }) {
          return Stamp(peer, message.seq, message.ack);
        } else {
          return 0;
        }
      },
      header);
}

bool IoLoop::Keep(PeerRecord& peer, uint64_t seq, Frames& frames) {
  return seq == 0 || peer.resume->Keep(seq, frames) || KeepRefused(peer);
}

bool IoLoop::KeepRefused(const PeerRecord& peer) {
  if (!peer.resume->Overflow()) return false;  // ended already
  // The figures and the way out, for the operator who reads it in a log.
  EndResumable(peer.session,
               "resume buffer full: " + std::to_string(peer.resume->kept_bytes()) +
                   " bytes sent and not yet acknowledged, and more to send while suspended; "
                   "resume.buffer is " +
                   std::to_string(peer.resume->buffer_limit()) +
                   " (raise it above the largest burst, or turn resume off with resume.grace: 0)");
  return false;
}

void IoLoop::EndResumable(const std::string& session, std::string said) {
  // Not now: the sender's caller may hold the record. The next turn ends it.
  Post([this, session, said = std::move(said)] {
    std::optional<PeerRef> ref = Resolve(session);
    if (!ref || !ref->record->resume) return;
    spdlog::error("procmod: session {} ends: {}", session, said);
    if (ref->kind == PeerKind::kRelayed) return CloseRelayed(*ref->record, said);
    SendControl(*ref->record, ref->kind, pmp::Encode(pmp::Bye{said}));
    if (ref->kind == PeerKind::kAccepted) {
      return RemovePeer(ref->record->routing_id, DisconnectReason::kClosed, said);
    }
    Link& link = *links_.at(ref->link_id);
    if (link.resuming()) return EndSuspendedLink(link, DisconnectReason::kClosed, said);
    DropLink(ref->link_id, DisconnectReason::kClosed, said);
  });
}

pmp::Ping IoLoop::PingFor(PeerRecord& peer, TimePoint now, PeerKind kind) {
  pmp::Ping ping = HeartbeatPolicy::MakePing(peer.echo, now);
  if (peer.resume) {
    ping.ack = peer.resume->AckToSend();
    ping.sent = peer.resume->sent();
  }
  if (kind == PeerKind::kRelayed) ping.peer = peer.session;
  return ping;
}

void IoLoop::SendControl(PeerRecord& peer, PeerKind kind, Frames frames) {
  if (peer.suspended()) return;
  switch (kind) {
    case PeerKind::kAccepted:
      SendToRoutingId(peer.routing_id, std::move(frames), &peer);
      return;
    case PeerKind::kLinked: {
      auto it = link_by_session_.find(peer.session);
      if (it == link_by_session_.end()) return;
      Link& link = *links_.at(it->second);
      if (link.admitted()) SendOnLink(link, std::move(frames));
      return;
    }
    case PeerKind::kRelayed: {
      // Over the broker's link: what goes is addressed to the client already (a kept
      // message, or a PING with `peer`).
      auto it = links_.find(relayed_.LinkOf(peer.session));
      if (it != links_.end() && it->second->admitted()) SendOnLink(*it->second, std::move(frames));
      return;
    }
  }
}

void IoLoop::Resend(PeerRecord& peer, PeerKind kind, uint64_t after) {
  if (!peer.resume->CanResend(after)) {
    return EndResumable(
        peer.session,
        "cannot resend: message " + std::to_string(peer.resume->unkept_through()) + " (" +
            std::to_string(peer.resume->unkept_bytes()) +
            " bytes) went without a replay copy, as it did not fit in resume.buffer (" +
            std::to_string(peer.resume->buffer_limit()) +
            "), and the peer has not received it (raise resume.buffer above the largest burst)");
  }
  for (Frames& frames : peer.resume->Unacknowledged(after)) {
    SendControl(peer, kind, std::move(frames));
  }
}

// ---- on the way in --------------------------------------------------------------

bool IoLoop::SequenceOther(PeerRecord& peer, PeerKind kind, pmp::Message& message) {
  ResumeState& resume = *peer.resume;
  uint64_t seq = 0;
  switch (message.command()) {
    case pmp::Command::kRequest: {
      const auto& request = std::get<pmp::Request>(message.header);
      resume.Acknowledge(request.ack);
      seq = request.seq;
      break;
    }
    case pmp::Command::kReply: {
      const auto& reply = std::get<pmp::Reply>(message.header);
      resume.Acknowledge(reply.ack);
      seq = reply.seq;
      break;
    }
    case pmp::Command::kPing: {
      const auto& ping = std::get<pmp::Ping>(message.header);
      if (ping.ack) resume.Acknowledge(*ping.ack);
      if (ping.resend) Resend(peer, kind, ping.ack.value_or(0));
      // Its `sent` tells of a lost tail, which no later message would reveal.
      if (ping.sent && *ping.sent > resume.received()) AskResend(peer, kind);
      return true;
    }
    default:  // DATA is Sequence()'s; the rest are not numbered
      return true;
  }
  if (seq == 0) return true;  // not numbered: a peer that does not resume this way
  return OnArrival(peer, kind, resume.OnReceived(seq, FrameBytes(message.payload)));
}

bool IoLoop::OnArrival(PeerRecord& peer, PeerKind kind, ResumeState::Arrival arrival) {
  switch (arrival) {
    case ResumeState::Arrival::kDeliver:
      if (peer.resume->AckDue()) SendControl(peer, kind, pmp::Encode(PingFor(peer, now_, kind)));
      return true;
    case ResumeState::Arrival::kDuplicate:
      return false;
    case ResumeState::Arrival::kGap:
      AskResend(peer, kind);
      return false;
  }
  return false;
}

void IoLoop::AskResend(PeerRecord& peer, PeerKind kind) {
  if (!peer.resume->ShouldAskResend(now_, heartbeat_.settings().interval)) return;
  pmp::Ping ping = PingFor(peer, now_, kind);
  ping.resend = true;
  SendControl(peer, kind, pmp::Encode(ping));
}

// ---- accepting side -------------------------------------------------------------

void IoLoop::OnResume(const std::string& routing_id, const pmp::Resume& resume, std::string address,
                      std::string public_key) {
  IdentityTable& table = acceptor_->table();
  const PeerRecord* before = table.FindSession(resume.session);
  const bool was_suspended = before != nullptr && before->suspended();
  const std::string from = address.empty() ? std::string("?") : address;
  IdentityTable::Resumption r =
      table.Resume(routing_id, resume, std::move(address), public_key, now_);
  if (r.peer == nullptr) {
    if (denial_log_.Allow(now_, "denials")) {
      spdlog::info("procmod: refused to resume session {:?} from {}: {} {:?}", Clip(resume.session),
                   from, r.deny_code, r.reason);
    }
    SendToRoutingId(routing_id, pmp::Encode(pmp::Deny{r.deny_code, r.reason}));
    return;
  }
  PeerRecord& peer = *r.peer;
  peer.resume->Acknowledge(resume.received);
  SendToRoutingId(routing_id, pmp::Encode(pmp::Resumed{peer.session, peer.resume->received()}),
                  &peer);
  const size_t again = peer.resume->kept_messages();
  Resend(peer, PeerKind::kAccepted, resume.received);
  spdlog::info("procmod: session {} of {} {:?} resumed from {} ({} messages sent again)",
               peer.session, peer.role, Clip(peer.name), from, again);
  if (was_suspended) Invoke("resumed", on_resumed_, MakeConnection(peer, /*incoming=*/true));
}

void IoLoop::Suspended(const PeerRecord& peer, bool incoming) {
  spdlog::warn("procmod: lost the link of session {} ({} {:?} from {}); it may resume within {}",
               peer.session, peer.role, Clip(peer.name), peer.address,
               FormatDuration(GraceOf(peer)));
  Invoke("suspended", on_suspended_, MakeConnection(peer, incoming), GraceOf(peer));
}

// ---- broker mode, server side -----------------------------------------------------

void IoLoop::ResumeRelayed(Link& broker, const pmp::Joined& joined) {
  PeerRecord* client = relayed_.Find(joined.session);
  if (client == nullptr || !client->resume ||
      !SameToken(client->resume->token(), joined.resume_token)) {
    // The broker tells the client: DENY 410, as a process module's acceptor would.
    SendOnLink(broker, pmp::Encode(pmp::Bye{"gone: no resumable session " + joined.session,
                                            joined.session}));
    return;
  }
  const bool was_suspended = client->suspended();
  relayed_.Reattach(client->session, broker.id());
  client->resume->Resumed();
  client->last_seen = now_;
  client->resume->Acknowledge(joined.received);
  SendOnLink(broker, pmp::Encode(pmp::Resumed{client->session, client->resume->received()}));
  const size_t again = client->resume->kept_messages();
  Resend(*client, PeerKind::kRelayed, joined.received);
  spdlog::info("procmod: session {} of {} {:?} resumed via {} ({} messages sent again)",
               client->session, client->role, Clip(client->name), broker.url(), again);
  if (was_suspended) Invoke("resumed", on_resumed_, MakeConnection(*client, /*incoming=*/true));
}

void IoLoop::CloseRelayed(PeerRecord& client, const std::string& reason) {
  // BYE with `peer`: the broker ends that one client's session (PROTOCOL §12).
  if (auto it = links_.find(relayed_.LinkOf(client.session));
      it != links_.end() && it->second->admitted()) {
    SendOnLink(*it->second, pmp::Encode(pmp::Bye{reason, client.session}));
  }
  std::optional<PeerRecord> gone = relayed_.Leave(client.session);
  if (!gone) return;
  requests_.FailSession(gone->session, UnavailableError("session " + gone->session + " closed"));
  Disconnected(*gone, /*incoming=*/true, DisconnectReason::kClosed, reason);
}

void IoLoop::OnRelayedResumeTick(TimePoint now) {
  for (PeerRecord& gone : relayed_.EndSuspended(now)) {
    requests_.FailSession(gone.session, UnavailableError("peer " + gone.session + " expired"));
    Disconnected(gone, /*incoming=*/true, DisconnectReason::kExpired, NotResumedWithin(gone));
  }
  std::vector<std::string> owed;  // a send may end a session: by name, not pointer
  relayed_.ForEach([&](PeerRecord& client, uint64_t) {
    if (!client.resume) return;
    client.resume->Trim();
    if (client.suspended()) return;
    const bool unsettled = client.resume->kept_messages() > 0 || client.resume->OwesAck();
    if (unsettled && heartbeat_.ShouldPing(client.last_sent, now)) owed.push_back(client.session);
  });
  for (const std::string& session : owed) {
    PeerRecord* client = relayed_.Find(session);
    if (client == nullptr) continue;
    client->last_sent = now;
    SendControl(*client, PeerKind::kRelayed,
                pmp::Encode(PingFor(*client, now, PeerKind::kRelayed)));
  }
}

// ---- connecting side ------------------------------------------------------------

void IoLoop::SuspendLink(Link& link, std::string_view why) {
  PeerRecord& peer = link.peer();
  const TimePoint now = clock_.Now();
  peer.resume->Suspend(now);
  link.Suspend(now, peer.resume->resume_by());
  spdlog::warn("procmod: lost the link to {} ({}); resuming session {} for up to {}", link.url(),
               why, peer.session, FormatDuration(GraceOf(peer)));
  Invoke("suspended", on_suspended_, MakeConnection(peer, /*incoming=*/false), GraceOf(peer));
}

void IoLoop::OnLinkResumed(Link& link, const pmp::Resumed& resumed) {
  if (resumed.session != link.peer().session) {
    return EndSuspendedLink(link, DisconnectReason::kForgotten,
                            "RESUMED named another session: " + resumed.session);
  }
  link.OnResumed(clock_.Now());
  PeerRecord& peer = link.peer();
  peer.resume->Resumed();
  peer.resume->Acknowledge(resumed.received);
  Resend(peer, PeerKind::kLinked, resumed.received);
  Invoke("resumed", on_resumed_, MakeConnection(peer, /*incoming=*/false));
}

void IoLoop::EndSuspendedLink(Link& link, DisconnectReason reason, std::string said) {
  spdlog::warn("procmod: session {} with {} could not resume: {}", link.peer().session, link.url(),
               said);
  link.EndResume();
  const bool lost = reason == DisconnectReason::kExpired || reason == DisconnectReason::kForgotten;
  if (!stopping_ && options_.reconnect && lost && !link.registered()) {
    // The application asked for a new session when one is lost for good.
    return Reconnect(link, reason, said);
  }
  auto it = links_.find(link.id());
  std::unique_ptr<Link> owned = std::move(it->second);
  links_.erase(it);
  link_by_session_.erase(owned->peer().session);
  owned->ClearOutbox(/*close_window=*/true);
  owned->CloseSocket();
  requests_.FailSession(owned->peer().session,
                        UnavailableError("session " + owned->peer().session + " ended: " + said));
  Disconnected(owned->peer(), /*incoming=*/false, reason, std::move(said));
}

}  // namespace procmod
