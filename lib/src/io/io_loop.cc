#include "io/io_loop.h"

#include <poll.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include <spdlog/spdlog.h>

#include "io/io_loop_internal.h"
#include "io/sockets.h"
#include "io/transport_activity.h"
#include "procmod/config.h"

namespace procmod {

// ============================================================================
// Life
// ============================================================================

Result<std::shared_ptr<IoLoop>> IoLoop::Create(Options options, CurveSetup curve,
                                               const Clock& clock) {
  std::shared_ptr<IoLoop> loop(new IoLoop(std::move(options), std::move(curve), clock));
  if (!loop->wake_fd_.ok() || !loop->lead_abort_fd_.ok()) {
    return InternalError(std::string("eventfd: ") + std::strerror(errno));
  }
  if (!loop->link_fds_.ok()) {
    return InternalError(std::string("epoll_create1: ") + std::strerror(errno));
  }
  // spdlog's registry is a function-local static inside libspdlog, made at first
  // use. Made here, on the caller's thread, it exists before any I/O thread logs:
  // two loops in one process (tests, a tool) never race to make it.
  (void)spdlog::default_logger_raw();
  loop->thread_ = std::thread([raw = loop.get()] { raw->ThreadMain(); });
  return loop;
}

IoLoop::IoLoop(Options options, CurveSetup curve, const Clock& clock)
    : options_(std::move(options)),
      curve_(std::move(curve)),
      clock_(clock),
      heartbeat_(HeartbeatSettings{options_.heartbeat.interval,
                                   std::max<uint32_t>(options_.heartbeat.liveness, 1)}),
      context_(1),
      started_at_(clock.Now()),
      lifetime_(options_.lifetime_warnings),
      tick_(TickFor(heartbeat_)) {}

IoLoop::~IoLoop() { Shutdown(); }

void IoLoop::Shutdown() {
  if (!thread_.joinable() || OnIoThread()) return;
  Post([this] { stopping_ = true; });
  thread_.join();
}

bool IoLoop::Post(std::function<void()> fn) {
  Command command;
  command.fn = std::move(fn);
  return Enqueue(std::move(command));
}

bool IoLoop::Enqueue(Command command) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!accepting_commands_) return false;
    commands_.push_back(std::move(command));
    // Only a thread asleep in poll needs the eventfd; a busy one finds the command
    // when it next looks. This saves a syscall and a wake-up per message when
    // Send() is called in a loop.
    wake = sleeping_;
    sleeping_ = false;
  }
  // One wake-up per batch: the I/O thread drains the whole queue when it wakes.
  if (wake) Wake();
  return true;
}

void IoLoop::Wake() { wake_fd_.Signal(); }

bool IoLoop::Dispatch(std::function<void()> fn) {
  // From a callback or handler (on the I/O thread) an effect must happen now, in
  // order with the traffic being handled: a handler that disables further
  // connections must have done so before the next HELLO in the same batch is read.
  if (OnIoThread()) {
    fn();
    return true;
  }
  return Post(std::move(fn));
}

// ============================================================================
// The loop
// ============================================================================

void IoLoop::ThreadMain() {
  std::unique_lock<std::mutex> loop(loop_mu_);  // let go only while asleep in poll
  now_ = clock_.Now();
  tick_.Start(now_);
  while (!stopping_) {
    PollOnce(loop);  // runs posted commands as soon as the wake-up fd says so
    OnTimer(clock_.Now());
  }
  ShutdownOnIoThread();
}

void IoLoop::RetakeLoop(std::unique_lock<std::mutex>& loop) {
  if (loop.try_lock()) return;
  // A thread leads for its reply (or is sending one): it hands back at this signal.
  lead_abort_.store(true);
  lead_abort_fd_.Signal();
  loop.lock();
  lead_abort_fd_.Drain();
  lead_abort_.store(false);
}

void IoLoop::RunCommands() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    sleeping_ = false;
    batch_.swap(commands_);  // both keep their capacity: no allocation per batch
  }
  for (Command& command : batch_) {
    if (command.fn) {
      command.fn();
    } else {
      SendData(command);
    }
  }
  batch_.clear();
}

void IoLoop::PollOnce(std::unique_lock<std::mutex>& loop) {
  // poll(2) on descriptors, not zmq_poll (polled_socket.h): the wake-up fd, link_fds_
  // (every link's DEALER, see epoll_set.h), the ZMQ_FDs of the acceptor, the admin
  // socket and the ZAP socket, then each handshaking link's transport monitor.
  std::vector<pollfd>& fds = poll_fds_;  // a member: no allocation per turn
  auto& watch_links = poll_watch_links_;
  fds.clear();
  watch_links.clear();
  fds.push_back({wake_fd_.fd(), POLLIN, 0});
  fds.push_back({link_fds_.fd(), POLLIN, 0});
  // A command run below may bind the acceptor or the admin socket: only what was
  // waited on here is serviced after the wait.
  struct Waited {
    PolledSocket* polled;
    void (IoLoop::*service)();
    bool pending;  // input its descriptor will not announce
    size_t fd_index;
  };
  std::array<Waited, 3> waited{};
  size_t waited_count = 0;
  bool ready = false;
  auto wait_on = [&](zmq::socket_ref socket, PolledSocket& polled, void (IoLoop::*service)()) {
    if (polled.socket() != socket) polled = PolledSocket(socket);
    const bool pending = polled.MayHoldUnsignalledInput();
    ready = ready || pending;
    waited[waited_count++] = {&polled, service, pending, fds.size()};
    fds.push_back({polled.fd(), POLLIN, 0});
  };
  if (acceptor_) wait_on(acceptor_->socket(), acceptor_->polled(), &IoLoop::ServiceAcceptor);
  if (admin_) wait_on(admin_->socket(), admin_->polled(), &IoLoop::ServiceAdmin);
  if (zap_) wait_on(zap_->socket(), zap_polled_, &IoLoop::ServiceZap);
  const size_t first_watch = fds.size();
  for (auto& [id, link] : links_) {
    if (!link->has_socket()) continue;  // waiting to retry
    ready = ready || link->HasWork();
    if (!link->watch()) continue;  // admitted: the watch has done its job
    // Asked every turn (a handshake is a few turns): a fresh monitor's first
    // events are not announced on its descriptor.
    PolledSocket watch(link->watch()->socket());
    const bool pending = watch.MayHoldUnsignalledInput();
    ready = ready || pending;
    fds.push_back({watch.fd(), POLLIN, 0});
    watch_links.push_back({id, pending});
  }

  const TimePoint next = NextDeadline();
  milliseconds timeout = ready ? milliseconds(0) : PollTimeout(clock_.Now(), next);
  {
    // Asleep only with nothing to do: a command queued from now on writes the
    // eventfd (Enqueue), one queued before is run without sleeping.
    std::lock_guard<std::mutex> lock(mu_);
    if (commands_.empty()) {
      sleeping_ = true;
    } else {
      timeout = milliseconds(0);
    }
  }
  wakes_at_ = timeout.count() == 0 ? TimePoint::min() : next;
  loop.unlock();  // a leader may use a link's DEALER until we take this back
  const int polled = poll(fds.data(), fds.size(), static_cast<int>(timeout.count()));
  const int poll_errno = errno;
  RetakeLoop(loop);
  wakes_at_ = TimePoint::min();
  now_ = clock_.Now();
  if (polled < 0) {
    if (poll_errno != EINTR) spdlog::error("procmod: poll failed: {}", std::strerror(poll_errno));
    RunCommands();
    return;
  }

  if (fds[0].revents & POLLIN) wake_fd_.Drain();
  // Commands first: a callback set before traffic arrived must see that traffic.
  RunCommands();
  for (size_t i = 0; i < waited_count; ++i) {
    const Waited& w = waited[i];
    if (w.pending || (fds[w.fd_index].revents & POLLIN)) (this->*w.service)();
  }
  for (size_t i = first_watch; i < fds.size(); ++i) {
    const auto [link_id, pending] = watch_links[i - first_watch];
    if (!pending && !(fds[i].revents & POLLIN)) continue;
    auto it = links_.find(link_id);  // one link may drop another
    if (it != links_.end() && it->second->has_socket() && it->second->watch()) {
      ServiceWatch(*it->second);
    }
  }
  ServiceLinks(/*any_link_signalled=*/(fds[1].revents & POLLIN) != 0);
}

void IoLoop::ServiceLinks(bool any_link_signalled) {
  std::vector<uint64_t>& ids = link_ids_;  // a member: no allocation per turn
  ids.clear();
  for (const auto& [id, link] : links_) ids.push_back(id);
  for (uint64_t id : ids) {
    auto it = links_.find(id);  // servicing one link may have dropped another
    if (it == links_.end() || !it->second->has_socket()) continue;
    Link& link = *it->second;
    if (!link.outbox_empty()) link.FlushOutbox(now_);  // sends what POLLOUT now takes
    // A drained link whose descriptor stayed quiet has nothing; any other costs one
    // receive, which finds what there is or leaves the link drained.
    if (link.polled().drained() && !link.has_held() && !any_link_signalled) continue;
    ServiceLink(link);
  }
}

TimePoint IoLoop::NextDeadline() const {
  TimePoint next =
      std::min({tick_.next(), accept_deadline_, lifetime_.End().value_or(TimePoint::max())});
  next = std::min(next, requests_.NextDeadline());
  if (acceptor_) next = std::min(next, acceptor_->WaitDeadline());
  for (const auto& [id, link] : links_) next = std::min(next, link->NextDeadline());
  return next;
}

// Everything time-driven happens here; each branch says what it guards against.
void IoLoop::OnTimer(TimePoint now) {
  // Requests nobody answered in time.
  requests_.Expire(now);
  // A caller waiting for peers that did not come.
  if (acceptor_) acceptor_->ExpireWait(now);
  // Links: handshake and connect deadlines, retries.
  OnLinkTimers(now);

  if (accept_deadline_ <= now) {
    accept_deadline_ = TimePoint::max();
    if (!ever_admitted_) EndRun(RunEnd::kAcceptTimeout);
  }
  if (std::optional<milliseconds> left = lifetime_.DueWarning(now)) AnnounceLifetime(*left);
  if (lifetime_.Over(now)) {
    spdlog::info("procmod: the server's lifetime is over");
    AnnounceLifetime(milliseconds(0));
    lifetime_ = Lifetime({});  // once
    EndRun(RunEnd::kSessionTimeout);
  }

  if (!tick_.Due(now)) return;  // heartbeats and expiry run once per tick
  OnHeartbeatTick(now);
}

void IoLoop::OnLinkTimers(TimePoint now) {
  std::vector<uint64_t> ids;  // a link may drop another
  for (const auto& [id, link] : links_) ids.push_back(id);
  for (uint64_t id : ids) {
    auto it = links_.find(id);
    if (it == links_.end()) continue;
    Link& link = *it->second;
    switch (link.Check(now)) {
      case Link::Due::kNothing:
        break;
      case Link::Due::kUnreachable:
        FailLink(link, link.UnreachableError());
        break;
      case Link::Due::kHandshakeFailed:
        FailLink(link, link.watch()->TimedOut());
        break;
      case Link::Due::kNoWelcome:
        spdlog::warn("procmod: no WELCOME from {} within timeouts.handshake; retrying", link.url());
        AttemptFailed(link, DeadlineExceededError("no WELCOME from " + link.url() +
                                                  " within timeouts.handshake"));
        link.Retry(now, jitter_);
        break;
      case Link::Due::kReopen:
        link.RetryDue();
        OpenLinkSocket(link);
        break;
    }
  }
}

void IoLoop::OnHeartbeatTick(TimePoint now) {
  // Accepting side: every silent peer expires, not only the oldest; idle ones get
  // a PING.
  if (acceptor_) {
    // A resumable session is suspended instead (io_loop_resume.cc), and ends here
    // when its grace period is over.
    std::vector<PeerRecord*> suspended;
    for (PeerRecord& gone : acceptor_->table().Expire(now, heartbeat_, &suspended)) {
      // Its TCP connection goes too, and with it whatever libzmq queued for it
      // (a stopped peer's kernel would keep it open for ever).
      gone.transport.Shutdown();
      std::string said = gone.suspended() ? io_loop_internal::NotResumedWithin(gone) : "";
      requests_.FailSession(gone.session, UnavailableError("peer " + gone.session + " expired"));
      Disconnected(gone, /*incoming=*/true, DisconnectReason::kExpired, std::move(said));
    }
    // By session, not by pointer: a callback above or below may end any session.
    std::vector<std::string> sessions;
    for (PeerRecord* peer : suspended) {
      peer->transport.Shutdown();  // it comes back on a new one, with RESUME
      sessions.push_back(peer->session);
    }
    for (const std::string& session : sessions) {
      if (PeerRecord* peer = acceptor_ ? acceptor_->table().FindSession(session) : nullptr) {
        Suspended(*peer, /*incoming=*/true);
      }
    }
    // Sending changes no table entry (a gone transport just fails), so PINGs go out
    // during the one pass: no list of ids, no second lookup per peer.
    acceptor_->table().ForEach([&](PeerRecord& peer) {
      if (peer.resume) peer.resume->Trim();  // once an interval (resume_state.h)
      if (peer.suspended() || !heartbeat_.ShouldPing(peer.last_sent, now)) return;
      SendToRoutingId(peer.routing_id, pmp::Encode(PingFor(peer, now)), &peer);
    });
  }
  OnRelayedResumeTick(now);
  // Connecting side: the same with each link's adopted heartbeat.
  std::vector<uint64_t> ids;  // expiry drops links
  for (const auto& [id, link] : links_) ids.push_back(id);
  for (uint64_t id : ids) {
    auto it = links_.find(id);
    if (it == links_.end() || !it->second->admitted()) continue;
    Link& link = *it->second;
    PeerRecord& peer = link.peer();
    const HeartbeatPolicy& heartbeat = link.heartbeat();
    if (peer.resume) peer.resume->Trim();
    if (peer.Silent(heartbeat, now)) {
      if (peer.resume) {
        SuspendLink(link, "no sign of life for " + FormatDuration(heartbeat.settings().interval *
                                                                  heartbeat.settings().liveness));
      } else {
        DropLink(id, DisconnectReason::kExpired);
      }
    } else if (heartbeat.ShouldPing(peer.last_sent, now)) {
      SendOnLink(link, pmp::Encode(PingFor(peer, now)));
    }
  }
}

void IoLoop::ShutdownOnIoThread() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    accepting_commands_ = false;
  }
  RunCommands();  // whatever slipped in before the door closed
  // Before the sessions end: a caller waiting on a reply learns that the module
  // went (kAborted), not that its peer did.
  requests_.FailAll(AbortedError("process module finalized"));

  // BYE to everyone; sends never block, and linger bounds the flush.
  if (acceptor_) {
    std::vector<std::string> ids;
    acceptor_->table().ForEach([&](PeerRecord& peer) { ids.push_back(peer.routing_id); });
    for (const auto& id : ids) {
      SendToRoutingId(id, pmp::Encode(pmp::Bye{"shutdown"}));
      RemovePeer(id, DisconnectReason::kClosed);
    }
  }
  std::vector<uint64_t> link_ids;
  for (const auto& [id, link] : links_) link_ids.push_back(id);
  for (uint64_t id : link_ids) {
    auto it = links_.find(id);
    if (it == links_.end()) continue;
    Link& link = *it->second;
    if (link.admitted()) SendOnLink(link, pmp::Encode(pmp::Bye{"shutdown"}));
    if (link.waiter()) {
      link.waiter()->set_value(AbortedError("process module finalized"));
      link.waiter().reset();
    }
    DropLink(id, DisconnectReason::kClosed);
  }
  if (acceptor_) acceptor_->FailWait(AbortedError("process module finalized"));
  zap_polled_ = {};
  acceptor_.reset();
  admin_.reset();
  zap_.reset();      // after the sockets it vets
  context_.close();  // returns once every socket's linger (≤ 1 s) has run out
  for (const std::string& endpoint : ListenEndpoints()) {
    RemoveIpcFile(endpoint);  // a clean exit leaves no socket file behind
  }
  RemoveIpcFile(AdminEndpoint());
  if (connection_file_written_) std::remove(options_.connection_file.c_str());
  EndRun(RunEnd::kStopped);
}

// ============================================================================
// Setup
// ============================================================================

Status IoLoop::Bind(AdmissionPolicy policy, bool gated) {
  return Call<Status>(
      [this, policy = std::move(policy), gated]() mutable -> Status {
        if (acceptor_) return FailedPreconditionError("already bound");
        const bool multi = policy.multi;
        Result<std::unique_ptr<Acceptor>> acceptor =
            Acceptor::Bind(context_, options_, curve_, zap_, std::move(policy), gated);
        if (!acceptor.ok()) return acceptor.status();
        {
          std::lock_guard<std::mutex> lock(mu_);
          listen_endpoints_ = (*acceptor)->endpoints();
        }
        acceptor_ = std::move(*acceptor);
        multi_ = multi;
        if (Status s = BindAdmin(); !s.ok()) {
          acceptor_.reset();
          return s;
        }
        return WriteOurConnectionFile();
      },
      AbortedError("process module finalized"));
}

Status IoLoop::BindAdminOnly() {
  return Call<Status>([this] { return BindAdmin(); }, AbortedError("process module finalized"));
}

Status IoLoop::BindAdmin() {
  const std::string& endpoint = options_.admin.endpoint;
  if (endpoint.empty()) return Status();
  Result<std::unique_ptr<procmod::AdminEndpoint>> admin =
      procmod::AdminEndpoint::Bind(context_, endpoint, curve_, zap_, "procmod");
  if (!admin.ok()) return admin.status();
  {
    std::lock_guard<std::mutex> lock(mu_);
    admin_endpoint_ = (*admin)->endpoint();
  }
  admin_ = std::move(*admin);
  return Status();
}

Status IoLoop::WriteOurConnectionFile() {
  if (options_.connection_file.empty()) return Status();
  ConnectionInfo info;
  info.endpoint = ListenEndpoint();
  info.name = options_.name;
  info.role = std::string(RoleName(options_.role));
  info.multi = multi_;
  info.connect_id = options_.connect_id;
  info.protocol = std::string(pmp::kProtocolVersion);
  info.software = "procmod " PROCMOD_VERSION;
  info.pid = static_cast<int64_t>(getpid());
  info.ranks = options_.ranks;
  info.admin = AdminEndpoint();
  if (curve_.enabled) info.public_key = curve_.own.public_key;
  Status written = WriteConnectionFile(options_.connection_file, info);
  if (written.ok()) connection_file_written_ = true;
  return written;
}

Result<ReloadSummary> IoLoop::ReloadAuthorizedKeys() {
  using Reloaded = Result<ReloadSummary>;
  return Call<Reloaded>(
      [this]() -> Reloaded {
        if (!zap_) {
          return FailedPreconditionError(
              "no authorized keys to reload: this process accepts no CURVE peers");
        }
        return zap_->Reload();
      },
      AbortedError("process module finalized"));
}

Result<nlohmann::json> IoLoop::AdminReloadKeys() { return ReloadKeysForAdmin(zap_.get()); }

std::string IoLoop::AdminEndpoint() const {
  std::lock_guard<std::mutex> lock(mu_);
  return admin_endpoint_;
}

void IoLoop::SetAccepting(bool accepting) {
  Dispatch([this, accepting] { AdminSetAccepting(accepting); });
}

void IoLoop::SetConnectId(uint64_t connect_id) {
  Dispatch([this, connect_id] { AdminSetConnectId(connect_id); });
}

std::string IoLoop::ListenEndpoint() const {
  std::lock_guard<std::mutex> lock(mu_);
  return listen_endpoints_.empty() ? std::string() : listen_endpoints_.front();
}

std::vector<std::string> IoLoop::ListenEndpoints() const {
  std::lock_guard<std::mutex> lock(mu_);
  return listen_endpoints_;
}

void IoLoop::ArmRun(bool multi, bool single_peer, milliseconds accept, milliseconds session) {
  Post([this, multi, single_peer, accept, session] {
    multi_ = multi;
    single_peer_ = single_peer;
    const TimePoint now = clock_.Now();
    if (!ever_admitted_) accept_deadline_ = DeadlineAfter(now, accept);
    lifetime_.SetSessionEnd(DeadlineAfter(now, session));
  });
}

void IoLoop::SetLifetime(milliseconds remaining) {
  Dispatch([this, remaining] {
    lifetime_.SetCommandEnd(clock_.Now() + std::max(remaining, milliseconds(0)));
  });
}

void IoLoop::AnnounceLifetime(milliseconds left) {
  if (!acceptor_) return;
  IdentityTable& table = acceptor_->table();
  spdlog::info("procmod: telling {} client(s) the server ends in {} s", table.size(),
               left.count() / 1000.0);
  const std::string text = LifetimeNotice(left);
  std::vector<std::string> sessions;
  table.ForEach([&](PeerRecord& peer) { sessions.push_back(peer.session); });
  for (const std::string& session : sessions) {
    Frames payload;
    payload.emplace_back(text.data(), text.size());
    SendToPeer(session, pmp::Data{"server", {}}, std::move(payload));
  }
}

// ============================================================================
// Running
// ============================================================================

RunEnd IoLoop::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  run_cv_.wait(lock, [this] { return run_end_.has_value(); });
  return *run_end_;
}

void IoLoop::Stop() {
  const bool posted = Post([this] {
    EndRun(RunEnd::kStopped);
    // A Start() or ConnectToRemote() still waiting gives up too: a signal must be
    // able to end a server that is still dialing its client.
    std::vector<uint64_t> waiting;
    for (const auto& [id, link] : links_) {
      if (link->waiter()) waiting.push_back(id);
    }
    for (uint64_t id : waiting) FailLink(*links_.at(id), AbortedError("stopped"));
    if (acceptor_) acceptor_->FailWait(AbortedError("stopped"));
  });
  if (!posted) EndRun(RunEnd::kStopped);
}

bool IoLoop::RunEnded() const {
  std::lock_guard<std::mutex> lock(mu_);
  return run_end_.has_value();
}

void IoLoop::EndRun(RunEnd end) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (run_end_) return;  // the first reason wins
    run_end_ = end;
  }
  run_cv_.notify_all();
}

// ============================================================================
// The admin endpoint
// ============================================================================

void IoLoop::ServiceZap() {
  if (!zap_) return;
  zap_->Service();  // answers until a receive finds nothing
  zap_polled_.SetDrained(true);
}

void IoLoop::ServiceAdmin() {
  if (admin_) admin_->Service(*this);  // HandleAdminRequest, by AdminTarget's default
}

nlohmann::json IoLoop::AdminProcessInfo() {
  const TimePoint now = clock_.Now();
  const auto uptime = std::chrono::duration_cast<milliseconds>(now - started_at_);
  const std::optional<milliseconds> left = lifetime_.Left(now);
  return nlohmann::json{
      {"name", options_.name},
      {"role", RoleName(options_.role)},
      {"mode", ModeName(options_.mode)},
      {"multi", multi_},
      {"listen", ListenEndpoint()},
      {"admin", AdminEndpoint()},
      {"pid", static_cast<int64_t>(getpid())},
      {"ranks", options_.ranks},
      {"uptime_ms", uptime.count()},
      {"accepting", Accepting()},
      {"peers", SnapshotOnIoThread().size()},
      {"protocol", pmp::kProtocolVersion},
      {"software", "procmod " PROCMOD_VERSION},
      {"heartbeat_ms", heartbeat_.settings().interval.count()},
      {"liveness", heartbeat_.settings().liveness},
      {"expires_in_ms", left ? nlohmann::json(left->count()) : nlohmann::json(nullptr)},
      {"broker", BrokerLinkInfo()},
  };
}

// Broker mode: whether the server is registered, or which attempt it is at
// (procmod-monitor shows "registering (attempt N)"); null in other modes.
nlohmann::json IoLoop::BrokerLinkInfo() const {
  if (options_.mode != Mode::kBroker) return nullptr;
  for (const auto& [id, link] : links_) {
    if (!link->registered()) continue;
    return nlohmann::json{{"url", link->target().endpoint},
                          {"state", link->admitted() ? "registered" : "registering"},
                          {"attempt", link->attempt()}};
  }
  return nlohmann::json{{"url", options_.broker_url}, {"state", "unregistered"}};
}

bool IoLoop::AdminCloseSession(const std::string& session) {
  if (FindPeer(session) == nullptr) return false;
  (void)Close(session, "closed by the administrator");
  return true;
}

bool IoLoop::Accepting() const {
  if (acceptor_) return acceptor_->table().accepting();
  for (const auto& [id, link] : links_) {
    if (link->registered() && link->admitted()) {
      return !(single_peer_ && ever_admitted_);  // the broker admits its one client once
    }
  }
  return false;  // behind a broker and not registered (now): nobody can reach us
}

void IoLoop::AdminSetAccepting(bool accepting) {
  if (!acceptor_) return;
  acceptor_->table().SetAccepting(accepting);
  spdlog::info("procmod: further connections {}", accepting ? "enabled" : "disabled");
}

void IoLoop::AdminSetConnectId(uint64_t connect_id) {
  if (!acceptor_) return;
  acceptor_->table().SetConnectId(connect_id);
  spdlog::info("procmod: connect-id changed");
}

// ============================================================================
// The application's handlers and callbacks
// ============================================================================

void IoLoop::Install(std::function<void()> install) {
  // On the I/O thread it is posted: a callback or handler may replace itself while
  // it runs, and must not be destroyed under its own feet.
  if (OnIoThread()) {
    Post(std::move(install));
    return;
  }
  // Elsewhere the call returns once it is in place, so that whatever comes after
  // the call (a message the application then makes its peer send) finds it.
  auto done = std::make_shared<std::promise<void>>();
  std::future<void> installed = done->get_future();
  if (!Post([install = std::move(install), done] {
        install();
        done->set_value();
      })) {
    return;  // finalized: nothing will call it
  }
  installed.wait();
}

void IoLoop::SetHandler(std::string method, RequestHandler handler) {
  Install([this, method = std::move(method), handler = std::move(handler)]() mutable {
    handlers_[method] = std::move(handler);
  });
}

void IoLoop::SetOnConnected(ConnectedCallback callback) {
  Install(
      [this, callback = std::move(callback)]() mutable { on_connected_ = std::move(callback); });
}

void IoLoop::SetOnDisconnected(DisconnectCallback callback) {
  Install(
      [this, callback = std::move(callback)]() mutable { on_disconnected_ = std::move(callback); });
}

void IoLoop::SetOnData(DataCallback callback) {
  Install([this, callback = std::move(callback)]() mutable { on_data_ = std::move(callback); });
}

void IoLoop::SetOnSuspended(SuspendedCallback callback) {
  Install(
      [this, callback = std::move(callback)]() mutable { on_suspended_ = std::move(callback); });
}

void IoLoop::SetOnResumed(ConnectedCallback callback) {
  Install([this, callback = std::move(callback)]() mutable { on_resumed_ = std::move(callback); });
}

void IoLoop::SetOnReconnecting(ReconnectingCallback callback) {
  Install(
      [this, callback = std::move(callback)]() mutable { on_reconnecting_ = std::move(callback); });
}

void IoLoop::AttemptFailed(const Link& link, const Status& why) {
  if (!link.reconnecting()) return;  // a first dial's failures reach its caller
  io_loop_internal::Invoke("reconnecting", on_reconnecting_, link.url(), link.attempt(), why);
}

}  // namespace procmod
