// pending_requests.h: the REQUESTs this process sent and still awaits a REPLY for.
//
// Each one has a reply slot (reply_slot.h) its ReplyFuture waits on, the session it
// went to and a deadline. A request ends exactly once: its REPLY comes (Complete), its
// deadline passes (Expire: kDeadlineExceeded), its peer goes (FailSession) or the
// module does (FailAll). Whatever ends it first takes it out, so a late REPLY finds
// nothing and is dropped.
//
// No sockets and no clock of its own: callers pass `now`, and send nothing through
// it; it only fills reply slots, which wakes whoever waits on them. Thread-compatible:
// the IoLoop touches it only holding its loop lock (loop_mu_), from the I/O thread or
// from a thread that sends a request or leads for its reply.
//
//   PendingRequests pending;
//   pending.Add(id, session, now + timeout, slot);
//   if (std::shared_ptr<ReplySlot> slot = pending.Complete(reply.id)) slot->Set(...);
//   pending.Expire(now);                 // overdue ones get kDeadlineExceeded
//   poll timeout: PollTimeout(now, pending.NextDeadline())
#ifndef PROCMOD_SRC_SESSION_PENDING_REQUESTS_H_
#define PROCMOD_SRC_SESSION_PENDING_REQUESTS_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>

#include "base/clock.h"
#include "procmod/status.h"
#include "session/reply_slot.h"

namespace procmod {

class PendingRequests {
 public:
  struct Request {
    std::shared_ptr<ReplySlot> reply;
    TimePoint deadline;
    std::string session;
  };

  // Registers request `id` (ids are unique: the IoLoop counts them).
  void Add(uint64_t id, std::string session, TimePoint deadline, std::shared_ptr<ReplySlot> reply);

  // The request `id` while it is pending, else null. Valid until the next change.
  const Request* Find(uint64_t id) const;

  // Takes request `id` out and returns the slot its REPLY goes to; null when the id
  // is not pending (timed out or failed already, or not ours). The caller fills the
  // slot: only it knows what the REPLY says.
  std::shared_ptr<ReplySlot> Complete(uint64_t id);

  // Every request whose deadline is at or before `now` gets kDeadlineExceeded,
  // earliest first, and is taken out. Returns how many.
  size_t Expire(TimePoint now);

  // Every request to `session` gets `why` and is taken out. Returns how many.
  size_t FailSession(const std::string& session, const Status& why);

  // Every request gets `why` and is taken out. Returns how many.
  size_t FailAll(const Status& why);

  // The earliest deadline, TimePoint::max() when nothing is pending.
  TimePoint NextDeadline() const;

  size_t size() const { return requests_.size(); }
  bool empty() const { return requests_.empty(); }

 private:
  std::unordered_map<uint64_t, Request> requests_;
  // The same requests by deadline, so expiry and the poll timeout need not scan.
  std::set<std::pair<TimePoint, uint64_t>> deadlines_;
};

}  // namespace procmod

#endif  // PROCMOD_SRC_SESSION_PENDING_REQUESTS_H_
