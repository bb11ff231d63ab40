// send_window.h: flow control between an application thread that calls
// Connection::Send and the I/O thread that hands the message to ZeroMQ.
//
// A link (a DEALER we dialed) has one window of `capacity` messages: Send takes a
// slot before it queues a message for the I/O thread, and the I/O thread gives the
// slot back once the message is in ZeroMQ's own queue (or dropped because the peer
// is gone). A sender that outruns its peer therefore waits in Send, as it would in
// zmq_send, instead of losing messages or growing memory; the I/O thread never
// waits. Closing the window (the link is gone) wakes every waiting sender.
//
//   SendWindow window(1000);
//   if (Status s = window.Acquire(milliseconds(5000)); !s.ok()) return s;
//   ... queue the message; later, on the I/O thread: window.Release();
#ifndef PROCMOD_SRC_SEND_WINDOW_H_
#define PROCMOD_SRC_SEND_WINDOW_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <semaphore>
#include <string>

#include "procmod/status.h"

namespace procmod {

class SendWindow {
 public:
  SendWindow(std::string session, std::ptrdiff_t capacity)
      : session_(std::move(session)), capacity_(capacity), slots_(capacity) {}

  SendWindow(const SendWindow&) = delete;
  SendWindow& operator=(const SendWindow&) = delete;

  // Takes one slot, waiting up to `timeout` (0 = as long as the link lives).
  Status Acquire(std::chrono::milliseconds timeout) {
    if (closed_.load(std::memory_order_acquire)) return Gone();
    bool got = false;
    if (timeout.count() <= 0) {
      slots_.acquire();
      got = true;
    } else {
      got = slots_.try_acquire_for(timeout);
    }
    if (!got) {
      return ResourceExhaustedError("send queue to session " + session_ + " stayed full for " +
                                    std::to_string(timeout.count()) +
                                    " ms: the peer does not keep up (timeouts.send)");
    }
    if (closed_.load(std::memory_order_acquire)) {
      slots_.release();  // pass the wake-up on to the next waiter
      return Gone();
    }
    return Status();
  }

  // Gives one slot back (I/O thread).
  void Release() { slots_.release(); }

  // The link is gone: every waiter returns kUnavailable, now and later.
  void Close() {
    if (closed_.exchange(true, std::memory_order_acq_rel)) return;
    slots_.release(capacity_);  // wakes waiters; each passes a slot on as it leaves
  }

 private:
  Status Gone() const { return UnavailableError("session " + session_ + " is gone"); }

  const std::string session_;
  const std::ptrdiff_t capacity_;
  std::counting_semaphore<> slots_;
  std::atomic<bool> closed_{false};
};

}  // namespace procmod

#endif  // PROCMOD_SRC_SEND_WINDOW_H_
