// send_window.h: flow control between an application thread that calls
// Connection::Send and the I/O thread that hands the message to ZeroMQ.
//
// A link (a DEALER we dialed) has one window of `capacity` messages and
// `capacity_bytes` bytes of payload: Send takes a slot (and the message's bytes)
// before it queues a message for the I/O thread, and the I/O thread gives them back
// once the message is in ZeroMQ's own queue (or dropped because the peer is gone).
// The byte bound keeps big messages from piling up: 1,000 queued 64 KiB messages
// are 64 MiB that no cache holds, and cost a fifth of the throughput here.
//
// A sender that outruns its peer therefore waits in Send, as it would in zmq_send,
// instead of losing messages or growing memory; the I/O thread never waits. Senders
// that find the window full sleep until it has drained to half, so such a sender
// costs one wake-up per capacity/2 messages. Closing the window (the link is gone)
// wakes every waiting sender.
//
//   SendWindow window("session", 1000, 4 << 20);
//   if (Status s = window.Acquire(bytes, milliseconds(5000)); !s.ok()) return s;
//   ... queue the message; later, on the I/O thread: window.Release(bytes);
#ifndef PROCMOD_SRC_SESSION_SEND_WINDOW_H_
#define PROCMOD_SRC_SESSION_SEND_WINDOW_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>

#include "procmod/status.h"

namespace procmod {

class SendWindow {
 public:
  SendWindow(std::string session, int64_t capacity, int64_t capacity_bytes)
      : session_(std::move(session)),
        capacity_(capacity),
        low_water_(capacity / 2),
        capacity_bytes_(capacity_bytes),
        low_water_bytes_(capacity_bytes / 2) {}

  SendWindow(const SendWindow&) = delete;
  SendWindow& operator=(const SendWindow&) = delete;

  // Takes one slot and `bytes`, waiting up to `timeout` (0 = as long as the link
  // lives). A message bigger than the whole byte window still goes, alone.
  Status Acquire(int64_t bytes, std::chrono::milliseconds timeout) {
    if (TryAcquire(bytes)) return Status();
    return AcquireSlow(bytes, timeout);
  }

  // Gives one slot back (I/O thread). A waiting sender is woken only once the
  // window has drained to half: one wake-up per capacity/2 messages, not one each.
  void Release(int64_t bytes) {
    const int64_t used_bytes = used_bytes_.fetch_sub(bytes) - bytes;
    const int64_t used = used_.fetch_sub(1) - 1;
    if (used <= low_water_ && used_bytes <= low_water_bytes_ && waiters_.load() > 0) {
      std::lock_guard<std::mutex> lock(mu_);
      cv_.notify_all();
    }
  }

  // The link is gone: every waiter returns kUnavailable, now and later.
  void Close() {
    closed_.store(true);
    std::lock_guard<std::mutex> lock(mu_);
    cv_.notify_all();
  }

 private:
  bool TryAcquire(int64_t bytes) {
    if (closed_.load()) return false;
    // The byte bound is soft: senders racing past it together overshoot it by a
    // message each, which is harmless.
    if (used_bytes_.load() >= capacity_bytes_) return false;
    int64_t used = used_.load(std::memory_order_relaxed);
    while (used < capacity_) {
      if (used_.compare_exchange_weak(used, used + 1)) {
        used_bytes_.fetch_add(bytes);
        return true;
      }
    }
    return false;
  }

  Status AcquireSlow(int64_t bytes, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    // Registered before the check, so a Release that drains the window either
    // sees us waiting or happened before we look (then we do not wait).
    waiters_.fetch_add(1);
    auto ready = [this] {
      return closed_.load() ||
             (used_.load() <= low_water_ && used_bytes_.load() <= low_water_bytes_);
    };
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    bool woke = true;
    for (;;) {
      if (timeout.count() <= 0) {
        cv_.wait(lock, ready);
      } else {
        woke = cv_.wait_until(lock, deadline, ready);
      }
      if (!woke || closed_.load() || TryAcquire(bytes)) break;
      // Another sender took the room first: wait for the next drain.
    }
    waiters_.fetch_sub(1);
    if (closed_.load()) return UnavailableError("session " + session_ + " is gone");
    if (!woke) {
      return ResourceExhaustedError("send queue to session " + session_ + " stayed full for " +
                                    std::to_string(timeout.count()) +
                                    " ms: the peer does not keep up (timeouts.send)");
    }
    return Status();
  }

  const std::string session_;
  const int64_t capacity_;
  const int64_t low_water_;
  const int64_t capacity_bytes_;
  const int64_t low_water_bytes_;
  std::atomic<int64_t> used_bytes_{0};
  std::atomic<int64_t> used_{0};
  std::atomic<int> waiters_{0};
  std::atomic<bool> closed_{false};
  std::mutex mu_;
  std::condition_variable cv_;
};

}  // namespace procmod

#endif  // PROCMOD_SRC_SESSION_SEND_WINDOW_H_
