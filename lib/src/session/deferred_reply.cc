// DeferredReply: a handler's answer given later (procmod/process_module.h).
#include "io/io_loop.h"
#include "procmod/process_module.h"
#include "session/connection_state.h"

namespace procmod {

DeferredReply::DeferredReply(DeferredReply&& other) noexcept
    : to_(std::move(other.to_)), request_id_(other.request_id_) {
  other.request_id_ = 0;
}

DeferredReply& DeferredReply::operator=(DeferredReply&& other) noexcept {
  if (this != &other) {
    if (pending()) Send(Reply{500, "the handler gave no reply", {}, {}});
    to_ = std::move(other.to_);
    request_id_ = other.request_id_;
    other.request_id_ = 0;
  }
  return *this;
}

DeferredReply::~DeferredReply() {
  if (pending()) Send(Reply{500, "the handler gave no reply", {}, {}});
}

void DeferredReply::Send(Reply reply) {
  if (!pending()) return;
  const uint64_t id = request_id_;
  request_id_ = 0;
  if (!to_.state_) return;
  if (auto loop = to_.state_->loop.lock()) {
    (void)loop->SendReply(to_.state_->session, id, std::move(reply));
  }
}

}  // namespace procmod
