// link.h: one DEALER this process dialed, and the session at its other end.
//
// A Link is the connecting side of one session (a forward client's server, a
// reverse server's client, a broker): the socket, its outbox and flow control, the
// handshake's state machine and the retry backoff. It moves messages and decides
// what its own state means; the IoLoop (io_loop.h) wires it to the application.
// The decisions that matter to users are here, testable without a socket:
//   - Due(now): what a deadline asks of the link (fail, retry, redial);
//   - OnHandshake(progress, now): what the transport's events mean for the dial;
//   - KeepsDialing, RetriesDeny, ShouldReconnect: why the link exists decides what a
//     refused dial, a DENY or a lost session does to it, in one place.
//
// States (docs/PROTOCOL.md §10.1): kConnecting (HELLO queued, the watch reports the
// transport), kHandshaking (ZMTP done, WELCOME due), kRetryWait (no socket, a
// backoff), kAdmitted (WELCOME received: a session).
//
// I/O thread only, except that a thread holding the loop lock may send and receive
// on an admitted link (the caller's fast path, io_loop.h).
//
//   Link link(target, limits, now);
//   if (Status s = link.Open(context, socket_setup, poll_set, rng); !s.ok()) ...
//   link.SendNow(hello_frames);
//   ... Due(now) == Link::Due::kReopen: link.Open(...) again
#ifndef PROCMOD_SRC_IO_LINK_H_
#define PROCMOD_SRC_IO_LINK_H_

#include <cstdint>
#include <deque>
#include <future>
#include <memory>
#include <optional>
#include <random>
#include <string>

#include <zmq.hpp>

#include "base/clock.h"
#include "io/epoll_set.h"
#include "io/handshake_watch.h"
#include "io/polled_socket.h"
#include "io/sockets.h"
#include "procmod/connection.h"
#include "procmod/options.h"
#include "procmod/process_module.h"
#include "protocol/codec.h"
#include "security/curve_keys.h"
#include "session/heartbeat.h"
#include "session/peer_record.h"
#include "session/send_window.h"

namespace procmod {

class Link {
 public:
  enum class State { kConnecting, kHandshaking, kRetryWait, kAdmitted };

  // Whom the link dials, fixed for its life.
  struct Target {
    uint64_t id = 0;
    std::string url;       // as given (broker+tcp://... included)
    std::string endpoint;  // what the DEALER connects to
    std::string service;   // broker URL: the service HELLO names
    // This side registers as the server of `service` with a broker: its clients
    // are relayed peers (JOINED/LEFT, `peer` on DATA/REQUEST/REPLY).
    bool registered = false;
    std::string expected_role;  // the WELCOME must say it, unless empty
    std::string server_key;     // CURVE: the acceptor's public key (Z85); "" when plain
  };

  // The process's settings a link applies.
  struct Limits {
    int64_t send_queue = 1000;          // limits.send_queue: outbox bound, window slots
    uint64_t max_message_size = 0;      // limits.max_message_size
    Duration handshake = Duration(0);   // timeouts.handshake
    Duration connect = Duration(0);     // timeouts.connect (0: no limit)
    Duration reregister = Duration(0);  // timeouts.reregister (0: no limit)
  };

  // Dials from `now`: timeouts.connect counts from here. `heartbeat` is ours until
  // the WELCOME says the acceptor's.
  Link(Target target, Limits limits, HeartbeatPolicy heartbeat, TimePoint now);
  ~Link();

  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

  // ---- the socket --------------------------------------------------------------
  // A new DEALER (a new routing id) dialing target().endpoint, its handshake
  // watched, its ZMQ_FD in `poll_set`; state kConnecting. The caller queues HELLO.
  Status Open(zmq::context_t& context, const Options& options, const CurveSetup& curve,
              EpollSet& poll_set, std::mt19937_64& rng);
  // The socket, its watch, its poll-set membership and a held message go.
  void CloseSocket();
  bool has_socket() const { return socket_.has_value(); }
  zmq::socket_t& socket() { return *socket_; }
  // Until WELCOME: the transport's events (null once admitted or closed).
  HandshakeWatch* watch() { return watch_ ? &*watch_ : nullptr; }
  // Whether the ZMQ_FD announces all input (polled_socket.h).
  PolledSocket& polled() { return polled_; }
  // The fast path's leader waits on the socket itself meanwhile (io_loop.h).
  void SuspendPolling() { in_poll_set_.Suspend(); }
  void ResumePolling() { in_poll_set_.Resume(); }
  // Something to do before the loop may sleep: a held message, input the ZMQ_FD
  // will not announce, or (with a waiting outbox) room to send.
  bool HasWork();

  // ---- sending -----------------------------------------------------------------
  // On the socket now, bypassing the outbox (HELLO on a fresh socket, a parting BYE).
  template <typename Range>
  SendOutcome SendNow(Range& frames) {
    const SendOutcome outcome = SendFrames(*socket_, {}, frames);
    polled_.SetDrained(false);  // the send may have run the socket's commands
    return outcome;
  }
  // Sends now, or queues in the outbox when the DEALER is full (windowed messages
  // always; others up to limits.send_queue, then dropped and counted). `window_bytes`
  // >= 0: the message holds a slot of window() and that many bytes, given back once
  // it is sent or dropped. False when it was dropped.
  bool Send(Frames frames, TimePoint now, int64_t window_bytes = -1);
  // The same for an envelope and its payload, without gathering them first.
  bool Send(zmq::message_t envelope, Frames payload, TimePoint now, int64_t window_bytes);
  // Sends what POLLOUT now takes from the outbox.
  void FlushOutbox(TimePoint now);
  bool outbox_empty() const { return outbox_.empty(); }
  // The socket or the session ends: the outbox is dropped (and counted), and with
  // `close_window` senders blocked in the window return kUnavailable.
  void ClearOutbox(bool close_window);
  // Admitted: the flow control of Connection::Send to this session.
  const std::shared_ptr<SendWindow>& window() const { return window_; }

  // ---- receiving ---------------------------------------------------------------
  struct Received {
    enum Kind {
      kNothing,    // the socket has nothing now (it is drained)
      kMessage,    // `out` holds a message, counted when admitted
      kTooLarge,   // over max_message_size: dropped undecoded
      kMalformed,  // undecodable: dropped
    } kind = kNothing;
    uint64_t bytes = 0;  // kTooLarge: the message's size
    Status error;        // kMalformed: why
  };
  // One message: the held one first, else from the DEALER into `rx` and `out`.
  Received Receive(pmp::Decoder& decoder, Frames& rx, pmp::Message& out, TimePoint now);
  // What a leader received that is not its reply: the I/O thread handles it before
  // anything else from this socket.
  void Hold(pmp::Message message) { held_ = std::move(message); }
  bool has_held() const { return held_.has_value(); }

  // ---- the handshake and its deadlines -----------------------------------------
  // What the transport's events mean for the dial.
  struct HandshakeNews {
    enum Kind { kNothing, kFailed, kRefused } kind = kNothing;
    Status why;       // kFailed
    int refused = 0;  // kRefused: connect attempts refused meanwhile
  };
  HandshakeNews OnHandshake(const HandshakeWatch::Progress& progress, TimePoint now);
  // A refusal was reported: timeouts.connect governs from now on.
  void CountRefusals(int attempts);
  // The "connection refused; retrying" line, at the first refusal and then each
  // time the time spent dialing has doubled (2 s, 4 s, ..., at most every 5 min).
  void ReportRefusal(TimePoint now);
  // What a deadline asks of the link at `now`.
  enum class Due {
    kNothing,
    kUnreachable,      // timeouts.connect ran out: fail with UnreachableError()
    kHandshakeFailed,  // the transport came up but ZMTP/CURVE never completed
    kNoWelcome,        // ZMTP done but no WELCOME: retry on a new socket
    kReopen,           // the backoff is over: open a new socket
  };
  Due Check(TimePoint now) const;
  // The earliest deadline of the link.
  TimePoint NextDeadline() const;
  // kDeadlineExceeded for a dial that ran out of timeouts.connect, saying what the
  // transport saw meanwhile.
  Status UnreachableError() const;
  // Closes the socket and waits a backoff (1 s doubling to 32 s, or to 2 s while
  // resuming; ±25 % jitter so a crowd of clients spreads out) before kReopen.
  void Retry(TimePoint now, std::mt19937_64& rng);
  // The backoff is over and a new socket is being opened.
  void RetryDue() { retry_at_ = TimePoint::max(); }

  // WELCOME: the session begins. Adopts the acceptor's heartbeat, fills peer(),
  // opens the send window.
  void Admit(const pmp::Welcome& welcome, TimePoint now);
  // The session was lost and is being brought back on a new socket: the client's
  // reconnect policy, or a server's registration with its broker (which must be
  // back within timeouts.connect). Call ClearOutbox(true) first.
  void StartReconnecting(TimePoint now, std::mt19937_64& rng);

  // ---- resume (PMP/1.2) ----------------------------------------------------------
  // The session's link is lost (silence, or the acceptor no longer knows this
  // connection): the socket goes, what waits in the outbox goes (the session's
  // resume buffer keeps every DATA, REQUEST and REPLY of it, and windowed senders
  // get their slots back), and a new socket is opened at once to RESUME, then after
  // the usual backoff, until `resume_by` (Check says kUnreachable then).
  void Suspend(TimePoint now, TimePoint resume_by);
  // RESUMED: the session is admitted again on the new socket.
  void OnResumed(TimePoint now);
  // The resume failed: the session is over (the link may HELLO anew).
  void EndResume() { resuming_ = false; }
  bool resuming() const { return resuming_; }

  // ---- policy: why the link exists decides -------------------------------------
  // A refused connect fails the dial at once (false), or libzmq redials until
  // timeouts.connect (true). `role`: this process's.
  bool KeepsDialing(Role role) const;
  // A DENY that means "not now" rather than "no" is retried after a backoff.
  bool RetriesDeny(uint32_t code) const;
  // A lost session is brought back on a new socket, or ends. `reconnect`: the
  // client's options.reconnect; `keeps_registration`: the server still serves (its
  // broker registration is kept).
  bool ShouldReconnect(DisconnectReason reason, bool reconnect, bool keeps_registration) const;

  // ---- what the loop reads -------------------------------------------------------
  const Target& target() const { return target_; }
  uint64_t id() const { return target_.id; }
  const std::string& url() const { return target_.url; }
  bool registered() const { return target_.registered; }
  State state() const { return state_; }
  bool admitted() const { return state_ == State::kAdmitted; }
  bool reconnecting() const { return reconnecting_; }
  // Which attempt at being admitted this is since the link started or was lost: 1,
  // then one more for every retry and every refused dial (process.info shows it).
  int attempt() const { return 1 + retries_ + refused_; }
  // Session, name, role from WELCOME; counters.
  PeerRecord& peer() { return peer_; }
  const PeerRecord& peer() const { return peer_; }
  const HeartbeatPolicy& heartbeat() const { return heartbeat_; }
  // Until admitted: the caller of Connect() waits here.
  std::optional<std::promise<Result<Connection>>>& waiter() { return waiter_; }

 private:
  // A message waiting for room in the DEALER's queue (its SNDHWM was reached).
  struct Outgoing {
    Frames frames;
    int64_t window_bytes = -1;
  };

  template <typename Range, typename Gather>
  bool SendOrQueue(Range& message, Gather gather, TimePoint now, int64_t window_bytes);
  // A send that is over (sent or failed): counted, its window slot given back.
  bool Settle(SendOutcome outcome, uint64_t bytes, TimePoint now, int64_t window_bytes);
  void ReleaseWindow(int64_t window_bytes);

  const Target target_;
  const Limits limits_;
  // Declared first: the members below that refer to it go before it closes.
  std::optional<zmq::socket_t> socket_;
  EpollSet::Member in_poll_set_;  // the socket's ZMQ_FD in the loop's set
  PolledSocket polled_;
  // Until WELCOME. After `socket_`, so it ends first (handshake_watch.h).
  std::optional<HandshakeWatch> watch_;
  State state_ = State::kConnecting;
  PeerRecord peer_;
  HeartbeatPolicy heartbeat_;
  TimePoint handshake_deadline_ = TimePoint::max();
  TimePoint connect_deadline_ = TimePoint::max();
  TimePoint retry_at_ = TimePoint::max();
  Duration backoff_ = std::chrono::seconds(1);
  bool reconnecting_ = false;
  bool resuming_ = false;  // between Suspend and OnResumed (or EndResume)
  // Until admitted: since when it dials, how many connects were refused, and when
  // the next "connection refused; retrying" line is due.
  TimePoint dialing_since_{};
  int refused_ = 0;
  int retries_ = 0;  // Retry() calls since the link started or was lost
  TimePoint next_refusal_report_{};
  std::shared_ptr<SendWindow> window_;
  // What found the DEALER full, in order; sent when it polls writable again. Later
  // messages queue behind it so nothing overtakes.
  std::deque<Outgoing> outbox_;
  std::optional<std::promise<Result<Connection>>> waiter_;
  std::optional<pmp::Message> held_;
};

}  // namespace procmod

#endif  // PROCMOD_SRC_IO_LINK_H_
