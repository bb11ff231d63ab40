// The accepting side of the IoLoop: our ROUTER (a forward server's, a reverse
// client's). The Acceptor owns the socket, the admission table and the waits; this
// wires them to the codec and the application.
#include <spdlog/spdlog.h>

#include "base/log_text.h"
#include "io/io_loop.h"
#include "io/io_loop_internal.h"
#include "io/sockets.h"
#include "io/transport_activity.h"

namespace procmod {

using pmp::ErrorFrames;
using io_loop_internal::Invoke;
using io_loop_internal::kMaxMessagesPerTurn;


Frames IoLoop::TooLargeFrames(uint64_t bytes) const {
  return pmp::TooLargeFrames(bytes, options_.limits.max_message_size);
}

void IoLoop::ServiceAcceptor() {
  acceptor_->polled().SetDrained(false);  // until a receive finds nothing
  for (int i = 0; i < kMaxMessagesPerTurn && acceptor_; ++i) {
    if (!acceptor_->Receive(rx_)) return;
    if (rx_.empty()) continue;
    rx_routing_id_.assign(rx_[0].data<char>(), rx_[0].size());
    OnAcceptorMessage(rx_routing_id_, rx_);
  }
}

void IoLoop::OnAcceptorMessage(const std::string& routing_id, Frames& frames) {
  IdentityTable& table = acceptor_->table();
  const uint64_t bytes = FrameBytes(frames, 1);
  if (bytes > options_.limits.max_message_size) {
    // Dropped undecoded: not life, and it ends nobody's session (PROTOCOL §7).
    PeerRecord* peer = table.Find(routing_id);
    if (peer) peer->last_malformed = now_;  // nor are the bytes on its connection now
    SendToRoutingId(routing_id, TooLargeFrames(bytes), peer);
    return;
  }
  pmp::Message& message = rx_message_;
  Status decoded = decoder_.DecodeInto(frames, 1, &message);
  PeerRecord* peer = table.Find(routing_id);
  if (!decoded.ok()) {
    // Malformed: answered, dropped, not counted as life. Never ends a session.
    if (peer) peer->last_malformed = now_;  // nor are the bytes on its connection now
    SendToRoutingId(routing_id, ErrorFrames(pmp::kCodeMalformed, std::string(decoded.message())),
                    peer);
    return;
  }
  if (message.command() == pmp::Command::kHello) {
    std::string address = frames.size() > 1 ? PeerAddressOf(frames[1]) : std::string();
    std::string key = curve_.enabled && frames.size() > 1 ? PeerKeyOf(frames[1]) : std::string();
    OnHello(routing_id, std::get<pmp::Hello>(message.header), std::move(address), std::move(key));
    NoteTransport(routing_id, frames);
    return;
  }
  if (message.command() == pmp::Command::kResume) {
    std::string address = frames.size() > 1 ? PeerAddressOf(frames[1]) : std::string();
    std::string key = curve_.enabled && frames.size() > 1 ? PeerKeyOf(frames[1]) : std::string();
    OnResume(routing_id, std::get<pmp::Resume>(message.header), std::move(address),
             std::move(key));
    NoteTransport(routing_id, frames);
    return;
  }
  if (peer != nullptr && peer->suspended()) {
    // libzmq redialed with the same routing id after we suspended the session:
    // only a RESUME brings it back, and tells us what to send again.
    SendToRoutingId(routing_id,
                    ErrorFrames(pmp::kCodeUnknownSession, "session suspended; send RESUME"));
    return;
  }
  if (peer == nullptr) {
    // No session: the peer must HELLO again (e.g. after this side restarted).
    SendToRoutingId(routing_id,
                    ErrorFrames(pmp::kCodeUnknownSession, "unknown session; send HELLO"));
    return;
  }
  if (curve_.enabled && frames.size() > 1 && !SameKeyAsHello(*peer, frames[1])) return;
  peer->last_seen = now_;
  peer->msgs_in++;
  peer->bytes_in += bytes;
  // A PING comes when the peer is idle: the time to look at its connection again
  // (libzmq may have redialed under the same routing id).
  if (message.command() == pmp::Command::kPing) peer->transport = TcpConnection::Of(frames[1]);
  OnPeerMessage(*peer, PeerKind::kAccepted, message);
}

void IoLoop::NoteTransport(const std::string& routing_id, const Frames& frames) {
  if (!acceptor_ || frames.size() < 2) return;
  if (PeerRecord* peer = acceptor_->table().Find(routing_id)) {
    peer->transport = TcpConnection::Of(frames[1]);
  }
}

bool IoLoop::SameKeyAsHello(PeerRecord& peer, zmq::message_t& frame) {
  const std::string key = PeerKeyOf(frame);
  if (key == peer.public_key) return true;
  spdlog::warn(
      "procmod: session {} ('{}', key {}) got a message signed by key {}: its routing id was "
      "taken over; the session ends",
      peer.session, peer.name, peer.public_key, key.empty() ? "(none)" : key);
  RemovePeer(peer.routing_id, DisconnectReason::kClosed);
  return false;
}

void IoLoop::OnHello(const std::string& routing_id, pmp::Hello& hello, std::string address,
                     std::string public_key) {
  if (acceptor_->Holds(routing_id)) {
    // Reverse multi client outside MonitorConnections(): hold the knock (bounded).
    Acceptor::HeldHello held{routing_id, std::move(hello), std::move(address),
                             std::move(public_key), clock_.Now()};
    if (!acceptor_->Hold(std::move(held), options_.limits.max_connections)) {
      SendToRoutingId(routing_id, pmp::Encode(pmp::Deny{pmp::kCodeFull, "too many waiting"}));
    }
    return;
  }
  Admit(routing_id, hello, std::move(address), std::move(public_key));
}

void IoLoop::Admit(const std::string& routing_id, const pmp::Hello& hello, std::string address,
                   std::string public_key) {
  IdentityTable& table = acceptor_->table();
  const TimePoint now = clock_.Now();
  const std::string from = address.empty() ? std::string("?") : address;
  Admission admission = table.Admit(routing_id, hello, std::move(address), now);
  if (!admission.admitted) {
    if (denial_log_.Allow(now, "denials")) {  // a HELLO flood is not a log flood
      spdlog::info("procmod: denied {:?} {:?} from {}: {} {:?}", Clip(hello.role), Clip(hello.name),
                   from, admission.deny_code, Clip(admission.reason));
    }
    SendToRoutingId(routing_id, pmp::Encode(pmp::Deny{admission.deny_code, admission.reason}));
    return;
  }
  if (admission.replaced) {
    PeerRecord old = *admission.peer;
    old.session = admission.replaced_session;
    requests_.FailSession(old.session, UnavailableError("session replaced by a new HELLO"));
    Disconnected(old, /*incoming=*/true, DisconnectReason::kReplaced);
  }
  PeerRecord& peer = *admission.peer;
  peer.public_key = std::move(public_key);
  pmp::Welcome welcome;
  welcome.session = peer.session;
  io_loop_internal::Introduce(welcome, options_);
  welcome.heartbeat_ms = static_cast<uint64_t>(heartbeat_.settings().interval.count());
  welcome.liveness = heartbeat_.settings().liveness;
  welcome.multi = table.policy().multi;
  if (std::optional<milliseconds> left = lifetime_.Left(now)) {
    welcome.expires_in_ms = static_cast<uint64_t>(left->count());
  }
  if (hello.resume && options_.resume.grace.count() > 0 && io_loop_internal::SpeaksResume(hello.version)) {
    peer.resume = std::make_shared<ResumeState>(NewResumeToken(), options_.resume.grace,
                                                options_.resume.buffer);
    welcome.resume_token = peer.resume->token();
    welcome.resume_grace_ms = static_cast<uint64_t>(options_.resume.grace.count());
  }
  if (!SendToRoutingId(routing_id, pmp::Encode(welcome), &peer)) {
    table.Remove(routing_id);  // it left before it could hear the answer
    return;
  }
  ever_admitted_ = true;
  spdlog::info("procmod: admitted {} {:?} from {} as session {}{}", peer.role, Clip(peer.name),
               from, peer.session, peer.public_key.empty() ? "" : ", key " + peer.public_key);
  acceptor_->CountAdmission();
  peer.handle = NewConnection(peer, /*incoming=*/true);
  Connection connection = peer.handle;  // the record may go in the callback
  Invoke("connected", on_connected_, connection);
  acceptor_->CheckWait();
}

void IoLoop::RemovePeer(const std::string& routing_id, DisconnectReason reason, std::string said) {
  PeerRecord* found = acceptor_ ? acceptor_->table().Find(routing_id) : nullptr;
  if (found == nullptr) return;
  PeerRecord peer = *found;
  acceptor_->table().Remove(routing_id);
  requests_.FailSession(peer.session, UnavailableError("peer " + peer.session + " is gone"));
  Disconnected(peer, /*incoming=*/true, reason, std::move(said));
}

bool IoLoop::SendToRoutingId(const std::string& routing_id, Frames frames, PeerRecord* peer) {
  return acceptor_->SendTo(routing_id, std::move(frames), peer, now_);
}

Status IoLoop::WaitForPeers(size_t count, milliseconds timeout) {
  if (OnIoThread()) return FailedPreconditionError("cannot wait on the I/O thread");
  auto promise = std::make_shared<std::promise<Result<int>>>();
  std::future<Result<int>> future = promise->get_future();
  const bool posted = Post([this, count, timeout, promise] {
    if (!acceptor_) {
      promise->set_value(FailedPreconditionError("no accepting socket to wait on"));
      return;
    }
    if (acceptor_->StartWait(count, DeadlineAfter(clock_.Now(), timeout), *promise)) {
      acceptor_->CheckWait();
    }
  });
  if (!posted) return AbortedError("process module finalized");
  Result<int> result = future.get();
  return result.status();
}

Result<int> IoLoop::Monitor(milliseconds timeout) {
  if (OnIoThread()) return FailedPreconditionError("cannot wait on the I/O thread");
  auto promise = std::make_shared<std::promise<Result<int>>>();
  std::future<Result<int>> future = promise->get_future();
  const bool posted = Post([this, timeout, promise] {
    if (!acceptor_) {
      promise->set_value(
          FailedPreconditionError("MonitorConnections() needs a started reverse-mode client"));
      return;
    }
    // A zero timeout still admits what already knocked, then returns at once.
    const TimePoint now = clock_.Now();
    if (!acceptor_->StartMonitor(now + timeout, *promise)) return;
    // Servers that knocked while nobody was monitoring: admit the fresh ones.
    for (Acceptor::HeldHello& held : acceptor_->OpenGate(now, options_.timeouts.handshake)) {
      Admit(held.routing_id, held.hello, std::move(held.address), std::move(held.public_key));
    }
    acceptor_->CheckWait();
  });
  if (!posted) return AbortedError("process module finalized");
  return future.get();
}

}  // namespace procmod
