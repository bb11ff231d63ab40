#include "session/pending_requests.h"

namespace procmod {

void PendingRequests::Add(uint64_t id, std::string session, TimePoint deadline,
                          std::shared_ptr<ReplySlot> reply) {
  requests_.emplace(id, Request{std::move(reply), deadline, std::move(session)});
  deadlines_.emplace(deadline, id);
}

const PendingRequests::Request* PendingRequests::Find(uint64_t id) const {
  auto it = requests_.find(id);
  return it == requests_.end() ? nullptr : &it->second;
}

std::shared_ptr<ReplySlot> PendingRequests::Complete(uint64_t id) {
  auto it = requests_.find(id);
  if (it == requests_.end()) return nullptr;
  deadlines_.erase({it->second.deadline, id});
  std::shared_ptr<ReplySlot> reply = std::move(it->second.reply);
  requests_.erase(it);
  return reply;
}

size_t PendingRequests::Expire(TimePoint now) {
  size_t expired = 0;
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    const uint64_t id = deadlines_.begin()->second;
    deadlines_.erase(deadlines_.begin());
    auto it = requests_.find(id);
    if (it == requests_.end()) continue;
    it->second.reply->Set(
        DeadlineExceededError("no reply from session " + it->second.session + " in time"));
    requests_.erase(it);
    ++expired;
  }
  return expired;
}

size_t PendingRequests::FailSession(const std::string& session, const Status& why) {
  size_t failed = 0;
  for (auto it = requests_.begin(); it != requests_.end();) {
    if (it->second.session == session) {
      deadlines_.erase({it->second.deadline, it->first});
      it->second.reply->Set(why);
      it = requests_.erase(it);
      ++failed;
    } else {
      ++it;
    }
  }
  return failed;
}

size_t PendingRequests::FailAll(const Status& why) {
  const size_t failed = requests_.size();
  for (auto& [id, request] : requests_) request.reply->Set(why);
  requests_.clear();
  deadlines_.clear();
  return failed;
}

TimePoint PendingRequests::NextDeadline() const {
  return deadlines_.empty() ? TimePoint::max() : deadlines_.begin()->first;
}

}  // namespace procmod
