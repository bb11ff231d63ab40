// acceptor.h: the accepting side of a process module — its ROUTER and who got in.
//
// A forward server and a reverse client accept: they bind one ROUTER, and every peer
// that dials it says HELLO. The Acceptor owns that socket, the IdentityTable that
// decides admission (identity_table.h), and the two ways a caller waits on it:
//   - the gate (rule M3): a reverse multi client admits servers only while
//     MonitorConnections() runs; HELLOs that come meanwhile are held, bounded, and
//     admitted when it next runs if they are still fresh;
//   - admission waits: WaitForPeers (until the table holds N peers) and Monitor
//     (until one more is admitted), each with a deadline and a promise.
// The IoLoop receives, dispatches and tells the application; this decides.
// I/O thread only.
//
//   Result<std::unique_ptr<Acceptor>> acceptor =
//       Acceptor::Bind(context, options, curve, zap, policy, /*gated=*/false);
//   while ((*acceptor)->Receive(rx)) ... (*acceptor)->SendTo(routing_id, frames, peer, now);
#ifndef PROCMOD_SRC_IO_ACCEPTOR_H_
#define PROCMOD_SRC_IO_ACCEPTOR_H_

#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "base/clock.h"
#include "io/polled_socket.h"
#include "procmod/options.h"
#include "procmod/result.h"
#include "protocol/codec.h"
#include "security/curve_keys.h"
#include "security/zap_handler.h"
#include "session/identity_table.h"
#include "session/peer_record.h"

namespace procmod {

class Acceptor {
 public:
  // Binds a ROUTER at options.listen and every options.extra_listen endpoint (a peer
  // is the same whichever it dialed) that admits by `policy` (CURVE with `curve`,
  // starting `zap` when it is not running yet). `gated`: HELLOs wait for Monitor().
  static Result<std::unique_ptr<Acceptor>> Bind(zmq::context_t& context, const Options& options,
                                                const CurveSetup& curve,
                                                std::unique_ptr<ZapHandler>& zap,
                                                AdmissionPolicy policy, bool gated);

  Acceptor(const Acceptor&) = delete;
  Acceptor& operator=(const Acceptor&) = delete;

  // As bound, with the real port when port 0 was asked for: options.listen's, and
  // all of them (then options.extra_listen's).
  const std::string& endpoint() const { return endpoints_.front(); }
  const std::vector<std::string>& endpoints() const { return endpoints_; }
  IdentityTable& table() { return table_; }
  const IdentityTable& table() const { return table_; }
  zmq::socket_t& socket() { return socket_; }
  PolledSocket& polled() { return polled_; }

  // One message into `rx` (rx[0]: the sender's routing id), without blocking. False
  // when there is nothing (the socket is drained) or the receive failed.
  bool Receive(Frames& rx);
  // Sends to `routing_id` without blocking; counted on `peer` when given. False when
  // the peer's queue is full (counted as dropped) or its transport is gone (expiry
  // ends the session if it stays gone).
  bool SendTo(const std::string& routing_id, Frames frames, PeerRecord* peer, TimePoint now);

  // ---- the gate (rule M3) -------------------------------------------------------
  // A HELLO waiting for MonitorConnections().
  struct HeldHello {
    std::string routing_id;
    pmp::Hello hello;
    std::string address;
    std::string public_key;
    TimePoint received_at;
  };
  // Whether a HELLO from `routing_id` is held rather than answered: the gate is
  // closed, and the peer is new. (Not accepting: it is answered DENY 409 at once.)
  bool Holds(const std::string& routing_id);
  // False when `limit` HELLOs are held already: the knock is refused.
  bool Hold(HeldHello hello, size_t limit);
  // Opens the gate: the held HELLOs younger than `fresh_for` are handed back, to be
  // admitted; older ones are dropped (their peers gave up on the handshake).
  std::vector<HeldHello> OpenGate(TimePoint now, Duration fresh_for);

  // ---- admission waits ----------------------------------------------------------
  // Until the table holds `count` peers, or `deadline` (kDeadlineExceeded). False,
  // with the promise told, when another wait is in progress.
  bool StartWait(size_t count, TimePoint deadline, std::promise<Result<int>>& promise);
  // Until one peer is admitted (the gate is open meanwhile), or `deadline`: how many.
  bool StartMonitor(TimePoint deadline, std::promise<Result<int>>& promise);
  // A peer was admitted (counted for Monitor).
  void CountAdmission();
  // A wait that is satisfied is answered (a monitor closes the gate again). Called
  // after the application heard of the admission, so a caller woken by the wait
  // finds its connected callback run.
  void CheckWait();
  // A wait past its deadline is answered.
  void ExpireWait(TimePoint now);
  void FailWait(Status why);
  TimePoint WaitDeadline() const;

 private:
  struct Wait {
    size_t target = 0;     // table size to reach (StartWait)
    int admitted = 0;      // admissions so far (StartMonitor)
    bool monitor = false;  // StartMonitor: done at the first admission
    TimePoint deadline = TimePoint::max();
    std::promise<Result<int>> promise;
  };

  Acceptor(zmq::socket_t socket, std::vector<std::string> endpoints, AdmissionPolicy policy,
           bool gated);
  bool StartWaitOf(Wait wait, std::promise<Result<int>>& promise);
  void Answer(Result<int> result);

  zmq::socket_t socket_;
  PolledSocket polled_;  // waited on through its ZMQ_FD (polled_socket.h)
  const std::vector<std::string> endpoints_;  // never empty
  IdentityTable table_;
  bool gated_ = false;
  std::vector<HeldHello> held_;
  std::optional<Wait> wait_;
};

}  // namespace procmod

#endif  // PROCMOD_SRC_IO_ACCEPTOR_H_
