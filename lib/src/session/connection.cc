#include "procmod/connection.h"

#include "io/io_loop.h"
#include "session/connection_state.h"
#include "session/reply_slot.h"

namespace procmod {
namespace {

Status Finalized() { return AbortedError("process module finalized"); }
Status NoPeer() { return FailedPreconditionError("the Connection refers to no peer"); }

const std::string& EmptyString() {
  static const std::string* empty = new std::string();
  return *empty;
}

}  // namespace

const std::string& Connection::session() const { return state_ ? state_->session : EmptyString(); }
const std::string& Connection::name() const { return state_ ? state_->name : EmptyString(); }
const std::string& Connection::role() const { return state_ ? state_->role : EmptyString(); }
const std::string& Connection::address() const { return state_ ? state_->address : EmptyString(); }
bool Connection::incoming() const { return state_ ? state_->incoming : true; }

Status Connection::Send(Frames payload, std::string_view channel) const {
  if (!state_) return NoPeer();
  auto loop = state_->loop.lock();
  if (!loop) return Finalized();
  return loop->Send(state_, channel, std::move(payload));
}

Status Connection::Send(std::string_view bytes, std::string_view channel) const {
  Frames payload;
  payload.emplace_back(bytes.data(), bytes.size());
  return Send(std::move(payload), channel);
}

ReplyFuture Connection::Request(std::string method, Frames payload,
                                std::chrono::milliseconds timeout, std::string args) const {
  auto loop = state_ ? state_->loop.lock() : nullptr;
  if (!loop) return ReplyFuture::Failed(state_ ? Finalized() : NoPeer());
  return loop->Request(state_->session, std::move(method), std::move(args), std::move(payload),
                       timeout);
}

ReplyFuture ReplyFuture::Failed(Status failure) {
  auto slot = std::make_shared<ReplySlot>();
  slot->Set(std::move(failure));
  return ReplyFuture(std::move(slot));
}

bool ReplyFuture::Lead(std::chrono::steady_clock::time_point until) const {
  if (request_id_ == 0 || !slot_ || slot_->ready()) return true;
  auto loop = loop_.lock();
  return !loop || loop->LeadForReply(request_id_, until);
}

Result<Reply> ReplyFuture::get() {
  if (!slot_) throw std::future_error(std::future_errc::no_state);
  if (!Lead(std::chrono::steady_clock::time_point::max()) && !slot_->ready()) {
    // The I/O thread would wait for itself, for ever: the future stays valid.
    return FailedPreconditionError(
        "ReplyFuture::get() on the I/O thread (in a callback or handler) would wait for a "
        "reply only that thread can deliver; keep the future and look at it later");
  }
  std::shared_ptr<ReplySlot> slot = std::move(slot_);  // valid() is false from here on
  return slot->Take();
}

void ReplyFuture::wait() const { (void)wait_until(std::chrono::steady_clock::time_point::max()); }

std::future_status ReplyFuture::wait_for(std::chrono::nanoseconds timeout) const {
  const auto now = std::chrono::steady_clock::now();
  const auto left = std::chrono::steady_clock::time_point::max() - now;
  return wait_until(timeout >= left ? std::chrono::steady_clock::time_point::max() : now + timeout);
}

std::future_status ReplyFuture::wait_until(std::chrono::steady_clock::time_point deadline) const {
  if (!slot_) throw std::future_error(std::future_errc::no_state);
  const bool may_wait = Lead(deadline);
  if (!may_wait) return slot_->ready() ? std::future_status::ready : std::future_status::timeout;
  return slot_->WaitUntil(deadline) ? std::future_status::ready : std::future_status::timeout;
}

Status Connection::Close(std::string reason) const {
  auto loop = state_ ? state_->loop.lock() : nullptr;
  if (!loop) return Status();
  return loop->Close(state_->session, std::move(reason));
}

Result<PeerInfo> Connection::Stats() const {
  if (!state_) return NoPeer();
  auto loop = state_->loop.lock();
  if (!loop) return Finalized();
  return loop->Stats(state_->session);
}

}  // namespace procmod
