#include "io/link.h"

#include <algorithm>
#include <array>

#include <spdlog/spdlog.h>

#include <zmq_addon.hpp>

#include "io/transport_activity.h"
#include "protocol/url.h"

namespace procmod {
namespace {

constexpr Duration kFirstBackoff = std::chrono::seconds(1);
constexpr Duration kMaxBackoff = std::chrono::seconds(32);
// A suspended session retries its RESUME at least this often. Its grace is counted
// in tens of seconds, so a wait doubled to 4 or 8 s can cost a user a third of it:
// after a broker restart, clients came back up to 8 s after their server had
// registered again. A RESUME the acceptor cannot serve yet is answered at once and
// cheaply, so a crowd retrying every second or two is no burden.
constexpr Duration kMaxResumeBackoff = std::chrono::seconds(2);
// Payload bytes Send may have queued for one dialed peer beyond ZeroMQ's own queue
// (send_window.h): enough to keep the pipe full, little enough to stay in cache.
constexpr int64_t kSendWindowBytes = int64_t{4} << 20;

}  // namespace

Link::Link(Target target, Limits limits, HeartbeatPolicy heartbeat, TimePoint now)
    : target_(std::move(target)),
      limits_(limits),
      heartbeat_(heartbeat),
      connect_deadline_(DeadlineAfter(now, limits.connect)),
      dialing_since_(now) {}

Link::~Link() { CloseSocket(); }  // with CloseSocket's linger rule

// ---- the socket -----------------------------------------------------------------

Status Link::Open(zmq::context_t& context, const Options& options, const CurveSetup& curve,
                  EpollSet& poll_set, std::mt19937_64& rng) {
  try {
    zmq::socket_t socket(context, zmq::socket_type::dealer);
    ConfigureConnector(socket, options);
    if (curve.enabled) ConfigureCurveClient(socket, curve.own, target_.server_key);
    // An explicit routing id survives libzmq's own TCP reconnects, so after a
    // network blip the acceptor (ROUTER_HANDOVER) still knows our session. Each
    // new socket (a retry) gets a new one.
    std::uniform_int_distribution<uint64_t> bits;
    std::array<uint64_t, 2> id{bits(rng) | 1, bits(rng)};  // never a 0 first byte
    socket.set(zmq::sockopt::routing_id, zmq::const_buffer(id.data(), sizeof id));
    // The watch says when the transport is up and how its handshake went, so the
    // deadlines count from then: a server that is not up yet is waited for
    // (timeouts.connect), one that refuses our keys is reported at once.
    Result<HandshakeWatch> watch =
        HandshakeWatch::Start(context, socket, target_.url, curve.enabled, curve.own.public_key);
    if (!watch.ok()) return watch.status();
    socket.connect(target_.endpoint);
    watch_.emplace(std::move(*watch));
    socket_ = std::move(socket);
    in_poll_set_ = poll_set.Add(socket_->get(zmq::sockopt::fd));
    polled_ = PolledSocket(*socket_);
    state_ = State::kConnecting;
    return Status();
  } catch (const zmq::error_t& e) {
    CloseSocket();
    return EndpointError("connect to", target_.url, e);
  }
}

void Link::CloseSocket() {
  // Before admission all a socket holds is our HELLO, and nobody waits for its
  // answer any more: lingering would deliver it to a peer that comes up meanwhile,
  // which would admit a session nobody uses (and, a single-client server, refuse
  // our next attempt 409).
  if (socket_ && state_ != State::kAdmitted) {
    try {
      socket_->set(zmq::sockopt::linger, 0);
    } catch (const zmq::error_t&) {  // closing anyway
    }
  }
  in_poll_set_ = {};  // before the socket closes its ZMQ_FD
  polled_ = {};
  held_.reset();   // that socket's session is over
  watch_.reset();  // before its socket (handshake_watch.h)
  socket_.reset();
}

bool Link::HasWork() {
  if (held_) return true;
  if (outbox_.empty()) return polled_.MayHoldUnsignalledInput();
  try {
    const int events = socket_->get(zmq::sockopt::events);
    return (events & ZMQ_POLLIN) || (events & ZMQ_POLLOUT);
  } catch (const zmq::error_t& e) {
    spdlog::error("procmod: events of {} unknown: {}", target_.url, e.what());
    return false;
  }
}

// ---- sending --------------------------------------------------------------------

template <typename Range, typename Gather>
bool Link::SendOrQueue(Range& message, Gather gather, TimePoint now, int64_t window_bytes) {
  if (!socket_) {
    ReleaseWindow(window_bytes);
    return false;
  }
  if (outbox_.empty()) {
    const uint64_t bytes = FrameBytes(message);
    const SendOutcome outcome = SendNow(message);
    if (outcome != SendOutcome::kQueueFull) return Settle(outcome, bytes, now, window_bytes);
  }
  // A windowed message already holds a slot, so the window bounds those; the rest
  // (PINGs, REPLYs, Sends from callbacks) must not grow the outbox without end.
  if (window_bytes < 0 && static_cast<int64_t>(outbox_.size()) >= limits_.send_queue) {
    peer_.dropped++;
    return false;
  }
  outbox_.push_back(Outgoing{gather(), window_bytes});
  return true;
}

bool Link::Settle(SendOutcome outcome, uint64_t bytes, TimePoint now, int64_t window_bytes) {
  if (outcome == SendOutcome::kSent) {
    peer_.CountSent(bytes, now);
  } else {
    peer_.dropped++;
  }
  ReleaseWindow(window_bytes);
  return outcome == SendOutcome::kSent;
}

void Link::ReleaseWindow(int64_t window_bytes) {
  if (window_bytes >= 0 && window_) window_->Release(window_bytes);
}

bool Link::Send(Frames frames, TimePoint now, int64_t window_bytes) {
  return SendOrQueue(
      frames, [&] { return std::move(frames); }, now, window_bytes);
}

bool Link::Send(zmq::message_t envelope, Frames payload, TimePoint now, int64_t window_bytes) {
  EnvelopeAndPayload message{envelope, payload};
  return SendOrQueue(
      message,
      [&] {  // only when it must wait: the outbox keeps whole messages
        payload.insert(payload.begin(), std::move(envelope));
        return std::move(payload);
      },
      now, window_bytes);
}

void Link::FlushOutbox(TimePoint now) {
  while (!outbox_.empty() && socket_) {
    Outgoing& next = outbox_.front();
    const uint64_t bytes = FrameBytes(next.frames);
    const SendOutcome outcome = SendNow(next.frames);
    if (outcome == SendOutcome::kQueueFull) return;  // still full: wait for POLLOUT
    Settle(outcome, bytes, now, next.window_bytes);
    outbox_.pop_front();
  }
}

void Link::ClearOutbox(bool close_window) {
  peer_.dropped += outbox_.size();
  outbox_.clear();  // no slot to give back: the window closes with the session
  if (close_window && window_) {
    window_->Close();
    window_.reset();
  }
}

// ---- receiving ------------------------------------------------------------------

Link::Received Link::Receive(pmp::Decoder& decoder, Frames& rx, pmp::Message& out, TimePoint now) {
  Received received;
  if (held_) {
    out = std::move(*held_);
    held_.reset();
    received.kind = Received::kMessage;  // counted when it was first received
    return received;
  }
  rx.clear();
  try {
    const auto got =
        zmq::recv_multipart(*socket_, std::back_inserter(rx), zmq::recv_flags::dontwait);
    polled_.SetDrained(!got);
    if (!got) return received;
  } catch (const zmq::error_t& e) {
    spdlog::error("procmod: receive from {} failed: {}", target_.url, e.what());
    return received;
  }
  received.bytes = FrameBytes(rx);
  if (received.bytes > limits_.max_message_size) {
    received.kind = Received::kTooLarge;
    peer_.last_malformed = now;  // not life, nor are the bytes on the connection now
    return received;
  }
  if (Status decoded = decoder.DecodeInto(rx, 0, &out); !decoded.ok()) {
    received.kind = Received::kMalformed;
    received.error = std::move(decoded);
    peer_.last_malformed = now;  // not life, nor are the bytes on the connection now
    return received;
  }
  if (state_ == State::kAdmitted) {
    peer_.last_seen = now;
    peer_.msgs_in++;
    peer_.bytes_in += received.bytes;
  }
  // The connection to watch while a big message is on its way (transport_activity.h),
  // looked at again whenever the peer is idle: libzmq may have redialed.
  const pmp::Command command = out.command();
  if (command == pmp::Command::kPing || command == pmp::Command::kWelcome ||
      command == pmp::Command::kResumed) {
    peer_.transport = TcpConnection::Of(rx[0]);
  }
  received.kind = Received::kMessage;
  return received;
}

// ---- the handshake and its deadlines --------------------------------------------

Link::HandshakeNews Link::OnHandshake(const HandshakeWatch::Progress& progress, TimePoint now) {
  HandshakeNews news;
  if (progress.failed) {
    news.kind = HandshakeNews::kFailed;
    news.why = *progress.failed;
    return news;
  }
  if (state_ != State::kConnecting) return news;
  if (!progress.succeeded && progress.refused > 0) {
    news.kind = HandshakeNews::kRefused;
    news.refused = progress.refused;
    return news;
  }
  if (progress.succeeded) {
    state_ = State::kHandshaking;  // now HELLO must get its answer
    handshake_deadline_ = now + limits_.handshake;
  } else if (progress.transport_up && !progress.transport_lost) {
    // ZMTP (and CURVE) must complete within timeouts.handshake as well.
    handshake_deadline_ = now + limits_.handshake;
  } else if (progress.transport_lost) {
    handshake_deadline_ = TimePoint::max();  // redialing: timeouts.connect governs
  }
  return news;
}

void Link::CountRefusals(int attempts) {
  handshake_deadline_ = TimePoint::max();  // nothing is up: timeouts.connect governs
  refused_ += attempts;
}

void Link::ReportRefusal(TimePoint now) {
  if (refused_ > 1 && now < next_refusal_report_) return;
  const auto elapsed = std::chrono::duration_cast<std::chrono::seconds>(now - dialing_since_);
  const auto limit = std::chrono::duration_cast<std::chrono::seconds>(limits_.connect);
  spdlog::warn("procmod: {}: connection refused; retrying (attempt {}, {}s{})", target_.endpoint,
               refused_, elapsed.count(),
               limit.count() > 0 ? " of " + std::to_string(limit.count()) + "s"
                                 : std::string(", no time limit"));
  const Duration gap = std::clamp<Duration>(2 * (now - dialing_since_), std::chrono::seconds(2),
                                            std::chrono::minutes(5));
  next_refusal_report_ = dialing_since_ + gap;
  if (next_refusal_report_ <= now) next_refusal_report_ = now + gap;
}

Link::Due Link::Check(TimePoint now) const {
  if (state_ != State::kAdmitted && connect_deadline_ <= now) return Due::kUnreachable;
  if (state_ == State::kConnecting && handshake_deadline_ <= now && watch_) {
    // The transport is up, but ZMTP (or CURVE) never completed: retrying the same
    // keys would fail the same way.
    return Due::kHandshakeFailed;
  }
  if (state_ == State::kHandshaking && handshake_deadline_ <= now) return Due::kNoWelcome;
  if (state_ == State::kRetryWait && retry_at_ <= now) return Due::kReopen;
  return Due::kNothing;
}

TimePoint Link::NextDeadline() const {
  return std::min({handshake_deadline_, connect_deadline_, retry_at_});
}

Status Link::UnreachableError() const {
  std::string message =
      "could not reach " + target_.url + " within " +
      (reconnecting_ && target_.registered ? "timeouts.reregister" : "timeouts.connect");
  if (refused_ > 0) {
    message += ": connection refused " + std::to_string(refused_) + " times (" +
               RefusalReason(target_.endpoint) + ")";
  }
  return DeadlineExceededError(message);
}

void Link::Retry(TimePoint now, std::mt19937_64& rng) {
  ++retries_;
  ClearOutbox(/*close_window=*/false);  // nothing of a new socket's session yet
  CloseSocket();                        // a new socket (and routing id) for the next attempt
  state_ = State::kRetryWait;
  handshake_deadline_ = TimePoint::max();
  std::uniform_real_distribution<double> jitter(0.75, 1.25);
  const auto wait = std::chrono::duration_cast<Duration>(backoff_ * jitter(rng));
  retry_at_ = now + wait;
  backoff_ = std::min<Duration>(backoff_ * 2, resuming_ ? kMaxResumeBackoff : kMaxBackoff);
}

void Link::Admit(const pmp::Welcome& welcome, TimePoint now) {
  if (reconnecting_ && target_.registered) {
    spdlog::info("procmod: registered again as {:?} with {}", target_.service, target_.endpoint);
  } else if (reconnecting_) {
    spdlog::info("procmod: connected to {} again", target_.url);
  }
  state_ = State::kAdmitted;
  reconnecting_ = false;
  refused_ = 0;
  // The handshake is over: stop the watch so the loop polls one socket per link,
  // not two, on every turn.
  watch_.reset();
  handshake_deadline_ = connect_deadline_ = retry_at_ = TimePoint::max();
  backoff_ = kFirstBackoff;
  // The acceptor's heartbeat is the one both sides use.
  const auto interval = milliseconds(std::max<uint64_t>(welcome.heartbeat_ms, 1));
  heartbeat_ = HeartbeatPolicy(
      HeartbeatSettings{interval, static_cast<uint32_t>(std::max<uint64_t>(welcome.liveness, 1))});
  peer_.session = welcome.session;
  peer_.name = welcome.name;
  peer_.role = welcome.role;
  peer_.address = target_.url;
  peer_.version = welcome.version;
  peer_.payload_form = pmp::PayloadFormFor(welcome.version);
  peer_.software = welcome.software;
  peer_.public_key = target_.server_key;
  peer_.connected_at = peer_.last_seen = peer_.last_sent = now;
  window_ = std::make_shared<SendWindow>(welcome.session, std::max<int64_t>(limits_.send_queue, 1),
                                         kSendWindowBytes);
}

void Link::StartReconnecting(TimePoint now, std::mt19937_64& rng) {
  reconnecting_ = true;
  peer_ = PeerRecord{};
  dialing_since_ = now;
  refused_ = 0;
  retries_ = -1;  // the Retry() below opens the first attempt
  // A server behind a broker tries for timeouts.reregister (for ever by default), then
  // ends rather than stay up unreachable; a client's policy retries until admitted.
  connect_deadline_ =
      target_.registered ? DeadlineAfter(now, limits_.reregister) : TimePoint::max();
  Retry(now, rng);
}

// ---- resume ---------------------------------------------------------------------

void Link::Suspend(TimePoint now, TimePoint resume_by) {
  for (const Outgoing& waiting : outbox_) ReleaseWindow(waiting.window_bytes);
  outbox_.clear();
  CloseSocket();
  resuming_ = true;
  state_ = State::kRetryWait;
  retry_at_ = now;  // the first RESUME goes at once; Retry() backs off after that
  backoff_ = kFirstBackoff;
  handshake_deadline_ = TimePoint::max();
  connect_deadline_ = resume_by;
  dialing_since_ = now;
  refused_ = 0;
}

void Link::OnResumed(TimePoint now) {
  spdlog::info("procmod: session {} with {} resumed", peer_.session, target_.url);
  state_ = State::kAdmitted;
  resuming_ = false;
  refused_ = 0;
  watch_.reset();  // as at WELCOME: one socket per link to poll
  handshake_deadline_ = connect_deadline_ = retry_at_ = TimePoint::max();
  backoff_ = kFirstBackoff;
  peer_.last_seen = peer_.last_sent = now;
}

// ---- policy ---------------------------------------------------------------------

bool Link::KeepsDialing(Role role) const {
  // A client's first dial fails at the first refusal: someone waits on Start() or
  // ConnectToRemote(), and nothing listens there. A server dials because it must (its
  // client, R2; its broker) and may well start first; and a link bringing a lost
  // session back waits for its peer to return. Those try until timeouts.connect.
  return role != Role::kClient || reconnecting_ || resuming_;
}

bool Link::RetriesDeny(uint32_t code) const {
  if (!reconnecting_) return false;  // a first dial reports every DENY
  // 404: a restarted broker whose server has not registered yet; 503: full for now
  // (PROTOCOL §10.1: MAY retry). 409: the peer still holds our old session (a
  // single-client server, or a broker our old registration) until it expires it.
  // 403 and 426 would be the same next time.
  return code == pmp::kCodeUnknownSession || code == pmp::kCodeFull || code == pmp::kCodeBusy;
}

bool Link::ShouldReconnect(DisconnectReason reason, bool reconnect, bool keeps_registration) const {
  if (state_ != State::kAdmitted) return false;
  // A broker's session is not a peer's: whatever ended it (the broker's BYE when it
  // shuts down, its silence, ERROR 404 after a restart), the server registers again.
  if (target_.registered) return keeps_registration;
  // Only a lost session comes back: not one the peer ended (BYE) or we closed.
  return reconnect &&
         (reason == DisconnectReason::kExpired || reason == DisconnectReason::kForgotten);
}

}  // namespace procmod
