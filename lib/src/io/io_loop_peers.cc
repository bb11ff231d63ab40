// Both sides of the IoLoop: what an admitted peer says, wherever its session lives
// (accepted on our ROUTER, linked through one of our DEALERs, or relayed by a
// broker), how a session is found and sent to, and the handles the application
// holds (Connection).
#include <spdlog/spdlog.h>

#include "base/log_text.h"
#include "io/io_loop.h"
#include "io/io_loop_internal.h"
#include "session/connection_state.h"

namespace procmod {

using io_loop_internal::Invoke;
using pmp::ErrorFrames;

void IoLoop::OnPeerMessage(PeerRecord& peer, PeerKind kind, pmp::Message& message) {
  const bool incoming = kind != PeerKind::kLinked;
  if (peer.resume && !Sequence(peer, kind, message)) return;
  switch (message.command()) {
    case pmp::Command::kPing:
      // A relayed PING's clock is the broker's: no round trip of ours to measure.
      if (kind == PeerKind::kRelayed) return;
      return OnPing(peer, std::get<pmp::Ping>(message.header));
    case pmp::Command::kBye: {
      // Its reason reaches OnDisconnected (Disconnect::message): an administrator's
      // kick and a shutdown are both BYE, and only the words tell them apart.
      std::string said = std::move(std::get<pmp::Bye>(message.header).reason);
      if (kind == PeerKind::kAccepted) {
        return RemovePeer(peer.routing_id, DisconnectReason::kBye, std::move(said));
      }
      if (kind == PeerKind::kLinked) {
        // A broker's "server lost" (PROTOCOL §12) is its server's crash, not a goodbye:
        // a loss, which a client with options.reconnect comes back from.
        const DisconnectReason reason =
            said == pmp::kByeServerLost ? DisconnectReason::kExpired : DisconnectReason::kBye;
        return DropLink(link_by_session_.at(peer.session), reason, std::move(said));
      }
      return;  // a relayed client leaves by the broker's LEFT
    }
    case pmp::Command::kData: {
      Connection from = MakeConnection(peer, incoming);
      const std::string& channel = std::get<pmp::Data>(message.header).channel;
      return Invoke("data", on_data_, from, std::string_view(channel), std::move(message.payload));
    }
    case pmp::Command::kRequest:
      return OnRequest(peer, incoming, std::get<pmp::Request>(message.header),
                       std::move(message.payload));
    case pmp::Command::kReply:
      return OnReply(std::get<pmp::Reply>(message.header), std::move(message.payload));
    case pmp::Command::kError: {
      const auto& error = std::get<pmp::Error>(message.header);
      if (error_log_.Allow(now_, "peer ERRORs")) {
        spdlog::warn("procmod: session {} reported ERROR {}: {:?}", peer.session, error.code,
                     Clip(error.reason));
      }
      if (kind == PeerKind::kLinked && error.code == pmp::kCodeUnknownSession) {
        Link& link = *links_.at(link_by_session_.at(peer.session));
        // It no longer knows this connection: a resumable session is asked back.
        if (peer.resume) return SuspendLink(link, "the peer no longer knew this connection");
        return DropLink(link.id(), DisconnectReason::kForgotten);
      }
      return;
    }
    case pmp::Command::kHello:
    case pmp::Command::kWelcome:
    case pmp::Command::kDeny:
    case pmp::Command::kJoined:
    case pmp::Command::kLeft:
    case pmp::Command::kResume:
    case pmp::Command::kResumed:
      if (kind == PeerKind::kRelayed) return;  // ERROR names no client: it would reach the broker
      return SendControl(
          peer, kind,
          ErrorFrames(pmp::kCodeMalformed, std::string(pmp::CommandName(message.command())) +
                                               " is not expected from this peer"));
  }
}

void IoLoop::OnPing(PeerRecord& peer, const pmp::Ping& ping) {
  if (auto rtt = HeartbeatPolicy::OnPing(ping, clock_.Now(), peer.echo)) peer.rtt = *rtt;
}

void IoLoop::OnRequest(PeerRecord& peer, bool incoming, pmp::Request& request, Frames payload) {
  Reply reply;
  auto handler = handlers_.find(request.method);
  if (handler == handlers_.end()) {
    reply.code = pmp::kCodeUnknownSession;  // 404: no such method
    reply.error = "unknown method '" + request.method + "'";
  } else {
    IncomingRequest incoming_request{MakeConnection(peer, incoming), request.method,
                                     std::move(request.args), std::move(payload), request.id};
    try {
      reply = handler->second(incoming_request);
    } catch (const std::exception& e) {
      reply = Reply{500, "handler for '" + request.method + "' failed: " + e.what(), {}, {}};
    } catch (...) {
      reply = Reply{500, "handler for '" + request.method + "' failed", {}, {}};
    }
    if (incoming_request.deferred) return;  // DeferredReply::Send answers (SendReply)
  }
  pmp::Reply header{request.id, reply.code, std::move(reply.error), std::move(reply.result), {}};
  SendToPeer(peer.session, std::move(header), std::move(reply.payload));
}

bool IoLoop::SendReply(const std::string& session, uint64_t request_id, Reply reply) {
  // std::function must be copyable; the payload's frames are not.
  auto shared = std::make_shared<Reply>(std::move(reply));
  return Post([this, session, request_id, shared] {
    pmp::Reply header{
        request_id, shared->code, std::move(shared->error), std::move(shared->result), {}};
    (void)SendToPeer(session, std::move(header), std::move(shared->payload));
  });
}

void IoLoop::OnReply(pmp::Reply& reply, Frames payload) {
  std::shared_ptr<ReplySlot> slot = requests_.Complete(reply.id);
  if (!slot) return;  // timed out already, or not ours
  if (reply.code != 0) {
    slot->Set(StatusFromPmpCode(reply.code, reply.error.empty() ? "remote error" : reply.error));
  } else {
    slot->Set(Reply{0, std::move(reply.error), std::move(reply.result), std::move(payload)});
  }
}

std::optional<IoLoop::PeerRef> IoLoop::Resolve(const std::string& session) {
  if (acceptor_) {
    if (PeerRecord* peer = acceptor_->table().FindSession(session)) {
      return PeerRef{peer, PeerKind::kAccepted, 0};
    }
  }
  if (auto it = link_by_session_.find(session); it != link_by_session_.end()) {
    return PeerRef{&links_.at(it->second)->peer(), PeerKind::kLinked, it->second};
  }
  if (PeerRecord* client = relayed_.Find(session)) {
    return PeerRef{client, PeerKind::kRelayed, relayed_.LinkOf(session)};
  }
  return std::nullopt;
}

PeerRecord* IoLoop::FindPeer(const std::string& session, bool* incoming) {
  std::optional<PeerRef> ref = Resolve(session);
  if (!ref) return nullptr;
  if (incoming) *incoming = ref->kind != PeerKind::kLinked;
  return ref->record;
}

bool IoLoop::SendToPeer(const std::string& session, pmp::Header header, Frames payload) {
  std::optional<PeerRef> ref = Resolve(session);
  if (!ref) return false;
  PeerRecord& peer = *ref->record;
  const uint64_t seq = Stamp(peer, header);
  switch (ref->kind) {
    case PeerKind::kAccepted: {
      Frames frames = pmp::Encode(header, std::move(payload), peer.payload_form);
      if (!Keep(peer, seq, frames)) return false;
      if (peer.suspended()) return seq != 0;  // kept: it goes out on resume
      return SendToRoutingId(peer.routing_id, std::move(frames), &peer);
    }
    case PeerKind::kLinked: {
      Link& link = *links_.at(ref->link_id);
      Frames frames = pmp::Encode(header, std::move(payload), peer.payload_form);
      if (!Keep(peer, seq, frames)) return false;
      if (link.resuming()) return seq != 0;
      return SendOnLink(link, std::move(frames));
    }
    case PeerKind::kRelayed: {
      auto link = links_.find(ref->link_id);
      if (link == links_.end()) return false;
      return SendRelayed(peer, *link->second, std::move(header), std::move(payload), seq);
    }
  }
  return false;
}

void IoLoop::Disconnected(const PeerRecord& peer, bool incoming, DisconnectReason reason,
                          std::string said) {
  // Not `cond ? "?" : peer.address`: that makes a temporary std::string, and a view of
  // it would dangle.
  const std::string_view from = peer.address.empty() ? std::string_view("?") : peer.address;
  if (said.empty()) {
    spdlog::info("procmod: session {} of {} {:?} from {} ended: {}", peer.session, peer.role,
                 Clip(peer.name), from, DisconnectReasonName(reason));
  } else {
    spdlog::info("procmod: session {} of {} {:?} from {} ended: {} ({:?})", peer.session, peer.role,
                 Clip(peer.name), from, DisconnectReasonName(reason), Clip(said));
  }
  Connection connection = MakeConnection(peer, incoming);
  Invoke("disconnected", on_disconnected_, connection,
         Disconnect{.reason = reason, .message = std::move(said)});
  if (single_peer_) {
    EndRun(reason == DisconnectReason::kExpired ? RunEnd::kPeerLost : RunEnd::kPeerLeft);
  }
}

Connection IoLoop::MakeConnection(const PeerRecord& peer, bool incoming) {
  if (peer.handle.valid() && peer.handle.session() == peer.session) return peer.handle;
  return NewConnection(peer, incoming);
}

Connection IoLoop::NewConnection(const PeerRecord& peer, bool incoming,
                                 std::shared_ptr<SendWindow> window, uint64_t link_id) {
  auto state = std::make_shared<Connection::State>();
  state->loop = weak_from_this();
  state->session = peer.session;
  state->name = peer.name;
  state->role = peer.role;
  state->address = peer.address;
  state->incoming = incoming;
  state->window = std::move(window);
  state->link_id = link_id;
  return Connection(std::move(state));
}

// ---- thread-safe peer operations ----------------------------------------------------

std::vector<PeerInfo> IoLoop::SnapshotOnIoThread() {
  const TimePoint now = clock_.Now();
  std::vector<PeerInfo> peers =
      acceptor_ ? acceptor_->table().Snapshot(now) : std::vector<PeerInfo>{};
  for (const auto& [id, link] : links_) {
    if (!link->admitted() && !link->resuming()) continue;  // no session (yet)
    PeerInfo info = link->peer().Snapshot(now);
    info.incoming = false;
    peers.push_back(std::move(info));
  }
  // Relayed clients, oldest first; the oldest is the master, as on our own ROUTER.
  std::vector<const PeerRecord*> relayed = relayed_.InJoinOrder();
  for (const PeerRecord* r : relayed) {
    PeerInfo info = r->Snapshot(now);
    info.master = !acceptor_ && r == relayed.front();
    peers.push_back(std::move(info));
  }
  return peers;
}

std::vector<PeerInfo> IoLoop::Snapshot() {
  return Call<std::vector<PeerInfo>>([this] { return SnapshotOnIoThread(); }, {});
}

Result<Connection> IoLoop::Find(const std::string& session) {
  return Call<Result<Connection>>(
      [this, &session]() -> Result<Connection> {
        bool incoming = false;
        PeerRecord* peer = FindPeer(session, &incoming);
        if (peer == nullptr) return NotFoundError("no session " + session);
        return MakeConnection(*peer, incoming);
      },
      AbortedError("process module finalized"));
}

Result<PeerInfo> IoLoop::Stats(const std::string& session) {
  return Call<Result<PeerInfo>>(
      [this, &session]() -> Result<PeerInfo> {
        bool incoming = false;
        PeerRecord* peer = FindPeer(session, &incoming);
        if (peer == nullptr) return UnavailableError("session " + session + " is gone");
        PeerInfo info = peer->Snapshot(clock_.Now());
        info.incoming = incoming;
        return info;
      },
      AbortedError("process module finalized"));
}

Status IoLoop::Close(const std::string& session, std::string reason) {
  return Call<Status>(
      [this, &session, &reason]() -> Status {
        std::optional<PeerRef> ref = Resolve(session);
        if (!ref) return Status();  // already gone: Close is idempotent
        switch (ref->kind) {
          case PeerKind::kAccepted:
            SendToPeer(session, pmp::Bye{reason});
            RemovePeer(ref->record->routing_id, DisconnectReason::kClosed);
            break;
          case PeerKind::kLinked:
            SendToPeer(session, pmp::Bye{reason});
            DropLink(ref->link_id, DisconnectReason::kClosed);
            break;
          case PeerKind::kRelayed: {
            auto broker = links_.find(ref->link_id);
            if (broker == links_.end() ||
                !io_loop_internal::SpeaksResume(broker->second->peer().version)) {
              // Before 1.2 a broker took any BYE from us for our own leaving.
              return FailedPreconditionError("session " + session +
                                             " is relayed by a broker older than protocol "
                                             "1.2; it ends when the client leaves");
            }
            CloseRelayed(*ref->record, reason);
            break;
          }
        }
        return Status();
      },
      Status());
}

}  // namespace procmod
