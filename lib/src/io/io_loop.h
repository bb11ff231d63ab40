// io_loop.h: the one I/O thread of a process module.
//
// IoLoop owns every ZeroMQ socket of the process: the accepting ROUTER (forward
// server, reverse client), one DEALER "link" per remote it dials (forward client,
// reverse server), and the context. Its thread runs a poll(2) loop over the
// sockets' ZMQ_FDs (polled_socket.h says when those can be trusted) that
// dispatches: the codec decodes, the identity table decides admission, the
// heartbeat policy decides PINGs and expiry, and this class only wires them to
// sockets and to the application.
//
// Threads. The public methods are thread-safe: they post a closure to the I/O
// thread (a mutex-guarded queue plus an eventfd that wakes the poll) and, when
// they need an answer, wait on a future the I/O thread fulfils. Callbacks and
// handlers run on the I/O thread. Blocking methods called from a callback (on the
// I/O thread itself) return kFailedPrecondition instead of deadlocking.
//
// The loop lock. Everything under "I/O thread only" below is guarded by loop_mu_,
// which the I/O thread holds except while it sleeps in poll. One path borrows it:
// a request to a peer we dialed (a Link), the round trip applications time. An
// application thread that finds the lock free (the I/O thread asleep) sends the
// REQUEST on the link's DEALER itself (Request), and when it then waits for the
// reply (ReplyFuture::get) it takes the DEALER out of the I/O thread's poll set and
// polls it itself (LeadForReply): a raw ZeroMQ round trip, with no thread hand-over.
// On the way it settles PINGs and other threads' REPLYs, which run no callback. It
// hands the DEALER back at its own REPLY, at anything else (kept in Link::held for
// the I/O thread, which runs the callbacks, before anything that came later), or as
// soon as the I/O thread wakes for anything (lead_abort_), so the I/O thread never
// waits on it for long. Only the I/O thread ever blocks on loop_mu_; other threads
// only try_lock it.
//
// Life. The constructor starts the thread; Shutdown() sends BYE to every peer,
// fails every pending future with kAborted, closes the sockets with the bounded
// linger of Options and joins. Nothing is posted after that.
#ifndef PROCMOD_SRC_IO_IO_LOOP_H_
#define PROCMOD_SRC_IO_IO_LOOP_H_

#include <poll.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <zmq.hpp>

#include "admin/admin.h"
#include "admin/admin_endpoint.h"
#include "base/clock.h"
#include "base/log_text.h"
#include "io/acceptor.h"
#include "io/epoll_set.h"
#include "io/event_fd.h"
#include "io/handshake_watch.h"
#include "io/link.h"
#include "io/polled_socket.h"
#include "io/sockets.h"
#include "procmod/connection.h"
#include "procmod/connection_file.h"
#include "procmod/options.h"
#include "procmod/process_module.h"
#include "protocol/codec.h"
#include "security/curve_keys.h"
#include "security/zap_handler.h"
#include "session/heartbeat.h"
#include "session/identity_table.h"
#include "session/lifetime.h"
#include "session/peer_record.h"
#include "session/pending_requests.h"
#include "session/relayed_peers.h"
#include "session/reply_slot.h"
#include "session/send_window.h"

namespace procmod {

class IoLoop : public std::enable_shared_from_this<IoLoop>, private AdminTarget {
 public:
  // Starts the I/O thread. Use Create(): the loop must live in a shared_ptr.
  // `curve`: the keys options.security.curve names, already read (curve_keys.h).
  // `clock`: what deadlines, heartbeats and expiry read (tests pass a fake one and
  // make the loop run a turn after advancing it, e.g. with Snapshot()).
  static Result<std::shared_ptr<IoLoop>> Create(Options options, CurveSetup curve = {},
                                                const Clock& clock = Clock::Real());
  ~IoLoop();

  IoLoop(const IoLoop&) = delete;
  IoLoop& operator=(const IoLoop&) = delete;

  // ---- setup, called by ProcessModule::Start --------------------------------
  // Binds only the admin ROUTER (a server behind a broker accepts nothing itself).
  Status BindAdminOnly();
  // Binds the accepting ROUTER at options.listen with `policy`, and the admin ROUTER
  // at options.admin.endpoint when there is one. With `gated`, HELLOs wait until
  // MonitorConnections() (reverse multi client, rule M3).
  Status Bind(AdmissionPolicy policy, bool gated);
  // Dials `url`, HELLOs and waits for WELCOME (retrying on a new socket after a
  // handshake timeout, until timeouts.connect). The peer must say `expected_role`
  // when that is not empty. With CURVE, `server_key` (Z85) is the key the peer must
  // have; empty: the process's security.curve.server_public_key.
  Result<Connection> Connect(const std::string& url, const std::string& expected_role,
                             const std::string& server_key = {});
  // Waits until `count` peers are admitted on the accepting side, up to `timeout`
  // (0 = no limit). Reverse single client: its server(s).
  Status WaitForPeers(size_t count, milliseconds timeout);
  // Opens the gate of a gated acceptor until at least one peer is admitted or
  // `timeout` passes; returns how many were admitted.
  Result<int> Monitor(milliseconds timeout);
  // Arms the Run() deadlines: accept (no peer admitted by then: kAcceptTimeout) and
  // session (kSessionTimeout). Zero disables each. `multi`: SupportMultipleConnections
  // as Start() saw it (a broker learns it from our HELLO). `single_peer`: Run() ends
  // when the one peer goes.
  void ArmRun(bool multi, bool single_peer, milliseconds accept, milliseconds session);

  // The first endpoint the acceptor is bound to (options.listen's), and all of them
  // (then options.extra_listen's); "" and none before Bind().
  std::string ListenEndpoint() const;
  std::vector<std::string> ListenEndpoints() const;
  // Render-client mode: the render server's CURVE key, read at Initialize ("" = none
  // of its own). Constant, so safe from any thread.
  const std::string& RenderServerKey() const { return curve_.render_server_public_key; }
  std::string AdminEndpoint() const;
  const Options& options() const { return options_; }

  // Accepting side: admit new peers or not (ParaView's "disable further
  // connections"), and the connect-id new HELLOs must carry. Peers stay.
  void SetAccepting(bool accepting);
  void SetConnectId(uint64_t connect_id);
  // The server ends in `remaining` (what a lifetime command said); clients are
  // warned per options.lifetime_warnings, and Run() ends with kSessionTimeout.
  void SetLifetime(milliseconds remaining);
  // CURVE: re-reads authorized_keys_dir; admitted peers stay (ZAP is only asked at
  // a handshake). kFailedPrecondition when this process checks no keys.
  Result<ReloadSummary> ReloadAuthorizedKeys();

  // ---- running ---------------------------------------------------------------
  RunEnd Run();
  void Stop();
  void Shutdown();

  // ---- peers (also the back end of Connection) --------------------------------
  std::vector<PeerInfo> Snapshot();
  Result<Connection> Find(const std::string& session);
  Result<PeerInfo> Stats(const std::string& session);
  // `window`: the session's flow control when it is a peer we dialed (else null);
  // Send waits in it for room, up to timeouts.send, unless on the I/O thread.
  Status Send(const std::shared_ptr<const Connection::State>& to, std::string_view channel,
              Frames payload);
  ReplyFuture Request(const std::string& session, std::string method, std::string args,
                      Frames payload, milliseconds timeout);
  // ReplyFuture's wait: when the I/O thread is asleep, waits for REPLY `request_id`
  // on its link's DEALER in this thread, until the reply, `until`, or the I/O thread
  // wants the loop back (see "The loop lock" above). Returns at once otherwise.
  // False when the caller is the I/O thread itself, which must never block on a
  // reply: it is the thread that would deliver it.
  bool LeadForReply(uint64_t request_id, TimePoint until);
  Status Close(const std::string& session, std::string reason);

  void SetHandler(std::string method, RequestHandler handler);
  // The REPLY to `request_id` of `session`, from any thread (DeferredReply). False
  // once the loop has ended.
  bool SendReply(const std::string& session, uint64_t request_id, Reply reply);
  void SetOnConnected(ConnectedCallback callback);
  void SetOnDisconnected(DisconnectCallback callback);
  void SetOnData(DataCallback callback);
  void SetOnSuspended(SuspendedCallback callback);
  void SetOnResumed(ConnectedCallback callback);
  void SetOnReconnecting(ReconnectingCallback callback);

 private:
  // Where a session lives: accepted on our ROUTER, at the other end of one of our
  // DEALERs, or a client a broker relays to us over one of our DEALERs.
  enum class PeerKind { kAccepted, kLinked, kRelayed };
  struct PeerRef {
    PeerRecord* record;
    PeerKind kind;
    uint64_t link_id;  // kLinked, kRelayed: the DEALER it is reached through
  };

  IoLoop(Options options, CurveSetup curve, const Clock& clock);

  // What other threads hand the I/O thread, in order: a closure, or (the hot path,
  // kept free of a closure's allocations) one DATA message for `to`.
  struct Command {
    std::function<void()> fn;  // empty for DATA
    std::shared_ptr<const Connection::State> to;
    std::string channel;
    Frames payload;
    int64_t window_bytes = -1;  // >= 0: holds a slot of to->window and these bytes
  };

  // Cross-thread plumbing.
  bool Post(std::function<void()> fn);
  bool Enqueue(Command command);
  // Runs `fn` now when called on the I/O thread, else posts it.
  bool Dispatch(std::function<void()> fn);
  // A callback or handler setter's work: posted, and off the I/O thread waited for.
  void Install(std::function<void()> install);
  template <typename T>
  T Call(std::function<T()> fn, T if_stopped);
  bool OnIoThread() const { return std::this_thread::get_id() == thread_.get_id(); }

  // ---- io_loop.cc: the loop and its dispatch (I/O thread) ------------------------
  void ThreadMain();
  void RunCommands();
  void PollOnce(std::unique_lock<std::mutex>& loop);
  // After poll: takes loop_mu_ back, asking a leader to hand it over when one has it.
  void RetakeLoop(std::unique_lock<std::mutex>& loop);
  void Wake();  // the I/O thread runs a turn now (eventfd)
  void ServiceAdmin();
  void ServiceZap();
  Status BindAdmin();
  // options.connection_file, once the acceptor is bound (removed at shutdown).
  Status WriteOurConnectionFile();
  // Links are waited on through link_fds_. Before sleeping, a link that is not
  // drained is asked ZMQ_EVENTS (Link::HasWork); after a wake-up each link that may
  // hold something is received from until it has nothing.
  void ServiceLinks(bool any_link_signalled);
  void OnTimer(TimePoint now);
  void OnLinkTimers(TimePoint now);
  void OnHeartbeatTick(TimePoint now);
  TimePoint NextDeadline() const;
  void ShutdownOnIoThread();
  void EndRun(RunEnd end);
  bool RunEnded() const;
  // process.info's `accepting`: the acceptor's, or a broker-mode server's
  // registration (a single one's only until its client came).
  bool Accepting() const;
  // DATA on channel "server" to every accepted peer: {"expires_in_ms": left}.
  void AnnounceLifetime(milliseconds left);

  // AdminTarget, for the admin service (I/O thread).
  std::vector<PeerInfo> AdminPeers() override { return SnapshotOnIoThread(); }
  nlohmann::json AdminProcessInfo() override;
  nlohmann::json BrokerLinkInfo() const;
  // OnReconnecting of a reconnecting link's failed attempt (before its Retry).
  void AttemptFailed(const Link& link, const Status& why);
  bool AdminCloseSession(const std::string& session) override;
  void AdminSetAccepting(bool accepting) override;
  void AdminSetConnectId(uint64_t connect_id) override;
  Result<nlohmann::json> AdminReloadKeys() override;

  // ---- io_loop_accepting.cc: the accepting side -----------------------------------
  void ServiceAcceptor();
  void OnAcceptorMessage(const std::string& routing_id, Frames& frames);
  // ERROR 413 for a message of `bytes` over limits.max_message_size.
  Frames TooLargeFrames(uint64_t bytes) const;
  void OnHello(const std::string& routing_id, pmp::Hello& hello, std::string address,
               std::string public_key);
  void Admit(const std::string& routing_id, const pmp::Hello& hello, std::string address,
             std::string public_key);
  // CURVE: false (and the session ends) when an admitted peer's message comes with
  // another key than its HELLO did: someone took its routing id over, so it now
  // leads to them (PROTOCOL §15; the broker does the same, Directory::CheckKey).
  bool SameKeyAsHello(PeerRecord& peer, zmq::message_t& frame);
  // Notes the TCP connection of the admitted (or resumed) `routing_id`'s message.
  void NoteTransport(const std::string& routing_id, const Frames& frames);
  // `said`: the peer's words for it (Disconnect::message), e.g. its BYE's reason.
  void RemovePeer(const std::string& routing_id, DisconnectReason reason, std::string said = {});
  bool SendToRoutingId(const std::string& routing_id, Frames frames, PeerRecord* peer = nullptr);

  // ---- io_loop_dialing.cc: the connecting side, and broker mode's relayed clients --
  void OpenLinkSocket(Link& link);
  void ServiceWatch(Link& link);
  void ServiceLink(Link& link);
  // One message from `link` into rx_message_. A message too large or undecodable is
  // answered with ERROR and skipped (false with `*more` set).
  bool ReceiveFromLink(Link& link, bool* more);
  void OnLinkMessage(Link& link, pmp::Message& message);
  void OnWelcome(Link& link, const pmp::Welcome& welcome);
  void FailLink(Link& link, Status why);
  void DropLink(uint64_t id, DisconnectReason reason, std::string said = {});
  // A server's registration with its broker is kept while the server serves: until
  // Run() is over, or (single) once its one client has come.
  bool KeepsRegistration() const;
  void Reconnect(Link& link, DisconnectReason reason, const std::string& said = {});
  // Sends now, or queues in the link's outbox (Link::Send), stamped with this turn.
  bool SendOnLink(Link& link, Frames frames) { return link.Send(std::move(frames), now_); }
  // Broker mode, server side: clients the broker relays to us (relayed_).
  bool OnRelayedMessage(Link& broker, pmp::Message& message);
  void OnJoined(Link& broker, const pmp::Joined& joined);
  void OnLeft(const pmp::Left& left);
  // `seq`: what Stamp() gave the header (0: not numbered).
  bool SendRelayed(PeerRecord& client, Link& broker, pmp::Header header, Frames payload,
                   uint64_t seq);
  // The relay went with the broker's session: its clients' sessions are lost.
  void DropRelayOf(const Link& link, DisconnectReason reason, const std::string& said);

  // ---- io_loop_peers.cc: both sides, what admitted peers say and the handles -------
  void OnPeerMessage(PeerRecord& peer, PeerKind kind, pmp::Message& message);
  void OnPing(PeerRecord& peer, const pmp::Ping& ping);
  void OnRequest(PeerRecord& peer, bool incoming, pmp::Request& request, Frames payload);
  void OnReply(pmp::Reply& reply, Frames payload);
  bool SendToPeer(const std::string& session, pmp::Header header, Frames payload = {});
  std::optional<PeerRef> Resolve(const std::string& session);
  PeerRecord* FindPeer(const std::string& session, bool* incoming = nullptr);
  void Disconnected(const PeerRecord& peer, bool incoming, DisconnectReason reason,
                    std::string said = {});
  // The peer's handle: the one made at admission (PeerRecord::handle) when it is
  // still that session's, else a new one.
  Connection MakeConnection(const PeerRecord& peer, bool incoming);
  Connection NewConnection(const PeerRecord& peer, bool incoming,
                           std::shared_ptr<SendWindow> window = nullptr, uint64_t link_id = 0);
  std::vector<PeerInfo> SnapshotOnIoThread();

  // ---- io_loop_resume.cc: sessions that outlive their link (PMP/1.2) --------------
  // Stamps `seq` and `ack` on a DATA, REQUEST or REPLY to a resumable peer. Its
  // seq; 0 when the header takes none or the session does not resume.
  uint64_t Stamp(PeerRecord& peer, pmp::Header& header);
  uint64_t Stamp(PeerRecord& peer, uint64_t& seq, uint64_t& ack);
  // Keeps a copy of stamped message `seq` for a resend (one that does not fit goes
  // without, ResumeState::Keep). False when the session is suspended and its resume
  // buffer full: the session is ended (next turn) and nothing is sent.
  bool Keep(PeerRecord& peer, uint64_t seq, Frames& frames);
  // `bytes`: the envelope's, when EncodeEnvelope told where they are (else empty).
  bool Keep(PeerRecord& peer, uint64_t seq, zmq::message_t& envelope, std::span<const char> bytes,
            Frames& payload);
  // What `seq`, `ack` and PING's `sent` and `resend` of a message from a
  // resumable peer mean: false when it must not be handed on (a duplicate, or one
  // after a gap, which is asked for again).
  bool Sequence(PeerRecord& peer, PeerKind kind, pmp::Message& message);
  // Sequence() for all but DATA, and what an arrival means once counted.
  bool SequenceOther(PeerRecord& peer, PeerKind kind, pmp::Message& message);
  bool OnArrival(PeerRecord& peer, PeerKind kind, ResumeState::Arrival arrival);
  // A PING to `peer`, with `ack` and `sent` when its session resumes (and `peer`
  // when it is relayed: the broker carries it to that client).
  pmp::Ping PingFor(PeerRecord& peer, TimePoint now, PeerKind kind = PeerKind::kAccepted);
  // A message of our own (not the application's) to an admitted peer, however it
  // is reached; nothing while it is suspended.
  void SendControl(PeerRecord& peer, PeerKind kind, Frames frames);
  void AskResend(PeerRecord& peer, PeerKind kind);
  // Sends again what `peer` has not received: every kept message after `after`. When
  // that includes a message sent without a replay copy, ends the session instead
  // (next turn): the peer would wait for it forever.
  void Resend(PeerRecord& peer, PeerKind kind, uint64_t after);
  // Accepting side.
  void OnResume(const std::string& routing_id, const pmp::Resume& resume, std::string address,
                std::string public_key);
  void Suspended(const PeerRecord& peer, bool incoming);
  // Broker mode, server side: JOINED {resume}: a relayed client asks for its session
  // back through `broker`; RESUMED, or BYE {peer} when it has none to resume.
  void ResumeRelayed(Link& broker, const pmp::Joined& joined);
  // Ends one relayed client's session from this side: BYE {peer} to the broker.
  void CloseRelayed(PeerRecord& client, const std::string& reason);
  // Relayed resumable sessions: the end of a suspension's grace, and the PING that
  // acknowledges what arrived (the broker's own heartbeat says nothing of them).
  void OnRelayedResumeTick(TimePoint now);
  // Connecting side.
  void SuspendLink(Link& link, std::string_view why);
  void OnLinkResumed(Link& link, const pmp::Resumed& resumed);
  // The suspended session of `link` is over: `reason` (kExpired: the grace period
  // ran out; kForgotten: the acceptor refused the RESUME).
  void EndSuspendedLink(Link& link, DisconnectReason reason, std::string said);
  // Ends a resumable session (next turn) with BYE `said`, as closed.
  void EndResumable(const std::string& session, std::string said);
  // A Keep() refused (the session is suspended and its buffer full): ends the
  // session, once, for that reason. Always false, Keep()'s answer.
  bool KeepRefused(const PeerRecord& peer);

  // ---- io_loop_fast_path.cc: the caller's Send and Request -------------------------
  // DATA from Connection::Send (I/O thread).
  void SendData(Command& data);
  // Request's work, as the I/O thread (on it, or holding loop_mu_): sends and
  // registers request `id`.
  void StartRequest(const std::string& session, uint64_t id, std::string method, std::string args,
                    Frames payload, milliseconds timeout, std::shared_ptr<ReplySlot> reply);
  // The link a request to `session` may be sent on and its reply led on by another
  // thread: an admitted DEALER of ours with nothing waiting before it.
  Link* LeadableLink(const std::string& session);
  // The leader's wait on `link` (loop_mu_ held), until REPLY `request_id`, `until`,
  // a message for the I/O thread, or lead_abort_.
  void AwaitReplyOnLink(Link& link, uint64_t request_id, TimePoint until);

  // ---- constant after construction ----
  const Options options_;
  const CurveSetup curve_;
  const Clock& clock_;
  const HeartbeatPolicy heartbeat_;  // what this side announces and enforces
  EventFd wake_fd_;
  EventFd lead_abort_fd_;  // signalled by the I/O thread to make a leader hand back
  std::thread thread_;

  // ---- the loop lock (see "The loop lock") ----
  std::mutex loop_mu_;
  std::atomic<bool> lead_abort_{false};  // the I/O thread waits for loop_mu_
  std::atomic<uint64_t> next_request_id_{1};

  // ---- shared, guarded by mu_ ----
  mutable std::mutex mu_;
  std::condition_variable run_cv_;
  std::vector<Command> commands_;
  bool sleeping_ = false;       // the I/O thread is (about to be) blocked in poll
  std::vector<Command> batch_;  // I/O thread: the commands being run (capacity kept)
  bool accepting_commands_ = true;
  std::optional<RunEnd> run_end_;
  std::vector<std::string> listen_endpoints_;  // as bound: options_.listen's first
  std::string admin_endpoint_;

  // ---- I/O thread only (guarded by loop_mu_) ----
  EpollSet link_fds_;                      // before links_, whose members leave it when destroyed
  TimePoint wakes_at_ = TimePoint::max();  // when the sleeping I/O thread wakes on its own
  std::vector<pollfd> poll_fds_;           // PollOnce's, reused
  // The link of each watch descriptor, and whether its monitor had unannounced events.
  std::vector<std::pair<uint64_t, bool>> poll_watch_links_;
  std::vector<uint64_t> link_ids_;  // ServiceLinks' and OnTimer's; links may go as they run
  zmq::context_t context_;
  bool stopping_ = false;
  // When the last poll returned: the time stamp of what this turn sends and
  // receives (one clock read per turn instead of one per message).
  TimePoint now_{};
  pmp::Decoder decoder_;
  Frames rx_;
  std::string rx_routing_id_;  // rx_[0] on the acceptor, its buffer reused: no allocation
  pmp::Message rx_message_;    // what rx_ decodes to, reused (only one is handled at once)
  std::unique_ptr<ZapHandler> zap_;  // before the sockets it vets: closed after them
  std::unique_ptr<Acceptor> acceptor_;  // forward server, reverse client
  std::unique_ptr<procmod::AdminEndpoint> admin_;  // its own PolledSocket inside
  PolledSocket zap_polled_;  // zap_, waited on through its ZMQ_FD (polled_socket.h)
  bool connection_file_written_ = false;
  const TimePoint started_at_;
  bool multi_ = false;  // as Start() decided
  std::map<uint64_t, std::unique_ptr<Link>> links_;
  std::unordered_map<std::string, uint64_t> link_by_session_;
  RelayedPeers relayed_;
  uint64_t next_link_id_ = 1;
  // Our REQUESTs awaiting a REPLY. Also read and changed by a thread that holds
  // loop_mu_ to send a request or lead for its reply (Request, LeadForReply).
  PendingRequests requests_;
  std::unordered_map<std::string, RequestHandler> handlers_;
  ConnectedCallback on_connected_;
  DisconnectCallback on_disconnected_;
  DataCallback on_data_;
  SuspendedCallback on_suspended_;
  ConnectedCallback on_resumed_;
  ReconnectingCallback on_reconnecting_;
  bool single_peer_ = false;
  bool ever_admitted_ = false;
  TimePoint accept_deadline_ = TimePoint::max();
  Lifetime lifetime_;  // timeouts.session and SetLifetime(): the end, and the warnings
  // How often heartbeats and expiry are checked: interval / 4 (heartbeat.h).
  HeartbeatTick tick_;
  std::mt19937_64 jitter_{std::random_device{}()};  // backoff jitter, routing ids
  LogBudget denial_log_{20};  // lines per second a flood can cause (log_text.h)
  LogBudget error_log_{20};
};

// Inline: they run for every message of a resumable session (io_loop_resume.cc has
// the rest).
inline uint64_t IoLoop::Stamp(PeerRecord& peer, uint64_t& seq, uint64_t& ack) {
  if (!peer.resume) return 0;
  seq = peer.resume->NextSeq();
  ack = peer.resume->AckToStamp();
  return seq;
}

inline bool IoLoop::Keep(PeerRecord& peer, uint64_t seq, zmq::message_t& envelope,
                         std::span<const char> bytes, Frames& payload) {
  if (seq == 0) return true;
  if (bytes.empty()) bytes = std::span<const char>(envelope.data<char>(), envelope.size());
  return peer.resume->Keep(seq, bytes, payload) || KeepRefused(peer);
}

inline bool IoLoop::Sequence(PeerRecord& peer, PeerKind kind, pmp::Message& message) {
  // Inline, a DATA in order that makes no acknowledgement due: what a resumable
  // stream is made of.
  auto* data = std::get_if<pmp::Data>(&message.header);
  if (data == nullptr) return SequenceOther(peer, kind, message);
  ResumeState& resume = *peer.resume;
  resume.Acknowledge(data->ack);
  if (data->seq == 0) return true;  // not numbered: a peer that does not resume this way
  const ResumeState::Arrival arrival = resume.OnReceived(data->seq, FrameBytes(message.payload));
  if (arrival == ResumeState::Arrival::kDeliver && !resume.AckDue()) return true;
  return OnArrival(peer, kind, arrival);
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

}  // namespace procmod

#endif  // PROCMOD_SRC_IO_IO_LOOP_H_
