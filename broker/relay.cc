#include "relay.h"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <zmq_addon.hpp>

#include "io/transport_activity.h"

namespace procmod::broker {
namespace {

using json = nlohmann::json;

constexpr int kMaxMessagesPerTurn = 256;  // per socket, so one busy peer can't starve
constexpr const char* kShutdownReason = "broker shutting down";

using pmp::ErrorFrames;

std::string Pack(const json& value) {
  std::vector<uint8_t> bytes = json::to_msgpack(value);
  return std::string(bytes.begin(), bytes.end());
}

pmp::Reply Ok(uint64_t id, const json& result) {
  return pmp::Reply{.id = id, .code = 0, .result = Pack(result)};
}

// The `peer` key of a relayed header (DATA, REQUEST or REPLY).
const std::string& PeerOf(const pmp::Header& header) {
  if (auto* data = std::get_if<pmp::Data>(&header)) return data->peer;
  if (auto* request = std::get_if<pmp::Request>(&header)) return request->peer;
  return std::get<pmp::Reply>(header).peer;
}

const char* KindName(const Leg& leg) { return leg.is_server() ? "server" : "client"; }

}  // namespace

// ============================================================================
// Life
// ============================================================================

Result<std::unique_ptr<Relay>> Relay::Create(const Options& options) {
  Result<CurveSetup> curve =
      ResolveCurve(options.security.curve, /*accepts=*/true, /*dials=*/false);
  if (!curve.ok()) return curve.status();
  // A configuration error before any bind: it is the first thing to fix.
  const std::string& admin = options.admin.endpoint;
  if (!admin.empty()) {
    if (Status s = CheckAdminEndpoint(admin, AdminSpeaksCurve(*curve, admin)); !s.ok()) return s;
  }
  std::unique_ptr<Relay> relay(new Relay(options, std::move(*curve)));
  if (!relay->wake_fd_.ok()) {
    return InternalError(std::string("eventfd: ") + std::strerror(errno));
  }
  if (Status s = relay->Bind(); !s.ok()) return s;
  relay->router_polled_ = PolledSocket(*relay->router_);
  if (relay->zap_) relay->zap_polled_ = PolledSocket(relay->zap_->socket());
  return Result<std::unique_ptr<Relay>>(std::move(relay));
}

Relay::Relay(const Options& options, CurveSetup curve)
    : options_(options),
      curve_(std::move(curve)),
      heartbeat_(HeartbeatSettings{options_.heartbeat.interval,
                                   std::max<uint32_t>(options_.heartbeat.liveness, 1)}),
      started_at_(SteadyClock::now()),
      context_(1),
      directory_(
          DirectorySettings{options_.name, heartbeat_.settings(), options_.limits.max_connections}),
      tick_(TickFor(heartbeat_)) {}

Relay::~Relay() {
  admin_.reset();
  router_.reset();
  zap_.reset();
}

Status Relay::Bind() {
  zmq::socket_t socket(context_, zmq::socket_type::router);
  ConfigureAcceptor(socket, options_);
  if (curve_.enabled) {
    if (Status s = EnableCurveServer(context_, curve_, zap_, socket); !s.ok()) return s;
  }
  Result<std::string> bound = BindSocket(socket, options_.listen, "bind");
  if (!bound.ok()) return bound.status();
  listen_endpoint_ = std::move(*bound);
  router_ = std::move(socket);
  const std::string& admin = options_.admin.endpoint;
  if (admin.empty()) return Status();
  Result<std::unique_ptr<procmod::AdminEndpoint>> admin_bound =
      procmod::AdminEndpoint::Bind(context_, admin, curve_, zap_, "procmod-broker");
  if (!admin_bound.ok()) return admin_bound.status();
  admin_ = std::move(*admin_bound);
  admin_endpoint_ = admin_->endpoint();
  return Status();
}

void Relay::RequestKeyReload() {
  reload_keys_.store(true);
  wake_fd_.Signal();
}

Result<nlohmann::json> Relay::AdminReloadKeys() { return ReloadKeysForAdmin(zap_.get()); }

void Relay::Stop() {
  stopping_.store(true);
  wake_fd_.Signal();
}

void Relay::Run() {
  tick_.Start(SteadyClock::now());
  while (!stopping_.load()) {
    PollOnce();
    OnTimer(SteadyClock::now());
  }
  ShutdownSockets();
}

void Relay::ShutdownSockets() {
  if (!router_) return;
  Outbox bye = directory_.Shutdown(kShutdownReason);
  spdlog::info("procmod-broker: shutting down; BYE to {} peer(s)", bye.size());
  SendOutbox(bye);
  router_.reset();  // linger (options.linger, at most 1 s) bounds the flush
  admin_.reset();
  zap_.reset();
  context_.close();
  RemoveIpcFile(listen_endpoint_);  // a clean exit leaves no socket file behind
  RemoveIpcFile(admin_endpoint_);
}

// ============================================================================
// The loop
// ============================================================================

void Relay::PollOnce() {
  // poll(2) on the ZMQ_FDs rather than zmq_poll: one system call per wait instead of
  // up to four per socket, twice per relayed message (polled_socket.h).
  struct Polled {
    PolledSocket* socket;
    void (Relay::*service)();
    bool pending = false;  // input the descriptor may not announce
  };
  std::array<Polled, 3> sockets{{{&router_polled_, &Relay::ServiceRouter},
                                 {admin_ ? &admin_->polled() : nullptr, &Relay::ServiceAdmin},
                                 {&zap_polled_, &Relay::ServiceZap}}};
  std::array<pollfd, 4> fds{};
  fds[0] = {wake_fd_.fd(), POLLIN, 0};
  bool pending = false;
  for (size_t i = 0; i < sockets.size(); ++i) {
    PolledSocket* socket = sockets[i].socket;  // null or fd -1: no such socket, skipped
    fds[i + 1] = {socket ? socket->fd() : -1, POLLIN, 0};
    sockets[i].pending = socket && socket->MayHoldUnsignalledInput();
    pending = pending || sockets[i].pending;
  }
  const milliseconds timeout =
      pending ? milliseconds(0) : PollTimeout(SteadyClock::now(), tick_.next());
  if (poll(fds.data(), fds.size(), static_cast<int>(timeout.count())) < 0) {
    if (errno != EINTR) spdlog::error("procmod-broker: poll failed: {}", std::strerror(errno));
    return;
  }
  if (fds[0].revents & POLLIN) {
    wake_fd_.Drain();
    // The loop condition sees stopping_; a reload is done here, on the loop's thread.
    if (reload_keys_.exchange(false)) {
      if (zap_) {
        (void)zap_->Reload();  // logs what changed, or why the old list stays
      } else {
        spdlog::warn("procmod-broker: SIGHUP: no authorized keys to reload (no CURVE)");
      }
    }
  }
  for (size_t i = 0; i < sockets.size(); ++i) {
    if (sockets[i].pending || (fds[i + 1].revents & POLLIN)) (this->*sockets[i].service)();
  }
}

void Relay::ServiceZap() {
  zap_->Service();  // answers until a receive finds nothing
  zap_polled_.SetDrained(true);
}

// Time-driven work, once per tick: expiry of every silent leg, then PINGs.
void Relay::OnTimer(TimePoint now) {
  if (!tick_.Due(now)) return;  // woken by traffic, not by the clock
  EndOutcome expired = directory_.Expire(now);
  for (const Ended& end : expired.ended) {
    // A silent leg's TCP connection goes with it, and whatever libzmq queued for it
    // (a stopped peer's kernel would keep it open for ever).
    if (heartbeat_.IsExpired(end.leg.peer.last_seen, now)) end.leg.peer.transport.Shutdown();
  }
  LogEnded(expired.ended);
  SendOutbox(expired.out);
  for (const std::string& routing_id : directory_.DuePings(now)) {
    const Leg* leg = directory_.Find(routing_id);
    if (leg == nullptr) continue;
    SendTo(routing_id, pmp::Encode(HeartbeatPolicy::MakePing(leg->peer.echo, now)));
  }
}

// ============================================================================
// The data ROUTER
// ============================================================================

void Relay::ServiceRouter() {
  for (int i = 0; i < kMaxMessagesPerTurn; ++i) {
    rx_.clear();
    try {
      auto received =
          zmq::recv_multipart(*router_, std::back_inserter(rx_), zmq::recv_flags::dontwait);
      if (!received) {
        router_polled_.SetDrained(true);
        return;
      }
    } catch (const zmq::error_t& e) {
      spdlog::error("procmod-broker: receive on {} failed: {}", listen_endpoint_, e.what());
      return;
    }
    router_polled_.SetDrained(false);
    if (rx_.empty()) continue;
    rx_routing_id_.assign(rx_[0].data<char>(), rx_[0].size());
    OnMessage(rx_routing_id_, rx_);
  }
}

void Relay::OnMessage(const std::string& routing_id, pmp::Frames& frames) {
  const uint64_t bytes = FrameBytes(frames, 1);
  if (bytes > options_.limits.max_message_size) {
    // Dropped undecoded: not life, and it ends nobody's session.
    NoteMalformed(routing_id);
    SendTo(routing_id, pmp::TooLargeFrames(bytes, options_.limits.max_message_size));
    return;
  }
  pmp::Message& decoded = rx_message_;
  if (Status s = decoder_.DecodeInto(frames, 1, &decoded); !s.ok()) {
    // Malformed: answered, dropped, not counted as life. Never ends a session.
    NoteMalformed(routing_id);
    SendTo(routing_id, ErrorFrames(pmp::kCodeMalformed, std::string(s.message())));
    return;
  }
  Leg* leg = directory_.Find(routing_id);
  // HELLO and RESUME start afresh whatever the routing id had: not checked here.
  const bool handshake =
      decoded.command() == pmp::Command::kHello || decoded.command() == pmp::Command::kResume;
  if (leg != nullptr && curve_.enabled && frames.size() > 1 && !handshake &&
      EndIfTakenOver(routing_id, frames[1])) {
    return;  // not the session's message: it came from whoever holds the routing id now
  }
  if (leg != nullptr) {  // any well-formed message is life, a HELLO too
    leg->peer.last_seen = SteadyClock::now();
    leg->peer.msgs_in++;
    leg->peer.bytes_in += bytes;
    // Idle: the time to look at its connection again (libzmq may have redialed).
    if (decoded.command() == pmp::Command::kPing) {
      leg->peer.transport = TcpConnection::Of(frames[1]);
    }
  }
  if (decoded.command() == pmp::Command::kHello) {
    std::string address = frames.size() > 1 ? PeerAddressOf(frames[1]) : std::string();
    OnHello(routing_id, std::get<pmp::Hello>(decoded.header), std::move(address));
    if (Leg* admitted = directory_.Find(routing_id); admitted && frames.size() > 1) {
      admitted->peer.public_key = PeerKeyOf(frames[1]);
      admitted->peer.transport = TcpConnection::Of(frames[1]);
    }
    return;
  }
  if (decoded.command() == pmp::Command::kResume) {
    std::string address = frames.size() > 1 ? PeerAddressOf(frames[1]) : std::string();
    std::string key = frames.size() > 1 ? PeerKeyOf(frames[1]) : std::string();
    OnResume(routing_id, std::get<pmp::Resume>(decoded.header), std::move(address), std::move(key));
    if (Leg* resumed = directory_.Find(routing_id); resumed && frames.size() > 1) {
      resumed->peer.transport = TcpConnection::Of(frames[1]);
    }
    return;
  }
  if (leg == nullptr) {
    // No session: the peer must HELLO again (e.g. after the broker restarted).
    SendTo(routing_id, ErrorFrames(pmp::kCodeUnknownSession, "unknown session; send HELLO"));
    return;
  }
  OnLegMessage(*leg, decoded, frames[1]);
}

void Relay::NoteMalformed(const std::string& routing_id) {
  // The bytes on its connection may be more of the same: not life either.
  if (Leg* leg = directory_.Find(routing_id)) leg->peer.last_malformed = SteadyClock::now();
}

bool Relay::EndIfTakenOver(const std::string& routing_id, zmq::message_t& frame) {
  const std::string key = PeerKeyOf(frame);
  EndOutcome taken_over = directory_.CheckKey(routing_id, key);
  if (taken_over.ended.empty()) return false;
  const PeerRecord& peer = taken_over.ended.back().leg.peer;  // the leg itself comes last
  spdlog::warn(
      "procmod-broker: session {} ('{}', key {}) got a message signed by key {}: its routing id "
      "was taken over; the session ends",
      peer.session, Clip(peer.name), peer.public_key, key.empty() ? "(none)" : key);
  LogEnded(taken_over.ended);
  SendOutbox(taken_over.out);
  return true;
}

void Relay::OnHello(const std::string& routing_id, const pmp::Hello& hello, std::string address) {
  const std::string from = address.empty() ? std::string("?") : address;
  HelloOutcome o = directory_.Hello(routing_id, hello, std::move(address), SteadyClock::now());
  if (!o.admitted) {
    if (denial_log_.Allow(SteadyClock::now(), "denials")) {  // a flood is not a log flood
      spdlog::info("procmod-broker: denied {:?} {:?} from {} (service {:?}): {} {:?}",
                   Clip(hello.role), Clip(hello.name), from, Clip(hello.service), o.deny_code,
                   Clip(o.reason));
    }
    SendOutbox(o.out);
    return;
  }
  LogEnded(o.ended);
  spdlog::info("procmod-broker: admitted {} {:?} from {} for service {:?} as session {}",
               hello.role, Clip(hello.name), from, Clip(hello.service), o.session);
  // In order: the old session's end, the WELCOME, the JOINED. A WELCOME that cannot
  // be delivered (the peer left already) ends the new session at once (§10.2).
  bool welcome_lost = false;
  for (Outgoing& m : o.out) {
    const bool welcome =
        m.routing_id == routing_id && std::holds_alternative<pmp::Welcome>(m.header);
    const SendOutcome sent = SendTo(m.routing_id, pmp::Encode(m.header));
    if (welcome && sent == SendOutcome::kPeerGone) welcome_lost = true;
  }
  if (welcome_lost) {
    EndOutcome lost = directory_.Lost(routing_id);
    LogEnded(lost.ended);
    SendOutbox(lost.out);
  }
}

void Relay::OnResume(const std::string& routing_id, const pmp::Resume& resume, std::string address,
                     std::string public_key) {
  const std::string from = address.empty() ? std::string("?") : address;
  ResumeOutcome o = directory_.Resume(routing_id, resume, std::move(address), std::move(public_key),
                                      SteadyClock::now());
  if (!o.forwarded) {
    if (denial_log_.Allow(SteadyClock::now(), "denials")) {
      spdlog::info("procmod-broker: refused RESUME of session {:?} from {} (service {:?}): {} {:?}",
                   Clip(resume.session), from, Clip(resume.service), o.deny_code, Clip(o.reason));
    }
    SendOutbox(o.out);
    return;
  }
  LogEnded(o.ended);
  // The token is the server's to check: the session's state is there, not here.
  spdlog::info("procmod-broker: RESUME of session {} from {} for service {:?}: asked its server",
               resume.session, from, Clip(resume.service));
  SendOutbox(o.out);
}

void Relay::OnResumed(Leg& server, const pmp::Resumed& resumed) {
  const std::string server_id = server.peer.routing_id;
  ResumedOutcome o = directory_.Resumed(server_id, resumed, SteadyClock::now());
  LogEnded(o.ended);
  if (o.routing_id.empty()) {
    SendOutbox(o.out);  // a LEFT for an answer nobody waits for any more, or nothing
    return;
  }
  const Leg* client = directory_.Find(o.routing_id);
  spdlog::info("procmod-broker: resumed session {} of service {:?} from {}", resumed.session,
               Clip(client->service), client->peer.address.empty() ? "?" : client->peer.address);
  // As a WELCOME (§10.2): a RESUMED that cannot be delivered ends the leg at once.
  bool lost = false;
  for (Outgoing& m : o.out) {
    const SendOutcome sent = SendTo(m.routing_id, pmp::Encode(m.header));
    if (m.routing_id == o.routing_id && sent == SendOutcome::kPeerGone) lost = true;
  }
  if (lost) {
    EndOutcome e = directory_.Lost(o.routing_id);
    LogEnded(e.ended);
    SendOutbox(e.out);
  }
}

void Relay::OnLegMessage(Leg& leg, pmp::Message& message, const zmq::message_t& envelope) {
  switch (message.command()) {
    case pmp::Command::kPing: {
      const auto& ping = std::get<pmp::Ping>(message.header);
      const TimePoint now = SteadyClock::now();
      // A server's PING naming a client (`peer`) is about that client's session, not
      // the server leg's heartbeat: no echo taken (it was life all the same).
      if (!leg.is_server() || ping.peer.empty()) {
        if (auto rtt = HeartbeatPolicy::OnPing(ping, now, leg.peer.echo)) leg.peer.rtt = *rtt;
      }
      // Acknowledgements and resend requests are end to end: carried on.
      Outbox forwarded = directory_.ForwardPing(leg.peer.routing_id, ping, now);
      SendOutbox(forwarded);
      return;
    }
    case pmp::Command::kBye: {
      const auto& bye = std::get<pmp::Bye>(message.header);
      if (leg.is_server() && !bye.peer.empty()) {  // about one client, not the server
        EndOutcome e = directory_.ServerBye(leg.peer.routing_id, bye);
        LogEnded(e.ended);
        SendOutbox(e.out);
        return;
      }
      const std::string routing_id = leg.peer.routing_id;  // `leg` goes with the BYE
      EndOutcome e = directory_.Bye(routing_id);
      LogEnded(e.ended);
      SendOutbox(e.out);
      return;
    }
    case pmp::Command::kData:
    case pmp::Command::kRequest:
    case pmp::Command::kReply:
      return RelayMessage(leg, message, envelope);
    case pmp::Command::kError: {
      const auto& error = std::get<pmp::Error>(message.header);
      if (error_log_.Allow(SteadyClock::now(), "peer ERRORs")) {
        spdlog::warn("procmod-broker: {} session {} reported ERROR {}: {:?}", KindName(leg),
                     leg.peer.session, error.code, Clip(error.reason));
      }
      return;
    }
    case pmp::Command::kResumed:  // from a server: its answer to a JOINED {resume}
      if (leg.is_server()) return OnResumed(leg, std::get<pmp::Resumed>(message.header));
      [[fallthrough]];
    case pmp::Command::kHello:  // handled before a leg is looked at
    case pmp::Command::kWelcome:
    case pmp::Command::kDeny:
    case pmp::Command::kJoined:
    case pmp::Command::kLeft:
    case pmp::Command::kResume:  // answered before a leg is looked at
      SendTo(leg.peer.routing_id,
             ErrorFrames(pmp::kCodeMalformed, std::string(pmp::CommandName(message.command())) +
                                                  " is not expected from this peer"));
      return;
  }
}

void Relay::RelayMessage(Leg& from, pmp::Message& message, const zmq::message_t& envelope) {
  Route route = directory_.RouteFrom(from.peer.routing_id, PeerOf(message.header));
  if (route.error_code != 0) {
    SendTo(from.peer.routing_id, ErrorFrames(route.error_code, std::move(route.reason)));
    return;
  }
  if (route.drop) {
    from.peer.dropped++;
    spdlog::debug("procmod-broker: dropped a message from {}: {}", from.peer.name, route.reason);
    return;
  }
  // The header goes on as it came but for `peer`, unknown keys included, and is not
  // encoded again; payload frames move over as they came, and a small payload rides
  // inline when the receiving leg decodes that (whatever the sender did).
  std::optional<pmp::Frames> relayed =
      pmp::EncodeRelayed(envelope, route.peer, message.payload, route.form);
  if (!relayed) {  // the envelope decoded, so not expected: answered as malformed
    SendTo(from.peer.routing_id, ErrorFrames(pmp::kCodeMalformed, "header cannot be relayed"));
    return;
  }
  if (SendTo(route.to, std::move(*relayed)) == SendOutcome::kSent) ++relayed_;
}

void Relay::SendOutbox(Outbox& out) {
  for (Outgoing& m : out) SendTo(m.routing_id, pmp::Encode(m.header));
}

SendOutcome Relay::SendTo(const std::string& routing_id, pmp::Frames frames) {
  const uint64_t bytes = FrameBytes(frames);
  const SendOutcome outcome = SendFrames(*router_, routing_id, frames);
  router_polled_.SetDrained(false);  // the send may have run the socket's commands
  Leg* leg = directory_.Find(routing_id);
  switch (outcome) {
    case SendOutcome::kSent:
      if (leg != nullptr) leg->peer.CountSent(bytes, SteadyClock::now());
      break;
    case SendOutcome::kQueueFull:  // a slow peer: drop and count, never wait
      ++dropped_;
      if (leg != nullptr) leg->peer.dropped++;
      break;
    case SendOutcome::kPeerGone:  // the link is gone; expiry ends the session
    case SendOutcome::kFailed:
      break;
  }
  return outcome;
}

void Relay::LogEnded(const std::vector<Ended>& ended) {
  for (const Ended& e : ended) {
    spdlog::info("procmod-broker: session {} of {} {:?} (service {:?}) ended: {}",
                 e.leg.peer.session, e.leg.peer.role, Clip(e.leg.peer.name), Clip(e.leg.service),
                 e.why);
  }
}

// ============================================================================
// The admin ROUTER
// ============================================================================

void Relay::ServiceAdmin() {
  if (admin_) admin_->Service(*this);  // AnswerAdmin below
}

pmp::Reply Relay::AnswerAdmin(const pmp::Request& request) {
  if (request.method == "connections.list") {
    return Ok(request.id, ConnectionsJson(SteadyClock::now()));
  }
  if (request.method == "services.list") return Ok(request.id, ServicesJson());
  if (request.method.starts_with("collab.")) {
    // The collaboration master lives in each server, not in the broker.
    return pmp::Reply{.id = request.id,
                      .code = pmp::kCodeUnknownSession,
                      .error = "unknown admin method '" + request.method +
                               "': a broker has no collaboration master; ask the "
                               "server's own admin endpoint"};
  }
  return HandleAdminRequest(request, *this);  // process.info, connections.close
}

json Relay::ConnectionsJson(TimePoint now) const {
  json list = json::array();
  for (const Leg* leg : directory_.Legs()) {
    json peer = PeerToJson(leg->peer.Snapshot(now));
    peer["service"] = leg->service;
    const Service* service = directory_.FindService(leg->service);
    if (leg->is_server()) {
      peer["clients"] = service ? service->clients.size() : 0;
    } else {
      peer["server"] = service ? service->server_session : std::string();
    }
    list.push_back(std::move(peer));
  }
  return list;
}

json Relay::ServicesJson() const {
  json list = json::array();
  for (const auto& [name, service] : directory_.services()) {
    const Leg* server = directory_.Find(service.server);
    list.push_back(json{
        {"service", name},
        {"server", service.server_session},
        {"server_name", server ? server->peer.name : std::string()},
        {"role", server ? server->peer.role : std::string()},
        {"multi", service.multi},
        {"clients", service.clients},
    });
  }
  return list;
}

std::vector<PeerInfo> Relay::AdminPeers() {
  const TimePoint now = SteadyClock::now();
  std::vector<PeerInfo> peers;
  for (const Leg* leg : directory_.Legs()) peers.push_back(leg->peer.Snapshot(now));
  return peers;
}

json Relay::AdminProcessInfo() {
  const auto uptime = std::chrono::duration_cast<milliseconds>(SteadyClock::now() - started_at_);
  return json{
      {"name", options_.name},
      {"role", kBrokerRole},
      {"listen", listen_endpoint_},
      {"admin", admin_endpoint_},
      {"pid", static_cast<int64_t>(getpid())},
      {"uptime_ms", uptime.count()},
      {"services", directory_.services().size()},
      {"connections", directory_.size()},
      {"clients", directory_.client_count()},
      {"relayed", relayed_},
      {"dropped", dropped_},
      {"protocol", pmp::kProtocolVersion},
      {"software", "procmod " PROCMOD_VERSION},
      {"heartbeat_ms", heartbeat_.settings().interval.count()},
      {"liveness", heartbeat_.settings().liveness},
  };
}

bool Relay::AdminCloseSession(const std::string& session) {
  EndOutcome e = directory_.Close(session);
  if (e.ended.empty()) return false;
  LogEnded(e.ended);
  SendOutbox(e.out);
  return true;
}

}  // namespace procmod::broker
