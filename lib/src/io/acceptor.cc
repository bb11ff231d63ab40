#include "io/acceptor.h"

#include <spdlog/spdlog.h>

#include <zmq_addon.hpp>

#include "io/sockets.h"

namespace procmod {

Result<std::unique_ptr<Acceptor>> Acceptor::Bind(zmq::context_t& context, const Options& options,
                                                 const CurveSetup& curve,
                                                 std::unique_ptr<ZapHandler>& zap,
                                                 AdmissionPolicy policy, bool gated) {
  zmq::socket_t socket(context, zmq::socket_type::router);
  ConfigureAcceptor(socket, options);
  if (curve.enabled) {
    if (Status s = EnableCurveServer(context, curve, zap, socket); !s.ok()) return s;
  }
  // A failed bind closes the socket, and with it the endpoints bound before.
  std::vector<std::string> bound;
  std::vector<std::string> wanted = {options.listen};
  wanted.insert(wanted.end(), options.extra_listen.begin(), options.extra_listen.end());
  for (const std::string& endpoint : wanted) {
    Result<std::string> real = BindSocket(socket, endpoint, "bind");
    if (!real.ok()) return real.status();
    bound.push_back(std::move(*real));
  }
  std::unique_ptr<Acceptor> acceptor(
      new Acceptor(std::move(socket), std::move(bound), std::move(policy), gated));
  acceptor->table_.SetAccepting(options.accept_connections);
  return acceptor;
}

Acceptor::Acceptor(zmq::socket_t socket, std::vector<std::string> endpoints,
                   AdmissionPolicy policy, bool gated)
    : socket_(std::move(socket)),
      polled_(socket_),
      endpoints_(std::move(endpoints)),
      table_(std::move(policy)),
      gated_(gated) {}

bool Acceptor::Receive(Frames& rx) {
  rx.clear();
  try {
    if (!zmq::recv_multipart(socket_, std::back_inserter(rx), zmq::recv_flags::dontwait)) {
      polled_.SetDrained(true);
      return false;
    }
  } catch (const zmq::error_t& e) {
    spdlog::error("procmod: receive on {} failed: {}", endpoint(), e.what());
    return false;
  }
  return true;
}

bool Acceptor::SendTo(const std::string& routing_id, Frames frames, PeerRecord* peer,
                      TimePoint now) {
  const uint64_t bytes = FrameBytes(frames);
  const SendOutcome outcome = SendFrames(socket_, routing_id, frames);
  polled_.SetDrained(false);  // the send may have run the socket's commands
  switch (outcome) {
    case SendOutcome::kSent:
      if (peer != nullptr) peer->CountSent(bytes, now);
      return true;
    case SendOutcome::kQueueFull:
      if (peer != nullptr) peer->dropped++;
      return false;
    case SendOutcome::kPeerGone:
    case SendOutcome::kFailed:
      return false;
  }
  return false;
}

// ---- the gate ---------------------------------------------------------------------

bool Acceptor::Holds(const std::string& routing_id) {
  return gated_ && table_.accepting() && table_.Find(routing_id) == nullptr;
}

bool Acceptor::Hold(HeldHello hello, size_t limit) {
  if (held_.size() >= limit) return false;
  held_.push_back(std::move(hello));
  return true;
}

std::vector<Acceptor::HeldHello> Acceptor::OpenGate(TimePoint now, Duration fresh_for) {
  gated_ = false;
  std::vector<HeldHello> fresh;
  for (HeldHello& held : held_) {
    if (now - held.received_at < fresh_for) fresh.push_back(std::move(held));
  }
  held_.clear();
  return fresh;
}

// ---- admission waits ----------------------------------------------------------------

bool Acceptor::StartWaitOf(Wait wait, std::promise<Result<int>>& promise) {
  if (wait_) {
    promise.set_value(FailedPreconditionError("another wait is in progress"));
    return false;
  }
  wait.promise = std::move(promise);
  wait_ = std::move(wait);
  return true;
}

bool Acceptor::StartWait(size_t count, TimePoint deadline, std::promise<Result<int>>& promise) {
  return StartWaitOf(Wait{.target = count, .deadline = deadline}, promise);
}

bool Acceptor::StartMonitor(TimePoint deadline, std::promise<Result<int>>& promise) {
  return StartWaitOf(Wait{.monitor = true, .deadline = deadline}, promise);
}

void Acceptor::CountAdmission() {
  if (wait_) wait_->admitted++;
}

void Acceptor::CheckWait() {
  if (!wait_) return;
  const bool done = wait_->monitor ? wait_->admitted > 0 : table_.size() >= wait_->target;
  if (!done) return;
  Answer(wait_->monitor ? wait_->admitted : static_cast<int>(table_.size()));
}

void Acceptor::ExpireWait(TimePoint now) {
  if (!wait_ || wait_->deadline > now) return;
  if (wait_->monitor) {
    Answer(wait_->admitted);
  } else {
    Answer(DeadlineExceededError("no server connected to " + endpoint() + " within timeouts.accept"));
  }
}

void Acceptor::FailWait(Status why) {
  if (!wait_) return;
  Answer(std::move(why));
}

TimePoint Acceptor::WaitDeadline() const { return wait_ ? wait_->deadline : TimePoint::max(); }

void Acceptor::Answer(Result<int> result) {
  Wait wait = std::move(*wait_);
  wait_.reset();
  if (wait.monitor) gated_ = true;  // MonitorConnections() is over: knocks wait again
  wait.promise.set_value(std::move(result));
}

}  // namespace procmod
