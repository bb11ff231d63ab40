#include "io_loop.h"

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

#include <zmq_addon.hpp>

#include "connection_state.h"
#include "log_text.h"
#include "sockets.h"
#include "url.h"

namespace procmod {
namespace {

constexpr int kMaxMessagesPerTurn = 256;  // per socket, so one busy peer can't starve
constexpr Duration kMaxBackoff = std::chrono::seconds(32);
// Payload bytes Send may have queued for one dialed peer beyond ZeroMQ's own queue
// (send_window.h): enough to keep the pipe full, little enough to stay in cache.
constexpr int64_t kSendWindowBytes = int64_t{4} << 20;

TimePoint DeadlineAfter(TimePoint now, milliseconds timeout) {
  return timeout.count() > 0 ? now + timeout : TimePoint::max();
}

template <typename Callback, typename... Args>
void Invoke(const char* what, const Callback& callback, Args&&... args) {
  if (!callback) return;
  try {
    callback(std::forward<Args>(args)...);
  } catch (const std::exception& e) {
    spdlog::error("procmod: {} callback threw: {}", what, e.what());
  } catch (...) {
    spdlog::error("procmod: {} callback threw a non-exception", what);
  }
}

using pmp::ErrorFrames;

// How a relayed client's session ends when its broker's does: lost, not left (the
// client said no BYE; the relay is gone), unless this side closed it.
DisconnectReason RelayedLoss(DisconnectReason broker) {
  return broker == DisconnectReason::kClosed ? DisconnectReason::kClosed
                                             : DisconnectReason::kExpired;
}

}  // namespace

Frames IoLoop::TooLargeFrames(uint64_t bytes) const {
  return pmp::TooLargeFrames(bytes, options_.limits.max_message_size);
}

// ============================================================================
// Life
// ============================================================================

Result<std::shared_ptr<IoLoop>> IoLoop::Create(Options options, CurveSetup curve) {
  std::shared_ptr<IoLoop> loop(new IoLoop(std::move(options), std::move(curve)));
  if (!loop->wake_fd_.ok() || !loop->lead_abort_fd_.ok()) {
    return InternalError(std::string("eventfd: ") + std::strerror(errno));
  }
  if (!loop->link_fds_.ok()) {
    return InternalError(std::string("epoll_create1: ") + std::strerror(errno));
  }
  loop->thread_ = std::thread([raw = loop.get()] { raw->ThreadMain(); });
  return loop;
}

IoLoop::IoLoop(Options options, CurveSetup curve)
    : options_(std::move(options)),
      curve_(std::move(curve)),
      heartbeat_(HeartbeatSettings{options_.heartbeat.interval,
                                   std::max<uint32_t>(options_.heartbeat.liveness, 1)}),
      context_(1),
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

template <typename T>
T IoLoop::Call(std::function<T()> fn, T if_stopped) {
  if (OnIoThread()) return fn();
  auto promise = std::make_shared<std::promise<T>>();
  std::future<T> future = promise->get_future();
  if (!Post([promise, fn = std::move(fn)]() mutable { promise->set_value(fn()); })) {
    return if_stopped;
  }
  return future.get();
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
  if (acceptor_) wait_on(*acceptor_, acceptor_polled_, &IoLoop::ServiceAcceptor);
  if (admin_) wait_on(admin_->socket(), admin_->polled(), &IoLoop::ServiceAdmin);
  if (zap_) wait_on(zap_->socket(), zap_polled_, &IoLoop::ServiceZap);
  const size_t first_watch = fds.size();
  for (auto& [id, link] : links_) {
    if (!link->socket) continue;  // waiting to retry
    ready = ready || LinkHasWork(*link);
    if (!link->watch) continue;  // admitted: the watch has done its job
    // Asked every turn (a handshake is a few turns): a fresh monitor's first
    // events are not announced on its descriptor.
    PolledSocket watch(link->watch->socket());
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
    if (it != links_.end() && it->second->socket && it->second->watch) ServiceWatch(*it->second);
  }
  ServiceLinks(/*any_link_signalled=*/(fds[1].revents & POLLIN) != 0);
}

bool IoLoop::LinkHasWork(Link& link) {
  if (link.held) return true;
  if (link.outbox.empty()) return link.polled.MayHoldUnsignalledInput();
  try {
    const int events = link.socket->get(zmq::sockopt::events);
    return (events & ZMQ_POLLIN) || (events & ZMQ_POLLOUT);
  } catch (const zmq::error_t& e) {
    spdlog::error("procmod: events of {} unknown: {}", link.url, e.what());
    return false;
  }
}

void IoLoop::ServiceLinks(bool any_link_signalled) {
  std::vector<uint64_t>& ids = link_ids_;  // a member: no allocation per turn
  ids.clear();
  for (const auto& [id, link] : links_) ids.push_back(id);
  for (uint64_t id : ids) {
    auto it = links_.find(id);  // servicing one link may have dropped another
    if (it == links_.end() || !it->second->socket) continue;
    Link& link = *it->second;
    if (!link.outbox.empty()) FlushOutbox(link);  // sends what POLLOUT now takes
    // A drained link whose descriptor stayed quiet has nothing; any other costs one
    // receive, which finds what there is or leaves the link drained.
    if (link.polled.drained() && !link.held && !any_link_signalled) continue;
    ServiceLink(link);
  }
}

TimePoint IoLoop::NextDeadline() const {
  TimePoint next =
      std::min({tick_.next(), accept_deadline_, lifetime_.End().value_or(TimePoint::max())});
  next = std::min(next, requests_.NextDeadline());
  if (admission_waiter_) next = std::min(next, admission_waiter_->deadline);
  for (const auto& [id, link] : links_) {
    next = std::min({next, link->handshake_deadline, link->connect_deadline, link->retry_at});
  }
  return next;
}

// Everything time-driven happens here; each branch says what it guards against.
void IoLoop::OnTimer(TimePoint now) {
  // Requests nobody answered in time.
  requests_.Expire(now);

  // A caller waiting for peers that did not come.
  if (admission_waiter_ && admission_waiter_->deadline <= now) {
    AdmissionWaiter waiter = std::move(*admission_waiter_);
    admission_waiter_.reset();
    if (waiter.monitor) {
      gated_ = true;
      waiter.promise.set_value(waiter.admitted);
    } else {
      waiter.promise.set_value(DeadlineExceededError("no server connected to " + ListenEndpoint() +
                                                     " within timeouts.accept"));
    }
  }

  // Links: handshake and connect deadlines, retries.
  std::vector<uint64_t> ids;
  for (const auto& [id, link] : links_) ids.push_back(id);
  for (uint64_t id : ids) {
    auto it = links_.find(id);
    if (it == links_.end()) continue;
    Link& link = *it->second;
    if (link.state != Link::State::kAdmitted && link.connect_deadline <= now) {
      FailLink(link, UnreachableError(link));
      continue;
    }
    if (link.state == Link::State::kConnecting && link.handshake_deadline <= now && link.watch) {
      // The transport is up, but ZMTP (or CURVE) never completed: retrying the same
      // keys would fail the same way.
      FailLink(link, link.watch->TimedOut());
      continue;
    }
    if (link.state == Link::State::kHandshaking && link.handshake_deadline <= now) {
      spdlog::warn("procmod: no WELCOME from {} within timeouts.handshake; retrying", link.url);
      RetryLink(link, now);
    } else if (link.state == Link::State::kRetryWait && link.retry_at <= now) {
      link.retry_at = TimePoint::max();
      OpenLinkSocket(link);
    }
  }

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

  // Accepting side: every silent peer expires, not only the oldest; idle ones get
  // a PING.
  if (table_) {
    for (PeerRecord& gone : table_->Expire(now, heartbeat_)) {
      requests_.FailSession(gone.session, UnavailableError("peer " + gone.session + " expired"));
      Disconnected(gone, /*incoming=*/true, DisconnectReason::kExpired);
    }
    // Sending changes no table entry (a gone transport just fails), so PINGs go out
    // during the one pass: no list of ids, no second lookup per peer.
    table_->ForEach([&](PeerRecord& peer) {
      if (!heartbeat_.ShouldPing(peer.last_sent, now)) return;
      SendToRoutingId(peer.routing_id, pmp::Encode(HeartbeatPolicy::MakePing(peer.echo, now)),
                      &peer);
    });
  }
  // Connecting side: the same with each link's adopted heartbeat.
  for (uint64_t id : ids) {
    auto it = links_.find(id);
    if (it == links_.end() || it->second->state != Link::State::kAdmitted) continue;
    Link& link = *it->second;
    if (link.heartbeat.IsExpired(link.peer.last_seen, now)) {
      DropLink(id, DisconnectReason::kExpired);
    } else if (link.heartbeat.ShouldPing(link.peer.last_sent, now)) {
      SendOnLink(link, pmp::Encode(HeartbeatPolicy::MakePing(link.peer.echo, now)));
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
  if (table_) {
    std::vector<std::string> ids;
    table_->ForEach([&](PeerRecord& peer) { ids.push_back(peer.routing_id); });
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
    if (it->second->state == Link::State::kAdmitted) {
      SendOnLink(*it->second, pmp::Encode(pmp::Bye{"shutdown"}));
    }
    if (it->second->waiter) {
      it->second->waiter->set_value(AbortedError("process module finalized"));
      it->second->waiter.reset();
    }
    DropLink(id, DisconnectReason::kClosed);
  }
  if (admission_waiter_) {
    admission_waiter_->promise.set_value(AbortedError("process module finalized"));
    admission_waiter_.reset();
  }
  acceptor_polled_ = {};
  zap_polled_ = {};
  acceptor_.reset();
  admin_.reset();
  zap_.reset();                     // after the sockets it vets
  context_.close();                 // returns once every socket's linger (≤ 1 s) has run out
  RemoveIpcFile(ListenEndpoint());  // a clean exit leaves no socket file behind
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
        zmq::socket_t socket(context_, zmq::socket_type::router);
        ConfigureAcceptor(socket, options_);
        if (curve_.enabled) {
          if (Status s = EnableCurveServer(context_, curve_, zap_, socket); !s.ok()) return s;
        }
        Result<std::string> endpoint = BindSocket(socket, options_.listen, "bind");
        if (!endpoint.ok()) return endpoint.status();
        {
          std::lock_guard<std::mutex> lock(mu_);
          listen_endpoint_ = std::move(*endpoint);
        }
        acceptor_ = std::move(socket);
        multi_ = policy.multi;
        table_ = std::make_unique<IdentityTable>(std::move(policy));
        table_->SetAccepting(options_.accept_connections);
        gated_ = gated;
        if (Status s = BindAdmin(); !s.ok()) {
          acceptor_.reset();
          table_.reset();
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
  return listen_endpoint_;
}

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
        auto link = std::make_unique<Link>();
        link->id = next_link_id_++;
        link->url = url;
        link->expected_role = expected_role;
        link->server_key = std::move(key);
        Result<PeerUrl> parsed = ParsePeerUrl(url);
        if (!parsed.ok()) {
          promise->set_value(parsed.status());
          return;
        }
        link->endpoint = parsed->endpoint;
        link->service = parsed->service;
        // A server dialing a broker registers its service; a client just names it.
        link->registered = !link->service.empty() && options_.role != Role::kClient;
        link->dialing_since = clock_.Now();
        link->connect_deadline = DeadlineAfter(link->dialing_since, options_.timeouts.connect);
        link->heartbeat = heartbeat_;
        link->waiter.emplace(std::move(*promise));
        Link& ref = *link;
        links_.emplace(ref.id, std::move(link));
        OpenLinkSocket(ref);
      });
  if (!posted) return AbortedError("process module finalized");
  return future.get();
}

Status IoLoop::WaitForPeers(size_t count, milliseconds timeout) {
  if (OnIoThread()) return FailedPreconditionError("cannot wait on the I/O thread");
  auto promise = std::make_shared<std::promise<Result<int>>>();
  std::future<Result<int>> future = promise->get_future();
  const bool posted = Post([this, count, timeout, promise] {
    if (admission_waiter_) {
      promise->set_value(FailedPreconditionError("another wait is in progress"));
      return;
    }
    AdmissionWaiter waiter;
    waiter.target = count;
    waiter.deadline = DeadlineAfter(clock_.Now(), timeout);
    waiter.promise = std::move(*promise);
    admission_waiter_ = std::move(waiter);
    CheckAdmissionWaiter();
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
    if (!table_) {
      promise->set_value(
          FailedPreconditionError("MonitorConnections() needs a started reverse-mode client"));
      return;
    }
    if (admission_waiter_) {
      promise->set_value(FailedPreconditionError("another wait is in progress"));
      return;
    }
    AdmissionWaiter waiter;
    waiter.monitor = true;
    // A zero timeout still admits what already knocked, then returns at once.
    waiter.deadline = clock_.Now() + timeout;
    waiter.promise = std::move(*promise);
    admission_waiter_ = std::move(waiter);
    gated_ = false;
    // Servers that knocked while nobody was monitoring: admit the fresh ones.
    std::vector<HeldHello> held;
    held.swap(held_);
    const TimePoint now = clock_.Now();
    for (HeldHello& h : held) {
      if (now - h.received_at < options_.timeouts.handshake) {
        Admit(h.routing_id, h.hello, std::move(h.address), std::move(h.public_key));
      }
    }
    CheckAdmissionWaiter();
  });
  if (!posted) return AbortedError("process module finalized");
  return future.get();
}

void IoLoop::CheckAdmissionWaiter() {
  if (!admission_waiter_) return;
  AdmissionWaiter& waiter = *admission_waiter_;
  const bool done =
      waiter.monitor ? waiter.admitted > 0 : table_ && table_->size() >= waiter.target;
  if (!done) return;
  if (waiter.monitor) gated_ = true;
  waiter.promise.set_value(waiter.monitor ? waiter.admitted : static_cast<int>(table_->size()));
  admission_waiter_.reset();
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
  if (!table_) return;
  spdlog::info("procmod: telling {} client(s) the server ends in {} s", table_->size(),
               left.count() / 1000.0);
  const std::string text = "{\"expires_in_ms\": " + std::to_string(left.count()) + "}";
  std::vector<std::string> sessions;
  table_->ForEach([&](PeerRecord& peer) { sessions.push_back(peer.session); });
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
      if (link->waiter) waiting.push_back(id);
    }
    for (uint64_t id : waiting) FailLink(*links_.at(id), AbortedError("stopped"));
    if (admission_waiter_) {
      admission_waiter_->promise.set_value(AbortedError("stopped"));
      admission_waiter_.reset();
    }
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
// Accepting side
// ============================================================================

void IoLoop::ServiceAcceptor() {
  acceptor_polled_.SetDrained(false);  // until a receive finds nothing
  for (int i = 0; i < kMaxMessagesPerTurn && acceptor_; ++i) {
    rx_.clear();
    try {
      auto received =
          zmq::recv_multipart(*acceptor_, std::back_inserter(rx_), zmq::recv_flags::dontwait);
      if (!received) {
        acceptor_polled_.SetDrained(true);
        return;
      }
    } catch (const zmq::error_t& e) {
      spdlog::error("procmod: receive on {} failed: {}", ListenEndpoint(), e.what());
      return;
    }
    if (rx_.empty()) continue;
    rx_routing_id_.assign(rx_[0].data<char>(), rx_[0].size());
    OnAcceptorMessage(rx_routing_id_, rx_);
  }
}

void IoLoop::ServiceZap() {
  if (!zap_) return;
  zap_->Service();  // answers until a receive finds nothing
  zap_polled_.SetDrained(true);
}

void IoLoop::OnAcceptorMessage(const std::string& routing_id, Frames& frames) {
  const uint64_t bytes = FrameBytes(frames, 1);
  if (bytes > options_.limits.max_message_size) {
    // Dropped undecoded: not life, and it ends nobody's session (PROTOCOL §7).
    SendToRoutingId(routing_id, TooLargeFrames(bytes), table_->Find(routing_id));
    return;
  }
  pmp::Message& message = rx_message_;
  Status decoded = decoder_.DecodeInto(frames, 1, &message);
  PeerRecord* peer = table_->Find(routing_id);
  if (!decoded.ok()) {
    // Malformed: answered, dropped, not counted as life. Never ends a session.
    SendToRoutingId(routing_id, ErrorFrames(pmp::kCodeMalformed, std::string(decoded.message())),
                    peer);
    return;
  }
  if (message.command() == pmp::Command::kHello) {
    std::string address = frames.size() > 1 ? PeerAddressOf(frames[1]) : std::string();
    std::string key = curve_.enabled && frames.size() > 1 ? PeerKeyOf(frames[1]) : std::string();
    OnHello(routing_id, std::get<pmp::Hello>(message.header), std::move(address), std::move(key));
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
  OnPeerMessage(*peer, PeerKind::kAccepted, message);
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
  if (gated_ && table_->accepting() && !table_->Find(routing_id)) {
    // Reverse multi client outside MonitorConnections(): hold the knock (bounded).
    // (With accepting off, Admit() below answers DENY 409 at once instead.)
    if (held_.size() >= options_.limits.max_connections) {
      SendToRoutingId(routing_id, pmp::Encode(pmp::Deny{pmp::kCodeFull, "too many waiting"}));
      return;
    }
    held_.push_back(
        {routing_id, std::move(hello), std::move(address), std::move(public_key), clock_.Now()});
    return;
  }
  Admit(routing_id, hello, std::move(address), std::move(public_key));
}

void IoLoop::Admit(const std::string& routing_id, const pmp::Hello& hello, std::string address,
                   std::string public_key) {
  const TimePoint now = clock_.Now();
  const std::string from = address.empty() ? std::string("?") : address;
  Admission admission = table_->Admit(routing_id, hello, std::move(address), now);
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
  welcome.role = std::string(RoleName(options_.role));
  welcome.name = options_.name;
  welcome.version = std::string(pmp::kProtocolVersion);
  welcome.software = "procmod " PROCMOD_VERSION;
  welcome.heartbeat_ms = static_cast<uint64_t>(heartbeat_.settings().interval.count());
  welcome.liveness = heartbeat_.settings().liveness;
  welcome.multi = table_->policy().multi;
  if (std::optional<milliseconds> left = lifetime_.Left(now)) {
    welcome.expires_in_ms = static_cast<uint64_t>(left->count());
  }
  if (!SendToRoutingId(routing_id, pmp::Encode(welcome), &peer)) {
    table_->Remove(routing_id);  // it left before it could hear the answer
    return;
  }
  ever_admitted_ = true;
  spdlog::info("procmod: admitted {} {:?} from {} as session {}{}", peer.role, Clip(peer.name),
               from, peer.session, peer.public_key.empty() ? "" : ", key " + peer.public_key);
  if (admission_waiter_) admission_waiter_->admitted++;
  peer.handle = NewConnection(peer, /*incoming=*/true);
  Connection connection = peer.handle;  // the record may go in the callback
  Invoke("connected", on_connected_, connection);
  CheckAdmissionWaiter();
}

void IoLoop::OnPeerMessage(PeerRecord& peer, PeerKind kind, pmp::Message& message) {
  const bool incoming = kind != PeerKind::kLinked;
  switch (message.command()) {
    case pmp::Command::kPing:
      return OnPing(peer, std::get<pmp::Ping>(message.header));
    case pmp::Command::kBye: {
      // Its reason reaches OnDisconnected (Disconnect::message): an administrator's
      // kick and a shutdown are both BYE, and only the words tell them apart.
      std::string said = std::move(std::get<pmp::Bye>(message.header).reason);
      if (kind == PeerKind::kAccepted) {
        return RemovePeer(peer.routing_id, DisconnectReason::kBye, std::move(said));
      }
      if (kind == PeerKind::kLinked) {
        return DropLink(link_by_session_.at(peer.session), DisconnectReason::kBye, std::move(said));
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
        return DropLink(link_by_session_.at(peer.session), DisconnectReason::kForgotten);
      }
      return;
    }
    case pmp::Command::kHello:
    case pmp::Command::kWelcome:
    case pmp::Command::kDeny:
    case pmp::Command::kJoined:
    case pmp::Command::kLeft: {
      Frames error =
          ErrorFrames(pmp::kCodeMalformed, std::string(pmp::CommandName(message.command())) +
                                               " is not expected from this peer");
      if (kind == PeerKind::kAccepted) {
        SendToRoutingId(peer.routing_id, std::move(error), &peer);
      } else if (kind == PeerKind::kLinked) {
        SendOnLink(*links_.at(link_by_session_.at(peer.session)), std::move(error));
      }
      return;
    }
  }
}

void IoLoop::RemovePeer(const std::string& routing_id, DisconnectReason reason, std::string said) {
  PeerRecord* found = table_ ? table_->Find(routing_id) : nullptr;
  if (found == nullptr) return;
  PeerRecord peer = *found;
  table_->Remove(routing_id);
  requests_.FailSession(peer.session, UnavailableError("peer " + peer.session + " is gone"));
  Disconnected(peer, /*incoming=*/true, reason, std::move(said));
}

bool IoLoop::SendToRoutingId(const std::string& routing_id, Frames frames, PeerRecord* peer) {
  const uint64_t bytes = FrameBytes(frames);
  const SendOutcome outcome = SendFrames(*acceptor_, routing_id, frames);
  acceptor_polled_.SetDrained(false);  // the send may have run the socket's commands
  switch (outcome) {
    case SendOutcome::kSent:
      if (peer != nullptr) peer->CountSent(bytes, now_);
      return true;
    case SendOutcome::kQueueFull:
      if (peer != nullptr) peer->dropped++;
      return false;
    case SendOutcome::kPeerGone:
      // The transport is gone; expiry will end the session if it stays gone.
      return false;
    case SendOutcome::kFailed:
      return false;
  }
  return false;
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
      {"uptime_ms", uptime.count()},
      {"accepting", Accepting()},
      {"peers", SnapshotOnIoThread().size()},
      {"protocol", pmp::kProtocolVersion},
      {"software", "procmod " PROCMOD_VERSION},
      {"heartbeat_ms", heartbeat_.settings().interval.count()},
      {"liveness", heartbeat_.settings().liveness},
      {"expires_in_ms", left ? nlohmann::json(left->count()) : nlohmann::json(nullptr)},
  };
}

bool IoLoop::AdminCloseSession(const std::string& session) {
  if (FindPeer(session) == nullptr) return false;
  (void)Close(session, "closed by the administrator");
  return true;
}

bool IoLoop::Accepting() const {
  if (table_) return table_->accepting();
  for (const auto& [id, link] : links_) {
    if (link->registered && link->state == Link::State::kAdmitted) {
      return !(single_peer_ && ever_admitted_);  // the broker admits its one client once
    }
  }
  return false;  // behind a broker and not registered (now): nobody can reach us
}

void IoLoop::AdminSetAccepting(bool accepting) {
  if (!table_) return;
  table_->SetAccepting(accepting);
  spdlog::info("procmod: further connections {}", accepting ? "enabled" : "disabled");
}

void IoLoop::AdminSetConnectId(uint64_t connect_id) {
  if (!table_) return;
  table_->SetConnectId(connect_id);
  spdlog::info("procmod: connect-id changed");
}

// ============================================================================
// Connecting side
// ============================================================================

void IoLoop::OpenLinkSocket(Link& link) {
  try {
    zmq::socket_t socket(context_, zmq::socket_type::dealer);
    ConfigureConnector(socket, options_);
    if (curve_.enabled) ConfigureCurveClient(socket, curve_.own, link.server_key);
    // An explicit routing id survives libzmq's own TCP reconnects, so after a
    // network blip the acceptor (ROUTER_HANDOVER) still knows our session. Each
    // new socket (a retry) gets a new one.
    std::uniform_int_distribution<uint64_t> bits;
    std::array<uint64_t, 2> id{bits(jitter_) | 1, bits(jitter_)};  // never a 0 first byte
    socket.set(zmq::sockopt::routing_id, zmq::const_buffer(id.data(), sizeof id));
    // The watch says when the transport is up and how its handshake went, so the
    // deadlines count from then: a server that is not up yet is waited for
    // (timeouts.connect), one that refuses our keys is reported at once.
    Result<HandshakeWatch> watch =
        HandshakeWatch::Start(context_, socket, link.url, curve_.enabled, curve_.own.public_key);
    if (!watch.ok()) return FailLink(link, watch.status());
    socket.connect(link.endpoint);
    link.watch.emplace(std::move(*watch));
    link.socket = std::move(socket);
    link.in_poll_set = link_fds_.Add(link.socket->get(zmq::sockopt::fd));
    link.polled = PolledSocket(*link.socket);
    link.state = Link::State::kConnecting;
    // Queued now, delivered as soon as the transport is up.
    SendHello(link);
  } catch (const zmq::error_t& e) {
    CloseLinkSocket(link);
    FailLink(link, EndpointError("connect to", link.url, e));
  }
}

void IoLoop::CloseLinkSocket(Link& link) {
  link.in_poll_set = {};  // before the socket closes its ZMQ_FD
  link.polled = {};
  link.held.reset();   // that socket's session is over
  link.watch.reset();  // before its socket (handshake_watch.h)
  link.socket.reset();
}

void IoLoop::OnRefused(Link& link, int attempts) {
  link.handshake_deadline = TimePoint::max();  // nothing is up: timeouts.connect governs
  link.refused += attempts;
  if (!KeepsDialing(link)) return FailLink(link, RefusedError(link.endpoint));
  ReportRefusal(link, clock_.Now());
}

void IoLoop::ReportRefusal(Link& link, TimePoint now) {
  // At the first refusal, then each time the time spent dialing has doubled (2 s,
  // 4 s, 8 s, ...; at least every 5 minutes): a daemon waiting for its peer says so,
  // and a long wait does not fill the log.
  if (link.refused > 1 && now < link.next_refusal_report) return;
  const auto elapsed = std::chrono::duration_cast<std::chrono::seconds>(now - link.dialing_since);
  const auto limit = std::chrono::duration_cast<std::chrono::seconds>(options_.timeouts.connect);
  spdlog::warn("procmod: {}: connection refused; retrying (attempt {}, {}s{})", link.endpoint,
               link.refused, elapsed.count(),
               limit.count() > 0 ? " of " + std::to_string(limit.count()) + "s"
                                 : std::string(", no time limit"));
  const Duration gap = std::clamp<Duration>(2 * (now - link.dialing_since), std::chrono::seconds(2),
                                            std::chrono::minutes(5));
  link.next_refusal_report = link.dialing_since + gap;
  if (link.next_refusal_report <= now) link.next_refusal_report = now + gap;
}

Status IoLoop::UnreachableError(const Link& link) const {
  std::string message = "could not reach " + link.url + " within timeouts.connect";
  if (link.refused > 0) {
    message += ": connection refused " + std::to_string(link.refused) + " times (" +
               RefusalReason(link.endpoint) + ")";
  }
  return DeadlineExceededError(message);
}

void IoLoop::ServiceWatch(Link& link) {
  HandshakeWatch::Progress progress = link.watch->Drain();
  if (progress.failed) return FailLink(link, *progress.failed);
  if (link.state != Link::State::kConnecting) return;
  if (!progress.succeeded && progress.refused > 0) return OnRefused(link, progress.refused);
  if (progress.succeeded) {
    link.state = Link::State::kHandshaking;  // now HELLO must get its answer
    link.handshake_deadline = clock_.Now() + options_.timeouts.handshake;
  } else if (progress.transport_up && !progress.transport_lost) {
    // ZMTP (and CURVE) must complete within timeouts.handshake as well.
    link.handshake_deadline = clock_.Now() + options_.timeouts.handshake;
  } else if (progress.transport_lost) {
    link.handshake_deadline = TimePoint::max();  // redialing: timeouts.connect governs
  }
}

template <typename Range>
SendOutcome IoLoop::SendOnLinkSocket(Link& link, Range& frames) {
  const SendOutcome outcome = SendFrames(*link.socket, {}, frames);
  link.polled.SetDrained(false);  // the send may have run the socket's commands
  return outcome;
}

void IoLoop::SendHello(Link& link) {
  pmp::Hello hello;
  hello.connect_id = options_.connect_id;
  hello.role = std::string(RoleName(options_.role));
  hello.name = options_.name;
  hello.version = std::string(pmp::kProtocolVersion);
  hello.software = "procmod " PROCMOD_VERSION;
  hello.heartbeat_ms = static_cast<uint64_t>(options_.heartbeat.interval.count());
  hello.service = link.service;
  hello.multi = link.registered && multi_;
  Frames frames = pmp::Encode(hello);
  (void)SendOnLinkSocket(link, frames);  // a fresh socket's queue is empty
}

void IoLoop::ServiceLink(Link& link) {
  const uint64_t id = link.id;
  for (int i = 0; i < kMaxMessagesPerTurn; ++i) {
    auto it = links_.find(id);  // a message may have dropped the link
    if (it == links_.end() || !it->second->socket) return;
    Link& current = *it->second;
    const Receive received = ReceiveFromLink(current);
    if (received == Receive::kNothing) return;
    if (received == Receive::kMessage) OnLinkMessage(current, rx_message_);
  }
}

IoLoop::Receive IoLoop::ReceiveFromLink(Link& link) {
  if (link.held) {
    rx_message_ = std::move(*link.held);
    link.held.reset();
    return Receive::kMessage;
  }
  rx_.clear();
  try {
    auto received =
        zmq::recv_multipart(*link.socket, std::back_inserter(rx_), zmq::recv_flags::dontwait);
    link.polled.SetDrained(!received);
    if (!received) return Receive::kNothing;
  } catch (const zmq::error_t& e) {
    spdlog::error("procmod: receive from {} failed: {}", link.url, e.what());
    return Receive::kNothing;
  }
  const uint64_t bytes = FrameBytes(rx_);
  if (bytes > options_.limits.max_message_size) {
    SendOnLink(link, TooLargeFrames(bytes));  // dropped undecoded, as above
    return Receive::kSkipped;
  }
  Status decoded = decoder_.DecodeInto(rx_, 0, &rx_message_);
  if (!decoded.ok()) {
    SendOnLink(link, ErrorFrames(pmp::kCodeMalformed, std::string(decoded.message())));
    return Receive::kSkipped;
  }
  if (link.state == Link::State::kAdmitted) {
    link.peer.last_seen = now_;
    link.peer.msgs_in++;
    link.peer.bytes_in += bytes;
  }
  return Receive::kMessage;
}

void IoLoop::OnLinkMessage(Link& link, pmp::Message& message) {
  if (link.state == Link::State::kAdmitted) {
    if (link.registered && OnRelayedMessage(link, message)) return;
    return OnPeerMessage(link.peer, PeerKind::kLinked, message);
  }
  switch (message.command()) {
    case pmp::Command::kWelcome:
      return OnWelcome(link, std::get<pmp::Welcome>(message.header));
    case pmp::Command::kDeny: {
      const auto& deny = std::get<pmp::Deny>(message.header);
      Status why =
          StatusFromPmpCode(deny.code, link.url + " refused the connection: " + deny.reason);
      if (!RetriesDeny(link, deny.code)) return FailLink(link, std::move(why));
      spdlog::warn("procmod: {} ({}); retrying", why.message(), deny.code);
      return RetryLink(link, clock_.Now());
    }
    default:
      // Stale traffic from before a retry; the handshake decides.
      return;
  }
}

void IoLoop::OnWelcome(Link& link, const pmp::Welcome& welcome) {
  if (!link.expected_role.empty() && welcome.role != link.expected_role) {
    Frames bye = pmp::Encode(pmp::Bye{"wrong role"});
    SendOnLinkSocket(link, bye);
    return FailLink(
        link, InvalidArgumentError("expected a " + link.expected_role + " at " + link.url +
                                   ", but '" + welcome.name + "' is a " +
                                   (welcome.role.empty() ? "peer of no role" : welcome.role)));
  }
  const TimePoint now = clock_.Now();
  if (link.reconnecting && link.registered) {
    spdlog::info("procmod: registered again as {:?} with {}", link.service, link.endpoint);
  } else if (link.reconnecting) {
    spdlog::info("procmod: connected to {} again", link.url);
  }
  link.state = Link::State::kAdmitted;
  link.reconnecting = false;
  link.refused = 0;
  // The handshake is over: stop the watch so the loop polls one socket per link,
  // not two, on every turn.
  link.watch.reset();
  link.handshake_deadline = link.connect_deadline = link.retry_at = TimePoint::max();
  link.backoff = std::chrono::seconds(1);
  // The acceptor's heartbeat is the one both sides use.
  const auto interval = milliseconds(std::max<uint64_t>(welcome.heartbeat_ms, 1));
  link.heartbeat = HeartbeatPolicy(
      HeartbeatSettings{interval, static_cast<uint32_t>(std::max<uint64_t>(welcome.liveness, 1))});
  tick_.AtMost(TickFor(link.heartbeat), now);
  link.peer.session = welcome.session;
  link.peer.name = welcome.name;
  link.peer.role = welcome.role;
  link.peer.address = link.url;
  link.peer.version = welcome.version;
  link.peer.payload_form = pmp::PayloadFormFor(welcome.version);
  link.peer.software = welcome.software;
  link.peer.public_key = link.server_key;
  link.peer.connected_at = link.peer.last_seen = link.peer.last_sent = now;
  link_by_session_[welcome.session] = link.id;
  // A broker's WELCOME is not a client yet: that is its first JOINED.
  if (!link.registered) ever_admitted_ = true;
  link.window = std::make_shared<SendWindow>(
      welcome.session, std::max<int64_t>(options_.limits.send_queue, 1), kSendWindowBytes);
  link.peer.handle = NewConnection(link.peer, /*incoming=*/false, link.window, link.id);
  Connection connection = link.peer.handle;
  if (link.waiter) {
    link.waiter->set_value(connection);
    link.waiter.reset();
  }
  Invoke("connected", on_connected_, connection);
}

void IoLoop::FailLink(Link& link, Status why) {
  const bool was_reconnecting = link.reconnecting;
  const bool registration = link.registered;
  if (was_reconnecting && registration) {
    // Nobody waits on this one: the daemon learns it from Run(), the operator here.
    spdlog::error("procmod: could not register {:?} with {} again: {}", link.service, link.endpoint,
                  why.ToString());
  } else {
    spdlog::info("procmod: connection to {} failed: {}", link.url, why.ToString());
  }
  const bool unreachable = why.IsDeadlineExceeded();
  if (link.waiter) {
    link.waiter->set_value(std::move(why));
    link.waiter.reset();
  }
  DropLink(link.id, DisconnectReason::kClosed);
  if (!was_reconnecting) return;
  // A server that lost its broker for good ends, rather than stay up unreachable.
  if (registration) return EndRun(unreachable ? RunEnd::kUnreachable : RunEnd::kDenied);
  // A reconnect that ends in DENY: the session that was lost is now lost for good.
  if (single_peer_) EndRun(RunEnd::kPeerLost);
}

void IoLoop::DropLink(uint64_t id, DisconnectReason reason, std::string said) {
  auto it = links_.find(id);
  if (it == links_.end()) return;
  if (ShouldReconnect(*it->second, reason)) return Reconnect(*it->second, reason, said);
  std::unique_ptr<Link> link = std::move(it->second);
  links_.erase(it);
  if (link->waiter) link->waiter->set_value(AbortedError("connection closed"));
  if (link->state != Link::State::kAdmitted) return;  // never had a session
  link_by_session_.erase(link->peer.session);
  ClearOutbox(*link, /*close_window=*/true);
  CloseLinkSocket(*link);
  DropRelayOf(*link, reason, said);
  requests_.FailSession(link->peer.session,
                        UnavailableError("server " + link->peer.session + " is gone"));
  Disconnected(link->peer, /*incoming=*/false, reason, std::move(said));
}

// The one place that decides whether a dial fails fast or keeps trying.
bool IoLoop::KeepsDialing(const Link& link) const {
  // A client's first dial fails at the first refusal: someone waits on Start() or
  // ConnectToRemote(), and nothing listens there. A server dials because it must (its
  // client, R2; its broker) and may well start first; and a link bringing a lost
  // session back waits for its peer to return. Those try until timeouts.connect.
  return options_.role != Role::kClient || link.reconnecting;
}

bool IoLoop::RetriesDeny(const Link& link, uint32_t code) const {
  if (!link.reconnecting) return false;  // a first dial reports every DENY
  // 404: a restarted broker whose server has not registered yet; 503: full for now
  // (PROTOCOL §10.1: MAY retry). 409 to a server registering again: the broker has
  // not expired our old registration yet. 403 and 426 would be the same next time.
  return code == pmp::kCodeUnknownSession || code == pmp::kCodeFull ||
         (code == pmp::kCodeBusy && link.registered);
}

bool IoLoop::ShouldReconnect(const Link& link, DisconnectReason reason) const {
  if (stopping_ || link.state != Link::State::kAdmitted) return false;
  // A broker's session is not a peer's: whatever ended it (the broker's BYE when it
  // shuts down, its silence, ERROR 404 after a restart), the server registers again.
  if (link.registered) return KeepsRegistration();
  // Only a lost session comes back: not one the peer ended (BYE) or we closed.
  return options_.reconnect &&
         (reason == DisconnectReason::kExpired || reason == DisconnectReason::kForgotten);
}

bool IoLoop::KeepsRegistration() const { return !RunEnded() && !(single_peer_ && ever_admitted_); }

void IoLoop::Reconnect(Link& link, DisconnectReason reason, const std::string& said) {
  const PeerRecord lost = link.peer;
  link_by_session_.erase(lost.session);
  ClearOutbox(link, /*close_window=*/true);
  requests_.FailSession(lost.session, UnavailableError("server " + lost.session + " is gone"));
  DropRelayOf(link, reason, said);
  const TimePoint now = clock_.Now();
  link.reconnecting = true;
  link.peer = PeerRecord{};
  link.dialing_since = now;
  link.refused = 0;
  if (link.registered) {
    // A server behind a broker must be reachable, or end (PROCESS_MODULE.md).
    link.connect_deadline = DeadlineAfter(now, options_.timeouts.connect);
    spdlog::warn("procmod: lost the broker at {} ({}); registering {:?} again", link.endpoint,
                 DisconnectReasonName(reason), link.service);
  } else {
    link.connect_deadline = TimePoint::max();  // the policy retries until admitted
    spdlog::info("procmod: lost {} ({}); reconnecting", link.url, DisconnectReasonName(reason));
  }
  RetryLink(link, now);
  // The application hears of the loss; Run() goes on, since the peer may come back.
  Invoke("disconnected", on_disconnected_, MakeConnection(lost, /*incoming=*/false),
         Disconnect{.reason = reason, .message = said});
}

void IoLoop::RetryLink(Link& link, TimePoint now) {
  ClearOutbox(link, /*close_window=*/false);  // nothing of a new socket's session yet
  CloseLinkSocket(link);                      // a new socket (and routing id) for the next attempt
  link.state = Link::State::kRetryWait;
  link.handshake_deadline = TimePoint::max();
  // 1 s doubling to 32 s, with ±25% jitter so a crowd of clients spreads out.
  std::uniform_real_distribution<double> jitter(0.75, 1.25);
  const auto wait = std::chrono::duration_cast<Duration>(link.backoff * jitter(jitter_));
  link.retry_at = now + wait;
  link.backoff = std::min<Duration>(link.backoff * 2, kMaxBackoff);
}

template <typename Range, typename Gather>
bool IoLoop::SendOrQueue(Link& link, Range& message, Gather gather, int64_t window_bytes) {
  if (!link.socket) {
    ReleaseWindow(link, window_bytes);
    return false;
  }
  if (link.outbox.empty()) {
    const uint64_t bytes = FrameBytes(message);
    const SendOutcome outcome = SendOnLinkSocket(link, message);
    if (outcome != SendOutcome::kQueueFull) return Settle(link, outcome, bytes, window_bytes);
  }
  // A windowed message already holds a slot, so the window bounds those; the rest
  // (PINGs, REPLYs, Sends from callbacks) must not grow the outbox without end.
  if (window_bytes < 0 && link.outbox.size() >= static_cast<size_t>(options_.limits.send_queue)) {
    link.peer.dropped++;
    return false;
  }
  link.outbox.push_back(Outgoing{gather(), window_bytes});
  return true;
}

bool IoLoop::Settle(Link& link, SendOutcome outcome, uint64_t bytes, int64_t window_bytes) {
  if (outcome == SendOutcome::kSent) {
    link.peer.CountSent(bytes, now_);
  } else {
    link.peer.dropped++;
  }
  ReleaseWindow(link, window_bytes);
  return outcome == SendOutcome::kSent;
}

void IoLoop::ReleaseWindow(Link& link, int64_t window_bytes) {
  if (window_bytes >= 0 && link.window) link.window->Release(window_bytes);
}

bool IoLoop::SendOnLink(Link& link, Frames frames, int64_t window_bytes) {
  return SendOrQueue(
      link, frames, [&] { return std::move(frames); }, window_bytes);
}

bool IoLoop::SendOnLink(Link& link, zmq::message_t envelope, Frames payload, int64_t window_bytes) {
  EnvelopeAndPayload message{envelope, payload};
  return SendOrQueue(
      link, message,
      [&] {  // only when it must wait: the outbox keeps whole messages
        payload.insert(payload.begin(), std::move(envelope));
        return std::move(payload);
      },
      window_bytes);
}

void IoLoop::FlushOutbox(Link& link) {
  while (!link.outbox.empty() && link.socket) {
    Outgoing& next = link.outbox.front();
    const uint64_t bytes = FrameBytes(next.frames);
    const SendOutcome outcome = SendOnLinkSocket(link, next.frames);
    if (outcome == SendOutcome::kQueueFull) return;  // still full: wait for POLLOUT
    Settle(link, outcome, bytes, next.window_bytes);
    link.outbox.pop_front();
  }
}

void IoLoop::ClearOutbox(Link& link, bool close_window) {
  link.peer.dropped += link.outbox.size();
  link.outbox.clear();  // no slot to give back: the window closes with the session
  if (close_window && link.window) {
    link.window->Close();
    link.window.reset();
  }
}

// ============================================================================
// Broker mode, server side: the broker relays our clients over one DEALER
// ============================================================================

bool IoLoop::OnRelayedMessage(Link& broker, pmp::Message& message) {
  std::string* peer = nullptr;
  switch (message.command()) {
    case pmp::Command::kJoined:
      OnJoined(broker, std::get<pmp::Joined>(message.header));
      return true;
    case pmp::Command::kLeft:
      OnLeft(std::get<pmp::Left>(message.header));
      return true;
    case pmp::Command::kData:
      peer = &std::get<pmp::Data>(message.header).peer;
      break;
    case pmp::Command::kRequest:
      peer = &std::get<pmp::Request>(message.header).peer;
      break;
    case pmp::Command::kReply:
      peer = &std::get<pmp::Reply>(message.header).peer;
      break;
    default:
      return false;  // PING, BYE, ERROR: the broker's own
  }
  if (peer->empty()) return false;
  auto it = relayed_.find(*peer);
  if (it == relayed_.end()) {
    spdlog::warn("procmod: broker relayed a message from unknown session {}", *peer);
    return true;
  }
  PeerRecord& client = it->second.record;
  client.last_seen = now_;
  client.msgs_in++;
  client.bytes_in += FrameBytes(message.payload);
  OnPeerMessage(client, PeerKind::kRelayed, message);
  return true;
}

void IoLoop::OnJoined(Link& broker, const pmp::Joined& joined) {
  const TimePoint now = clock_.Now();
  RelayedPeer& relayed = relayed_[joined.session];
  relayed.link_id = broker.id;
  PeerRecord& client = relayed.record;
  client.session = joined.session;
  client.name = joined.name;
  client.role = joined.role.empty() ? "client" : joined.role;
  client.address = "via " + broker.url;
  client.version = std::string(pmp::kProtocolVersion);
  client.admitted_seq = next_relayed_seq_++;
  client.connected_at = client.last_seen = client.last_sent = now;
  ever_admitted_ = true;
  spdlog::info("procmod: admitted client {:?} via broker as session {}", Clip(client.name),
               client.session);
  client.handle = NewConnection(client, /*incoming=*/true);
  Connection connection = client.handle;
  Invoke("connected", on_connected_, connection);
}

void IoLoop::OnLeft(const pmp::Left& left) {
  auto it = relayed_.find(left.session);
  if (it == relayed_.end()) return;
  const PeerRecord client = it->second.record;
  relayed_.erase(it);
  requests_.FailSession(client.session, UnavailableError("peer " + client.session + " is gone"));
  Disconnected(client, /*incoming=*/true,
               left.reason == "expired" ? DisconnectReason::kExpired : DisconnectReason::kBye,
               left.reason);
}

bool IoLoop::SendRelayed(PeerRecord& client, Link& broker, pmp::Header header, Frames payload) {
  // Only DATA, REQUEST and REPLY name the client they are for.
  if (auto* data = std::get_if<pmp::Data>(&header)) {
    data->peer = client.session;
  } else if (auto* request = std::get_if<pmp::Request>(&header)) {
    request->peer = client.session;
  } else if (auto* reply = std::get_if<pmp::Reply>(&header)) {
    reply->peer = client.session;
  } else {
    return false;
  }
  const uint64_t bytes = FrameBytes(payload);
  if (!SendOnLink(broker, pmp::Encode(header, std::move(payload), broker.peer.payload_form))) {
    client.dropped++;
    return false;
  }
  client.CountSent(bytes, now_);
  return true;
}

// The relay went with the broker's session: its clients' sessions are lost (they did
// not leave), in the broker's words when it said BYE. Nothing for other links.
void IoLoop::DropRelayOf(const Link& link, DisconnectReason reason, const std::string& said) {
  if (!link.registered) return;
  DropRelayedPeersOf(link.id, RelayedLoss(reason),
                     reason == DisconnectReason::kBye ? said : std::string());
}

void IoLoop::DropRelayedPeersOf(uint64_t link_id, DisconnectReason reason,
                                const std::string& said) {
  std::vector<PeerRecord> gone;
  for (auto it = relayed_.begin(); it != relayed_.end();) {
    if (it->second.link_id == link_id) {
      gone.push_back(std::move(it->second.record));
      it = relayed_.erase(it);
    } else {
      ++it;
    }
  }
  for (const PeerRecord& client : gone) {
    requests_.FailSession(client.session, UnavailableError("broker connection lost"));
    Disconnected(client, /*incoming=*/true, reason, said);
  }
}

// ============================================================================
// Both sides
// ============================================================================

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
                                     std::move(request.args), std::move(payload)};
    try {
      reply = handler->second(incoming_request);
    } catch (const std::exception& e) {
      reply = Reply{500, "handler for '" + request.method + "' failed: " + e.what(), {}, {}};
    } catch (...) {
      reply = Reply{500, "handler for '" + request.method + "' failed", {}, {}};
    }
  }
  pmp::Reply header{request.id, reply.code, std::move(reply.error), std::move(reply.result), {}};
  SendToPeer(peer.session, std::move(header), std::move(reply.payload));
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
  if (table_) {
    if (PeerRecord* peer = table_->FindSession(session)) {
      return PeerRef{peer, PeerKind::kAccepted, 0};
    }
  }
  if (auto it = link_by_session_.find(session); it != link_by_session_.end()) {
    return PeerRef{&links_.at(it->second)->peer, PeerKind::kLinked, it->second};
  }
  if (auto it = relayed_.find(session); it != relayed_.end()) {
    return PeerRef{&it->second.record, PeerKind::kRelayed, it->second.link_id};
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
  switch (ref->kind) {
    case PeerKind::kAccepted:
      return SendToRoutingId(ref->record->routing_id,
                             pmp::Encode(header, std::move(payload), ref->record->payload_form),
                             ref->record);
    case PeerKind::kLinked: {
      Link& link = *links_.at(ref->link_id);
      return SendOnLink(link, pmp::Encode(header, std::move(payload), link.peer.payload_form));
    }
    case PeerKind::kRelayed:
      return SendRelayed(*ref->record, *links_.at(ref->link_id), std::move(header),
                         std::move(payload));
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

// ============================================================================
// Thread-safe peer operations
// ============================================================================

std::vector<PeerInfo> IoLoop::SnapshotOnIoThread() {
  const TimePoint now = clock_.Now();
  std::vector<PeerInfo> peers = table_ ? table_->Snapshot(now) : std::vector<PeerInfo>{};
  for (const auto& [id, link] : links_) {
    if (link->state != Link::State::kAdmitted) continue;
    PeerInfo info = link->peer.Snapshot(now);
    info.incoming = false;
    peers.push_back(std::move(info));
  }
  // Relayed clients, oldest first; the oldest is the master, as on our own ROUTER.
  std::vector<const PeerRecord*> relayed;
  for (const auto& [session, r] : relayed_) relayed.push_back(&r.record);
  std::sort(relayed.begin(), relayed.end(), [](const PeerRecord* a, const PeerRecord* b) {
    return a->admitted_seq < b->admitted_seq;
  });
  for (const PeerRecord* r : relayed) {
    PeerInfo info = r->Snapshot(now);
    info.master = !table_ && r == relayed.front();
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

Status IoLoop::Send(const std::shared_ptr<const Connection::State>& to, std::string_view channel,
                    Frames payload) {
  Command data;
  data.to = to;
  data.channel = std::string(channel);
  data.payload = std::move(payload);
  if (OnIoThread()) {  // from a callback: now, in order, and never waiting
    SendData(data);
    return Status();
  }
  if (to->window) {
    const auto bytes = static_cast<int64_t>(FrameBytes(data.payload));
    if (Status s = to->window->Acquire(bytes, options_.timeouts.send); !s.ok()) return s;
    data.window_bytes = bytes;
  }
  if (!Enqueue(std::move(data))) {
    if (to->window) to->window->Release(data.window_bytes);
    return AbortedError("process module finalized");
  }
  return Status();
}

void IoLoop::SendData(Command& data) {
  const Connection::State& to = *data.to;
  if (to.link_id != 0) {
    auto it = links_.find(to.link_id);
    if (it != links_.end() && it->second->state == Link::State::kAdmitted &&
        it->second->peer.session == to.session) {
      Link& link = *it->second;
      // The same session, so the same window: OnWelcome makes one per session.
      zmq::message_t envelope = pmp::EncodeEnvelope(pmp::Data{std::move(data.channel), {}},
                                                    data.payload, link.peer.payload_form);
      SendOnLink(link, std::move(envelope), std::move(data.payload), data.window_bytes);
      return;
    }
  }
  // The session is gone: nothing to wait for.
  if (data.window_bytes >= 0) to.window->Release(data.window_bytes);
  SendToPeer(to.session, pmp::Data{std::move(data.channel), {}}, std::move(data.payload));
}

ReplyFuture IoLoop::Request(const std::string& session, std::string method, std::string args,
                            Frames payload, milliseconds timeout) {
  const uint64_t id = next_request_id_.fetch_add(1, std::memory_order_relaxed);
  auto reply = std::make_shared<ReplySlot>();
  ReplyFuture future(reply, weak_from_this(), id);
  if (!OnIoThread()) {
    // The I/O thread asleep: send it ourselves rather than wake it to send it.
    std::unique_lock<std::mutex> loop(loop_mu_, std::try_to_lock);
    Link* link = loop.owns_lock() && !stopping_ ? LeadableLink(session) : nullptr;
    if (link != nullptr) {
      bool queued = false;
      {
        std::lock_guard<std::mutex> lock(mu_);
        queued = !commands_.empty();  // posted before us: must go first
      }
      if (!queued) {
        StartRequest(session, id, std::move(method), std::move(args), std::move(payload), timeout,
                     std::move(reply));
        // The send may have run the socket's commands, and so taken the announcement
        // of input the sleeping I/O thread waits for; a REQUEST the socket refused
        // waits in the outbox, which only the I/O thread flushes. Asked now, not in
        // get(): a future nobody waits on must not leave a message unseen until the
        // next tick (and get() then waits on the drained socket at once).
        if (LinkHasWork(*link)) Wake();
        return future;
      }
    }
  }
  auto frames = std::make_shared<Frames>(std::move(payload));
  const bool posted = Dispatch([this, session, id, method = std::move(method),
                                args = std::move(args), frames, timeout, reply]() mutable {
    StartRequest(session, id, std::move(method), std::move(args), std::move(*frames), timeout,
                 std::move(reply));
  });
  if (!posted) reply->Set(AbortedError("process module finalized"));
  return future;
}

void IoLoop::StartRequest(const std::string& session, uint64_t id, std::string method,
                          std::string args, Frames payload, milliseconds timeout,
                          std::shared_ptr<ReplySlot> reply) {
  if (FindPeer(session) == nullptr) {
    reply->Set(UnavailableError("session " + session + " is gone"));
    return;
  }
  pmp::Request header{id, std::move(method), std::move(args), {}};
  if (!SendToPeer(session, std::move(header), std::move(payload))) {
    reply->Set(ResourceExhaustedError("send queue to " + session + " is full"));
    return;
  }
  const TimePoint deadline = clock_.Now() + timeout;
  requests_.Add(id, session, deadline, std::move(reply));
  // Sent by another thread while the I/O thread sleeps: it must wake for the deadline.
  if (deadline < wakes_at_) Wake();
}

IoLoop::Link* IoLoop::LeadableLink(const std::string& session) {
  auto by_session = link_by_session_.find(session);
  if (by_session == link_by_session_.end()) return nullptr;
  auto it = links_.find(by_session->second);
  if (it == links_.end()) return nullptr;
  Link& link = *it->second;
  const bool leadable = link.state == Link::State::kAdmitted && link.socket && !link.registered &&
                        link.outbox.empty() && !link.held;
  return leadable ? &link : nullptr;
}

bool IoLoop::LeadForReply(uint64_t request_id, TimePoint until) {
  if (OnIoThread()) return false;  // it holds the loop already, and must not wait here
  std::unique_lock<std::mutex> loop(loop_mu_, std::try_to_lock);
  if (!loop.owns_lock() || stopping_ || lead_abort_.load()) return true;
  const PendingRequests::Request* request = requests_.Find(request_id);
  if (request == nullptr) return true;  // answered, failed, or not sent yet
  Link* link = LeadableLink(request->session);
  if (link == nullptr) return true;
  // Past the request's deadline the I/O thread answers it (kDeadlineExceeded).
  until = std::min(until, request->deadline);
  link->in_poll_set.Suspend();
  AwaitReplyOnLink(*link, request_id, until);
  link->in_poll_set.Resume();  // level-triggered: a readable fd wakes the I/O thread
  // Its ZMQ_FD does not signal again for what is already queued.
  if (LinkHasWork(*link)) Wake();
  return true;
}

void IoLoop::AwaitReplyOnLink(Link& link, uint64_t request_id, TimePoint until) {
  const int socket_fd = link.polled.fd();
  // A drained socket's descriptor announces what comes (polled_socket.h): wait first.
  bool receive = !link.polled.drained() || link.held.has_value();
  for (;;) {
    now_ = clock_.Now();
    const Receive received = receive ? ReceiveFromLink(link) : Receive::kNothing;
    receive = true;
    if (received == Receive::kSkipped) continue;
    if (received == Receive::kMessage) {
      // REPLYs (another thread's too) and PINGs run no callback: settled here.
      // Anything else goes to the I/O thread, and so does all that follows it.
      switch (rx_message_.command()) {
        case pmp::Command::kReply: {
          pmp::Reply& reply = std::get<pmp::Reply>(rx_message_.header);
          const bool ours = reply.id == request_id;
          OnReply(reply, std::move(rx_message_.payload));
          if (ours) return;
          continue;
        }
        case pmp::Command::kPing:
          OnPing(link.peer, std::get<pmp::Ping>(rx_message_.header));
          continue;
        default:
          link.held = std::move(rx_message_);
          return;
      }
    }
    if (now_ >= until || lead_abort_.load()) return;
    std::array<pollfd, 2> fds{{{socket_fd, POLLIN, 0}, {lead_abort_fd_.fd(), POLLIN, 0}}};
    const milliseconds wait = PollTimeout(now_, until);
    const int ready = poll(fds.data(), fds.size(), static_cast<int>(wait.count()));
    if (ready > 0 && (fds[1].revents & POLLIN)) return;  // the I/O thread wants it
  }
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
          case PeerKind::kRelayed:
            // PMP/1 has no way to end one relayed session from the server side.
            return FailedPreconditionError("session " + session +
                                           " is relayed by a broker; it ends when the "
                                           "client leaves");
        }
        return Status();
      },
      Status());
}

void IoLoop::SetHandler(std::string method, RequestHandler handler) {
  // Posted even from the I/O thread: a handler may replace itself while it runs.
  Post([this, method = std::move(method), handler = std::move(handler)]() mutable {
    handlers_[method] = std::move(handler);
  });
}

void IoLoop::SetOnConnected(ConnectedCallback callback) {
  Post([this, callback = std::move(callback)]() mutable { on_connected_ = std::move(callback); });
}

void IoLoop::SetOnDisconnected(DisconnectCallback callback) {
  Post(
      [this, callback = std::move(callback)]() mutable { on_disconnected_ = std::move(callback); });
}

void IoLoop::SetOnData(DataCallback callback) {
  Post([this, callback = std::move(callback)]() mutable { on_data_ = std::move(callback); });
}

}  // namespace procmod
