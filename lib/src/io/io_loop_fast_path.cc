// The caller's fast path: Connection::Send and Request, and a request's wait for its
// reply. Where the I/O thread is asleep, the calling thread borrows the loop lock
// and does the I/O thread's work itself (io_loop.h, "The loop lock"): a request to
// a peer we dialed is then a raw ZeroMQ round trip, with no thread hand-over.
#include <poll.h>

#include <array>

#include "io/io_loop.h"
#include "session/connection_state.h"

namespace procmod {

Status IoLoop::Send(const std::shared_ptr<const Connection::State>& to, std::string_view channel,
                    Frames payload) {
  Command data;
  data.to = to;
  data.channel = std::string(channel);
  data.payload = std::move(payload);
  if (OnIoThread()) {  // from a callback: now, in order, and never waiting
    SendData(data);
    return Status();
  }
  if (to->window) {
    const auto bytes = static_cast<int64_t>(FrameBytes(data.payload));
    if (Status s = to->window->Acquire(bytes, options_.timeouts.send); !s.ok()) return s;
    data.window_bytes = bytes;
  }
  if (!Enqueue(std::move(data))) {
    if (to->window) to->window->Release(data.window_bytes);
    return AbortedError("process module finalized");
  }
  return Status();
}

void IoLoop::SendData(Command& data) {
  const Connection::State& to = *data.to;
  if (to.link_id != 0) {
    auto it = links_.find(to.link_id);
    if (it != links_.end() && it->second->admitted() && it->second->peer().session == to.session) {
      Link& link = *it->second;
      // The same session, so the same window: Link::Admit makes one per session.
      pmp::Data header{std::move(data.channel), {}};
      const uint64_t seq = Stamp(link.peer(), header.seq, header.ack);
      std::span<const char> bytes;
      zmq::message_t envelope =
          pmp::EncodeDataEnvelope(header, data.payload, link.peer().payload_form, &bytes);
      if (!Keep(link.peer(), seq, envelope, bytes, data.payload)) {
        if (data.window_bytes >= 0) to.window->Release(data.window_bytes);
        return;
      }
      link.Send(std::move(envelope), std::move(data.payload), now_, data.window_bytes);
      return;
    }
  }
  // The session is gone: nothing to wait for.
  if (data.window_bytes >= 0) to.window->Release(data.window_bytes);
  SendToPeer(to.session, pmp::Data{std::move(data.channel), {}}, std::move(data.payload));
}

ReplyFuture IoLoop::Request(const std::string& session, std::string method, std::string args,
                            Frames payload, milliseconds timeout) {
  const uint64_t id = next_request_id_.fetch_add(1, std::memory_order_relaxed);
  auto reply = std::make_shared<ReplySlot>();
  ReplyFuture future(reply, weak_from_this(), id);
  if (!OnIoThread()) {
    // The I/O thread asleep: send it ourselves rather than wake it to send it.
    std::unique_lock<std::mutex> loop(loop_mu_, std::try_to_lock);
    Link* link = loop.owns_lock() && !stopping_ ? LeadableLink(session) : nullptr;
    if (link != nullptr) {
      bool queued = false;
      {
        std::lock_guard<std::mutex> lock(mu_);
        queued = !commands_.empty();  // posted before us: must go first
      }
      if (!queued) {
        StartRequest(session, id, std::move(method), std::move(args), std::move(payload), timeout,
                     std::move(reply));
        // The send may have run the socket's commands, and so taken the announcement
        // of input the sleeping I/O thread waits for; a REQUEST the socket refused
        // waits in the outbox, which only the I/O thread flushes. Asked now, not in
        // get(): a future nobody waits on must not leave a message unseen until the
        // next tick (and get() then waits on the drained socket at once).
        if (link->HasWork()) Wake();
        return future;
      }
    }
  }
  auto frames = std::make_shared<Frames>(std::move(payload));
  const bool posted = Dispatch([this, session, id, method = std::move(method),
                                args = std::move(args), frames, timeout, reply]() mutable {
    StartRequest(session, id, std::move(method), std::move(args), std::move(*frames), timeout,
                 std::move(reply));
  });
  if (!posted) reply->Set(AbortedError("process module finalized"));
  return future;
}

void IoLoop::StartRequest(const std::string& session, uint64_t id, std::string method,
                          std::string args, Frames payload, milliseconds timeout,
                          std::shared_ptr<ReplySlot> reply) {
  if (FindPeer(session) == nullptr) {
    reply->Set(UnavailableError("session " + session + " is gone"));
    return;
  }
  pmp::Request header{id, std::move(method), std::move(args), {}};
  if (!SendToPeer(session, std::move(header), std::move(payload))) {
    reply->Set(ResourceExhaustedError("send queue to " + session + " is full"));
    return;
  }
  const TimePoint deadline = clock_.Now() + timeout;
  requests_.Add(id, session, deadline, std::move(reply));
  // Sent by another thread while the I/O thread sleeps: it must wake for the deadline.
  if (deadline < wakes_at_) Wake();
}

Link* IoLoop::LeadableLink(const std::string& session) {
  auto by_session = link_by_session_.find(session);
  if (by_session == link_by_session_.end()) return nullptr;
  auto it = links_.find(by_session->second);
  if (it == links_.end()) return nullptr;
  Link& link = *it->second;
  const bool leadable = link.admitted() && link.has_socket() && !link.registered() &&
                        link.outbox_empty() && !link.has_held();
  return leadable ? &link : nullptr;
}

bool IoLoop::LeadForReply(uint64_t request_id, TimePoint until) {
  if (OnIoThread()) return false;  // it holds the loop already, and must not wait here
  std::unique_lock<std::mutex> loop(loop_mu_, std::try_to_lock);
  if (!loop.owns_lock() || stopping_ || lead_abort_.load()) return true;
  const PendingRequests::Request* request = requests_.Find(request_id);
  if (request == nullptr) return true;  // answered, failed, or not sent yet
  Link* link = LeadableLink(request->session);
  if (link == nullptr) return true;
  // Past the request's deadline the I/O thread answers it (kDeadlineExceeded).
  until = std::min(until, request->deadline);
  link->SuspendPolling();
  AwaitReplyOnLink(*link, request_id, until);
  link->ResumePolling();  // level-triggered: a readable fd wakes the I/O thread
  // Its ZMQ_FD does not signal again for what is already queued.
  if (link->HasWork()) Wake();
  return true;
}

void IoLoop::AwaitReplyOnLink(Link& link, uint64_t request_id, TimePoint until) {
  const int socket_fd = link.polled().fd();
  // A drained socket's descriptor announces what comes (polled_socket.h): wait first.
  bool receive = !link.polled().drained() || link.has_held();
  for (;;) {
    now_ = clock_.Now();
    bool more = false;
    const bool received = receive && ReceiveFromLink(link, &more);
    if (receive && !received && more) continue;  // skipped (answered with ERROR)
    receive = true;
    if (received) {
      // REPLYs (another thread's too) and PINGs run no callback: settled here.
      // Their sequence numbers too (a duplicate, or a REPLY after a gap, which is
      // asked for again, is dropped); what is held is sequenced by the I/O thread.
      const pmp::Command command = rx_message_.command();
      if ((command == pmp::Command::kReply || command == pmp::Command::kPing) &&
          link.peer().resume && !Sequence(link.peer(), PeerKind::kLinked, rx_message_)) {
        continue;
      }
      // Anything else goes to the I/O thread, and so does all that follows it.
      switch (rx_message_.command()) {
        case pmp::Command::kReply: {
          pmp::Reply& reply = std::get<pmp::Reply>(rx_message_.header);
          const bool ours = reply.id == request_id;
          OnReply(reply, std::move(rx_message_.payload));
          if (ours) return;
          continue;
        }
        case pmp::Command::kPing:
          OnPing(link.peer(), std::get<pmp::Ping>(rx_message_.header));
          continue;
        default:
          link.Hold(std::move(rx_message_));
          return;
      }
    }
    if (now_ >= until || lead_abort_.load()) return;
    std::array<pollfd, 2> fds{{{socket_fd, POLLIN, 0}, {lead_abort_fd_.fd(), POLLIN, 0}}};
    const milliseconds wait = PollTimeout(now_, until);
    const int ready = poll(fds.data(), fds.size(), static_cast<int>(wait.count()));
    if (ready > 0 && (fds[1].revents & POLLIN)) return;  // the I/O thread wants it
  }
}

}  // namespace procmod
