// The connecting side of the IoLoop: the DEALERs we dial (Links), their sessions,
// and in broker mode the clients the broker relays to us over one of them. The Link
// moves messages and decides what its state means; this wires it to the
// application, the pending requests and Run().
#include <spdlog/spdlog.h>

#include "base/log_text.h"
#include "io/io_loop.h"
#include "io/io_loop_internal.h"
#include "protocol/url.h"

namespace procmod {

using io_loop_internal::Invoke;
using io_loop_internal::kMaxMessagesPerTurn;
using pmp::ErrorFrames;

Result<Connection> IoLoop::Connect(const std::string& url, const std::string& expected_role,
                                   const std::string& server_key) {
  if (OnIoThread()) {
    return FailedPreconditionError("Connect() cannot wait on the I/O thread");
  }
  if (!curve_.enabled && !server_key.empty()) {
    // Refuse rather than dial in clear text when a key says encryption was meant.
    return InvalidArgumentError("a server key for " + url +
                                " needs security.curve.secret_key_file: this process has no "
                                "key pair of its own (make one with `procmod keygen`)");
  }
  const std::string& key = server_key.empty() ? curve_.server_public_key : server_key;
  if (curve_.enabled && key.empty()) return MissingServerKeyError(url);
  std::promise<Result<Connection>> promise;
  std::future<Result<Connection>> future = promise.get_future();
  const bool posted =
      Post([this, url, expected_role, key,
            promise = std::make_shared<decltype(promise)>(std::move(promise))]() mutable {
        Result<PeerUrl> parsed = ParsePeerUrl(url);
        if (!parsed.ok()) {
          promise->set_value(parsed.status());
          return;
        }
        Link::Target target;
        target.id = next_link_id_++;
        target.url = url;
        target.endpoint = parsed->endpoint;
        target.service = parsed->service;
        // A server dialing a broker registers its service; a client just names it.
        target.registered = !target.service.empty() && options_.role != Role::kClient;
        target.expected_role = expected_role;
        target.server_key = std::move(key);
        Link::Limits limits;
        limits.send_queue = options_.limits.send_queue;
        limits.max_message_size = options_.limits.max_message_size;
        limits.handshake = options_.timeouts.handshake;
        limits.connect = options_.timeouts.connect;
        limits.reregister = options_.timeouts.reregister;
        auto link = std::make_unique<Link>(std::move(target), limits, heartbeat_, clock_.Now());
        link->waiter().emplace(std::move(*promise));
        Link& ref = *link;
        links_.emplace(ref.id(), std::move(link));
        OpenLinkSocket(ref);
      });
  if (!posted) return AbortedError("process module finalized");
  return future.get();
}

void IoLoop::OpenLinkSocket(Link& link) {
  if (Status s = link.Open(context_, options_, curve_, link_fds_, jitter_); !s.ok()) {
    return FailLink(link, std::move(s));
  }
  if (link.resuming()) {
    // The session goes on where it was: RESUME instead of HELLO.
    const PeerRecord& peer = link.peer();
    // The service too: a broker that restarted knows no session, only services.
    Frames frames = pmp::Encode(pmp::Resume{peer.session, peer.resume->token(),
                                            peer.resume->received(), link.target().service});
    (void)link.SendNow(frames);
    return;
  }
  // Queued now, delivered as soon as the transport is up.
  pmp::Hello hello;
  hello.connect_id = options_.connect_id;
  io_loop_internal::Introduce(hello, options_);
  hello.heartbeat_ms = static_cast<uint64_t>(options_.heartbeat.interval.count());
  hello.service = link.target().service;
  hello.multi = link.registered() && multi_;
  hello.resume = options_.resume.grace.count() > 0 && !link.registered();
  if (link.registered() && options_.resume.grace.count() > 0) {
    // Our clients behind the broker may resume their sessions with us.
    hello.resume_grace_ms = static_cast<uint64_t>(options_.resume.grace.count());
  }
  Frames frames = pmp::Encode(hello);
  (void)link.SendNow(frames);  // a fresh socket's queue is empty
}

void IoLoop::ServiceWatch(Link& link) {
  const Link::HandshakeNews news = link.OnHandshake(link.watch()->Drain(), clock_.Now());
  switch (news.kind) {
    case Link::HandshakeNews::kNothing:
      return;
    case Link::HandshakeNews::kFailed:
      // Resuming, the keys are the ones that worked: a link that drops during the
      // handshake is the outage itself (a proxy or NAT that takes the connection
      // and closes it), so it is retried until the grace period ends.
      if (link.resuming()) return link.Retry(clock_.Now(), jitter_);
      return FailLink(link, news.why);
    case Link::HandshakeNews::kRefused:
      link.CountRefusals(news.refused);
      if (!link.KeepsDialing(options_.role)) {
        return FailLink(link, RefusedError(link.target().endpoint));
      }
      AttemptFailed(link, RefusedError(link.target().endpoint));
      return link.ReportRefusal(clock_.Now());
  }
}

void IoLoop::ServiceLink(Link& link) {
  const uint64_t id = link.id();
  for (int i = 0; i < kMaxMessagesPerTurn; ++i) {
    auto it = links_.find(id);  // a message may have dropped the link
    if (it == links_.end() || !it->second->has_socket()) return;
    Link& current = *it->second;
    bool more = false;
    if (ReceiveFromLink(current, &more)) {
      OnLinkMessage(current, rx_message_);
    } else if (!more) {
      return;
    }
  }
}

bool IoLoop::ReceiveFromLink(Link& link, bool* more) {
  const Link::Received received = link.Receive(decoder_, rx_, rx_message_, now_);
  *more = received.kind != Link::Received::kNothing;
  switch (received.kind) {
    case Link::Received::kNothing:
      return false;
    case Link::Received::kMessage:
      return true;
    case Link::Received::kTooLarge:
      SendOnLink(link, TooLargeFrames(received.bytes));  // dropped undecoded, as on our ROUTER
      return false;
    case Link::Received::kMalformed:
      SendOnLink(link, ErrorFrames(pmp::kCodeMalformed, std::string(received.error.message())));
      return false;
  }
  return false;
}

void IoLoop::OnLinkMessage(Link& link, pmp::Message& message) {
  if (link.admitted()) {
    if (link.registered() && OnRelayedMessage(link, message)) return;
    return OnPeerMessage(link.peer(), PeerKind::kLinked, message);
  }
  if (link.resuming()) {
    switch (message.command()) {
      case pmp::Command::kResumed:
        return OnLinkResumed(link, std::get<pmp::Resumed>(message.header));
      case pmp::Command::kDeny: {
        const auto& deny = std::get<pmp::Deny>(message.header);
        if (!link.target().service.empty() &&
            (deny.code == pmp::kCodeUnknownSession || deny.code == pmp::kCodeFull)) {
          // A broker whose server is not back yet (it restarted, or lost it): the
          // server may still hold our session, so we try until the grace is over.
          spdlog::info("procmod: {}: {} {}; trying again", link.url(), deny.code, deny.reason);
          return link.Retry(clock_.Now(), jitter_);
        }
        return EndSuspendedLink(link, DisconnectReason::kForgotten,
                                "resume refused: " + std::to_string(deny.code) + " " + deny.reason);
      }
      default:
        return;  // stale traffic of the lost connection
    }
  }
  switch (message.command()) {
    case pmp::Command::kWelcome:
      return OnWelcome(link, std::get<pmp::Welcome>(message.header));
    case pmp::Command::kDeny: {
      const auto& deny = std::get<pmp::Deny>(message.header);
      Status why =
          StatusFromPmpCode(deny.code, link.url() + " refused the connection: " + deny.reason);
      if (!link.RetriesDeny(deny.code)) return FailLink(link, std::move(why));
      spdlog::warn("procmod: {} ({}); retrying", why.message(), deny.code);
      AttemptFailed(link, why);
      return link.Retry(clock_.Now(), jitter_);
    }
    default:
      // Stale traffic from before a retry; the handshake decides.
      return;
  }
}

void IoLoop::OnWelcome(Link& link, const pmp::Welcome& welcome) {
  const std::string& expected_role = link.target().expected_role;
  if (!expected_role.empty() && welcome.role != expected_role) {
    Frames bye = pmp::Encode(pmp::Bye{"wrong role"});
    link.SendNow(bye);
    return FailLink(
        link, InvalidArgumentError("expected a " + expected_role + " at " + link.url() + ", but '" +
                                   welcome.name + "' is a " +
                                   (welcome.role.empty() ? "peer of no role" : welcome.role)));
  }
  const TimePoint now = clock_.Now();
  link.Admit(welcome, now);
  if (!welcome.resume_token.empty() && options_.resume.grace.count() > 0) {
    link.peer().resume = std::make_shared<ResumeState>(
        welcome.resume_token, milliseconds(welcome.resume_grace_ms), options_.resume.buffer);
  }
  tick_.AtMost(TickFor(link.heartbeat()), now);
  link_by_session_[welcome.session] = link.id();
  // A broker's WELCOME is not a client yet: that is its first JOINED.
  if (!link.registered()) ever_admitted_ = true;
  link.peer().handle = NewConnection(link.peer(), /*incoming=*/false, link.window(), link.id());
  Connection connection = link.peer().handle;
  if (link.waiter()) {
    link.waiter()->set_value(connection);
    link.waiter().reset();
  }
  Invoke("connected", on_connected_, connection);
}

void IoLoop::FailLink(Link& link, Status why) {
  if (link.resuming()) {
    // The session was suspended: the grace period ran out, or the transport cannot
    // come back (CURVE refused us).
    if (why.IsDeadlineExceeded()) {
      return EndSuspendedLink(link, DisconnectReason::kExpired,
                              io_loop_internal::NotResumedWithin(link.peer()));
    }
    return EndSuspendedLink(link, DisconnectReason::kExpired, std::string(why.message()));
  }
  const bool was_reconnecting = link.reconnecting();
  const bool registration = link.registered();
  if (was_reconnecting && registration) {
    // Nobody waits on this one: the daemon learns it from Run(), the operator here.
    spdlog::error("procmod: could not register {:?} with {} again: {}", link.target().service,
                  link.target().endpoint, why.ToString());
  } else {
    spdlog::info("procmod: connection to {} failed: {}", link.url(), why.ToString());
  }
  const bool unreachable = why.IsDeadlineExceeded();
  if (link.waiter()) {
    link.waiter()->set_value(std::move(why));
    link.waiter().reset();
  }
  DropLink(link.id(), DisconnectReason::kClosed);
  if (!was_reconnecting) return;
  // A server that lost its broker for good ends, rather than stay up unreachable.
  if (registration) return EndRun(unreachable ? RunEnd::kUnreachable : RunEnd::kDenied);
  // A reconnect that ends in DENY: the session that was lost is now lost for good.
  if (single_peer_) EndRun(RunEnd::kPeerLost);
}

void IoLoop::DropLink(uint64_t id, DisconnectReason reason, std::string said) {
  auto it = links_.find(id);
  if (it == links_.end()) return;
  if (!stopping_ && it->second->ShouldReconnect(reason, options_.reconnect, KeepsRegistration())) {
    return Reconnect(*it->second, reason, said);
  }
  std::unique_ptr<Link> link = std::move(it->second);
  links_.erase(it);
  if (link->waiter()) link->waiter()->set_value(AbortedError("connection closed"));
  if (!link->admitted() && !link->resuming()) return;  // never had a session
  link_by_session_.erase(link->peer().session);
  link->ClearOutbox(/*close_window=*/true);
  link->CloseSocket();
  DropRelayOf(*link, reason, said);
  requests_.FailSession(link->peer().session,
                        UnavailableError("server " + link->peer().session + " is gone"));
  Disconnected(link->peer(), /*incoming=*/false, reason, std::move(said));
}

bool IoLoop::KeepsRegistration() const { return !RunEnded() && !(single_peer_ && ever_admitted_); }

void IoLoop::Reconnect(Link& link, DisconnectReason reason, const std::string& said) {
  const PeerRecord lost = link.peer();
  link_by_session_.erase(lost.session);
  link.ClearOutbox(/*close_window=*/true);
  requests_.FailSession(lost.session, UnavailableError("server " + lost.session + " is gone"));
  DropRelayOf(link, reason, said);
  if (link.registered()) {
    // A server behind a broker must be reachable, or end (PROCESS_MODULE.md).
    spdlog::warn("procmod: lost the broker at {} ({}); registering {:?} again",
                 link.target().endpoint, DisconnectReasonName(reason), link.target().service);
  } else {
    spdlog::info("procmod: lost {} ({}); reconnecting", link.url(), DisconnectReasonName(reason));
  }
  link.StartReconnecting(clock_.Now(), jitter_);
  // The application hears of the loss; Run() goes on, since the peer may come back.
  Invoke("disconnected", on_disconnected_, MakeConnection(lost, /*incoming=*/false),
         Disconnect{.reason = reason, .message = said});
}

// ---- broker mode, server side: the broker relays our clients over one DEALER -----

bool IoLoop::OnRelayedMessage(Link& broker, pmp::Message& message) {
  if (message.command() == pmp::Command::kJoined) {
    OnJoined(broker, std::get<pmp::Joined>(message.header));
    return true;
  }
  if (message.command() == pmp::Command::kLeft) {
    OnLeft(std::get<pmp::Left>(message.header));
    return true;
  }
  const std::string* peer = RelayedPeers::From(message);
  if (peer == nullptr || peer->empty()) return false;  // PING, BYE, ERROR: the broker's own
  PeerRecord* client = relayed_.Find(*peer);
  if (client == nullptr) {
    spdlog::warn("procmod: broker relayed a message from unknown session {}", *peer);
    return true;
  }
  client->last_seen = now_;
  client->msgs_in++;
  client->bytes_in += FrameBytes(message.payload);
  OnPeerMessage(*client, PeerKind::kRelayed, message);
  return true;
}

void IoLoop::OnJoined(Link& broker, const pmp::Joined& joined) {
  if (joined.resume) return ResumeRelayed(broker, joined);
  PeerRecord& client = relayed_.Join(broker.id(), "via " + broker.url(), joined, clock_.Now());
  if (!joined.resume_token.empty() && options_.resume.grace.count() > 0) {
    client.resume = std::make_shared<ResumeState>(joined.resume_token, options_.resume.grace,
                                                  options_.resume.buffer);
  }
  ever_admitted_ = true;
  spdlog::info("procmod: admitted client {:?} via broker as session {}", Clip(client.name),
               client.session);
  client.handle = NewConnection(client, /*incoming=*/true);
  Connection connection = client.handle;
  Invoke("connected", on_connected_, connection);
}

void IoLoop::OnLeft(const pmp::Left& left) {
  if (PeerRecord* relayed = relayed_.Find(left.session);
      relayed != nullptr && relayed->resume && left.reason == "expired") {
    // Its link to the broker was lost, not its session: it may RESUME (through
    // this broker or another run of it) within the grace period.
    if (!relayed->suspended()) {
      relayed->resume->Suspend(clock_.Now());
      Suspended(*relayed, /*incoming=*/true);
    }
    return;
  }
  std::optional<PeerRecord> client = relayed_.Leave(left.session);
  if (!client) return;
  requests_.FailSession(client->session, UnavailableError("peer " + client->session + " is gone"));
  Disconnected(*client, /*incoming=*/true,
               left.reason == "expired" ? DisconnectReason::kExpired : DisconnectReason::kBye,
               left.reason);
}

bool IoLoop::SendRelayed(PeerRecord& client, Link& broker, pmp::Header header, Frames payload,
                         uint64_t seq) {
  if (!RelayedPeers::AddressTo(client.session, header)) return false;
  const uint64_t bytes = FrameBytes(payload);
  Frames frames = pmp::Encode(header, std::move(payload), broker.peer().payload_form);
  if (!Keep(client, seq, frames)) return false;
  // Suspended, or the broker away: kept, it goes out when the client resumes.
  if (client.suspended() || !broker.admitted()) return seq != 0;
  if (!SendOnLink(broker, std::move(frames))) {
    client.dropped++;
    return false;
  }
  client.CountSent(bytes, now_);
  return true;
}

// Its clients' sessions are lost (they did not leave), in the broker's words when it
// said BYE. Nothing for other links.
void IoLoop::DropRelayOf(const Link& link, DisconnectReason reason, const std::string& said) {
  if (!link.registered()) return;
  const std::string broker_said = reason == DisconnectReason::kBye ? said : std::string();
  // A broker that said BYE is gone for good; one that went silent may be back (it
  // restarted): sessions that may resume wait for their clients to RESUME.
  std::vector<PeerRecord*> kept;
  std::vector<PeerRecord> ended =
      relayed_.DropLink(link.id(), reason == DisconnectReason::kBye ? nullptr : &kept);
  std::vector<std::string> suspended;
  for (PeerRecord* client : kept) {
    if (client->suspended()) continue;
    client->resume->Suspend(clock_.Now());
    suspended.push_back(client->session);
  }
  for (const std::string& session : suspended) {
    if (PeerRecord* client = relayed_.Find(session)) Suspended(*client, /*incoming=*/true);
  }
  for (const PeerRecord& client : ended) {
    requests_.FailSession(client.session, UnavailableError("broker connection lost"));
    Disconnected(client, /*incoming=*/true, RelayedPeers::LossFor(reason), broker_said);
  }
}

}  // namespace procmod
