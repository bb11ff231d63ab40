// reply_slot.h: where the answer to one REQUEST is put (by the I/O thread, or by the
// thread that leads for it) and where its ReplyFuture waits for it.
//
// It does what a std::promise / std::future pair would, minus one system call per
// request: libstdc++'s promise::set_value runs std::call_once, and glibc's
// pthread_once wakes futex waiters unconditionally, so every reply cost a futex
// call even with nobody waiting. Here a reply nobody waits for costs a mutex that
// nobody contends, and a condition variable with no waiters (no system call).
//
//   auto slot = std::make_shared<ReplySlot>();
//   slot->Set(Reply{...});              // the first value wins until it is taken
//   if (slot->WaitUntil(deadline)) Result<Reply> r = slot->Take();
#ifndef PROCMOD_SRC_SESSION_REPLY_SLOT_H_
#define PROCMOD_SRC_SESSION_REPLY_SLOT_H_

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>

#include "procmod/connection.h"
#include "procmod/result.h"

namespace procmod {

class ReplySlot {
 public:
  void Set(Result<Reply> value) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (value_) return;
      value_.emplace(std::move(value));
    }
    ready_.notify_all();
  }

  bool ready() const {
    std::lock_guard<std::mutex> lock(mu_);
    return value_.has_value();
  }

  // True once a value is there; false at `deadline`.
  bool WaitUntil(std::chrono::steady_clock::time_point deadline) const {
    std::unique_lock<std::mutex> lock(mu_);
    auto set = [this] { return value_.has_value(); };
    if (deadline == std::chrono::steady_clock::time_point::max()) {
      ready_.wait(lock, set);  // no deadline arithmetic to overflow
      return true;
    }
    return ready_.wait_until(lock, deadline, set);
  }

  // Waits for the value and moves it out. Once: ReplyFuture::get() lets go of the
  // slot as it takes it, so nothing waits on it afterwards.
  Result<Reply> Take() {
    std::unique_lock<std::mutex> lock(mu_);
    ready_.wait(lock, [this] { return value_.has_value(); });
    Result<Reply> value = std::move(*value_);
    value_.reset();
    return value;
  }

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable ready_;
  std::optional<Result<Reply>> value_;
};

}  // namespace procmod

#endif  // PROCMOD_SRC_SESSION_REPLY_SLOT_H_
