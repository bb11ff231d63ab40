// resume_state.h: what one side keeps so a session can outlive its link (PMP/1.2).
//
// A resumable session numbers its DATA, REQUEST and REPLY per direction (`seq`) and
// acknowledges what it received in order (`ack`). Each side keeps what it sent
// until the peer acknowledges it, in a replay buffer bounded in bytes, so that after
// a lost TCP connection (a libzmq redial, or a RESUME on a new socket) it can send
// again exactly what the peer missed; the receiver drops what it already has. The
// result: every message arrives once, in order, whatever the link did meanwhile.
//
// This class decides; it owns no socket. The IoLoop stamps each outgoing message
// with NextSeq() and AckToStamp(), keeps a copy with Keep(), and asks OnReceived()
// what to do with each incoming one. A kept message's small frames are copied into
// a ring of bytes; a large payload frame is shared with libzmq by reference count,
// not copied. I/O thread only (or a thread holding the loop lock), like the
// PeerRecord that holds it.
//
//   ResumeState resume(token, std::chrono::seconds(60), 64 << 20);
//   data.seq = resume.NextSeq(); data.ack = resume.AckToStamp();
//   if (!resume.Keep(data.seq, frames)) end the session: "resume buffer full";
//   ... on a resend or resume: if (!resume.CanResend(received)) end it: not replayable
//   switch (resume.OnReceived(message_seq, bytes)) { kDeliver: ...; kGap: ask again }
#ifndef PROCMOD_SRC_SESSION_RESUME_STATE_H_
#define PROCMOD_SRC_SESSION_RESUME_STATE_H_

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <zmq.hpp>

#include "base/clock.h"

namespace procmod {

class ResumeState {
 public:
  // A side sends a standalone acknowledgement (a PING) after receiving this many
  // messages, or bytes, without acknowledging any: a one-way stream still frees
  // its sender's buffer long before it fills (PROTOCOL.md, "Session resume").
  static constexpr uint64_t kAckEveryMessages = 10000;
  static constexpr uint64_t kAckEveryBytes = uint64_t{1} << 20;

  // `token` and `grace` as the acceptor's WELCOME said; `buffer_limit`: bytes of
  // unacknowledged messages this side keeps at most (resume.buffer).
  ResumeState(std::string token, Duration grace, uint64_t buffer_limit);

  const std::string& token() const { return token_; }
  Duration grace() const { return grace_; }

  // ---- sending ------------------------------------------------------------------
  // The `seq` of the next DATA, REQUEST or REPLY.
  uint64_t NextSeq() { return ++sent_; }
  // The highest seq handed out (PING's `sent`).
  uint64_t sent() const { return sent_; }
  // The `ack` for a PING going out now: it acknowledges all received.
  uint64_t AckToSend();
  // The `ack` to stamp on a DATA, REQUEST or REPLY going out now: all received, or
  // 0 (the key is left out) when that is what the last `ack` sent said already. A
  // one-way stream so carries one key per message, not two.
  uint64_t AckToStamp() { return received_ == acked_ ? 0 : AckToSend(); }
  // Keeps a copy of message `seq` until the peer acknowledges it. A message that
  // would take the buffer past its limit is not kept: on a live link it goes
  // without a replay copy (true; CanResend says whether a resume can still bring
  // back what the peer missed), and while suspended, where it could only wait in
  // the buffer, it cannot go at all (false: the session must end).
  bool Keep(uint64_t seq, std::vector<zmq::message_t>& frames);
  // The same for a message whose envelope frame has the bytes `envelope` and the
  // frames `payload` after it.
  bool Keep(uint64_t seq, std::span<const char> envelope, std::vector<zmq::message_t>& payload) {
    // Inline, the case of every small DATA: a payload that rides in its envelope,
    // and room in the ring and in kept_ already. It is a share of what a 64 B
    // message costs its sender (docs/BENCHMARKS.md, "Session resume").
    const size_t size = envelope.size();
    const uint64_t live = ring_end_ - ring_begin_ + size;
    if (payload.empty() && live <= ring_capacity_ && kept_.size() < kept_.capacity() &&
        Fits(size)) {
      IntoRing(ring_.get(), ring_capacity_, ring_end_, envelope.data(), size);
      ring_end_ += size;
      kept_.push_back(Kept{seq, ring_end_});
      return true;
    }
    return KeepMessage(seq, envelope, payload);
  }
  // The peer has everything up to `ack`: those copies go. Inline, because most
  // messages acknowledge nothing new (or carry no `ack`): one comparison.
  void Acknowledge(uint64_t ack) {
    if (kept_head_ < kept_.size() && kept_[kept_head_].seq <= ack) Release(ack);
  }
  // Whether everything after `after` (the peer's `received` or `ack`) can be sent
  // again: false while a message sent without a replay copy is not acknowledged.
  bool CanResend(uint64_t after) const { return after >= unkept_through_; }
  // The last message sent without a replay copy (0: none), and its size.
  uint64_t unkept_through() const { return unkept_through_; }
  uint64_t unkept_bytes() const { return unkept_bytes_; }
  // Copies of the kept messages after `after` (the peer's `received`), oldest
  // first, to send again; the buffer keeps them until acknowledged.
  std::vector<std::vector<zmq::message_t>> Unacknowledged(uint64_t after);
  uint64_t kept_bytes() const { return ring_end_ - ring_begin_ + shared_bytes_; }
  // Gives memory back that a burst took and the stream since the last call did not
  // need (at most half of it per call). Called once per heartbeat interval: a burst
  // is kept for the next one, not freed and faulted in again within the same second.
  void Trim();
  size_t ring_capacity() const { return ring_capacity_; }
  size_t kept_messages() const { return kept_.size() - kept_head_; }
  uint64_t buffer_limit() const { return buffer_limit_; }

  // ---- receiving ----------------------------------------------------------------
  enum class Arrival {
    kDeliver,    // the next in order: hand it to the application
    kDuplicate,  // had it already (sent again after a resume): drop it
    kGap,        // some before it were lost: drop it and ask for them again
  };
  Arrival OnReceived(uint64_t seq, uint64_t bytes) {
    if (seq <= received_) return Arrival::kDuplicate;
    if (seq != received_ + 1) return Arrival::kGap;
    received_ = seq;
    unacked_messages_++;
    unacked_bytes_ += bytes;
    return Arrival::kDeliver;
  }
  // The highest seq received in order (RESUME's and RESUMED's `received`).
  uint64_t received() const { return received_; }
  // Something arrived that this side has not acknowledged yet.
  bool OwesAck() const { return unacked_messages_ > 0; }
  // Enough arrived unacknowledged that an acknowledgement should go now.
  bool AckDue() const {
    return unacked_messages_ >= kAckEveryMessages || unacked_bytes_ >= kAckEveryBytes;
  }
  // Whether to ask the peer to send again what followed received() (a gap was seen,
  // or its PING said it sent more): once, then again only after `interval` while
  // received() has not moved, in case the first request was lost too.
  bool ShouldAskResend(TimePoint now, Duration interval);

  // ---- suspension ---------------------------------------------------------------
  // The link is lost at `now`: the session waits for a resume until now + grace.
  void Suspend(TimePoint now) {
    suspended_ = true;
    resume_by_ = now + grace_;
  }
  void Resumed() { suspended_ = false; }
  bool suspended() const { return suspended_; }
  // A Keep() failed: true the first time only, so the session is ended once.
  bool Overflow() { return !std::exchange(overflowed_, true); }
  TimePoint resume_by() const { return resume_by_; }

 private:
  // One kept payload frame: a small one's bytes in the ring (at the absolute
  // position `at`), a large one shared with the sent message by libzmq's reference
  // count. Copying a small frame costs less than sharing it: sharing makes libzmq's
  // I/O thread and ours touch the same count, and each free is a malloc'd block
  // (measured: a 64 B DATA stream lost a third of its rate to that).
  struct Piece {
    uint64_t at = 0;
    size_t size = 0;
    std::optional<zmq::message_t> shared;
  };
  // A kept message, 16 bytes: at a few hundred thousand messages in flight (what
  // loopback TCP buffers hold of 64 B DATA) every byte here is memory traffic. Its
  // bytes in the ring (its envelope, and payload frames copied after it) run from
  // where the previous kept message's end, or ring_begin_, to `end`; payload frames
  // apart from the envelope, when it has any, are in the payloads_ entry of its seq.
  // Storing where a message ends rather than its size lets Release() drop any
  // number of them with one search and one store.
  struct Kept {
    uint64_t seq = 0;
    uint64_t end = 0;
  };
  struct Payload {
    uint64_t seq = 0;
    uint64_t envelope_size = 0;
    std::vector<Piece> pieces;
    uint64_t shared_bytes = 0;  // of the pieces not in the ring
  };
  // Payload frames are copied up to this size, and shared above it.
  static constexpr size_t kCopyAtMost = 2048;
  // The ring's least size; it grows by doubling, and Trim() halves it.
  static constexpr size_t kMinRing = size_t{64} << 10;
  // Acknowledge() when it releases something.
  void Release(uint64_t ack);
  bool Fits(uint64_t bytes) const { return kept_bytes() + bytes <= buffer_limit_; }
  // The peaks Trim() reads. What is kept only grows between releases, so its peak
  // is what it held before a Release(), or holds now: noted there, not per Keep().
  void NotePeaks() {
    ring_peak_ = std::max(ring_peak_, ring_end_ - ring_begin_);
    kept_peak_ = std::max(kept_peak_, kept_.size() - kept_head_);
  }
  // What both Keep()s do: `envelope` and `payload` as one kept message.
  bool KeepMessage(uint64_t seq, std::span<const char> envelope, std::span<zmq::message_t> payload);
  Piece Store(zmq::message_t& frame);
  zmq::message_t Load(Piece& piece);
  // The ring: bytes [ring_begin_, ring_end_) in absolute positions, at index
  // position % capacity. Acknowledging moves ring_begin_; nothing is moved in memory.
  // IntoRing copies `size` bytes to absolute position `at` of a ring of `capacity`
  // (a power of two), in two pieces where they wrap.
  static void IntoRing(char* ring, size_t capacity, uint64_t at, const char* bytes, size_t size) {
    const size_t index = static_cast<size_t>(at & (capacity - 1));
    const size_t first = std::min(size, capacity - index);
    std::memcpy(ring + index, bytes, first);
    if (first < size) std::memcpy(ring, bytes + first, size - first);
  }
  void Append(const char* bytes, size_t size);
  zmq::message_t RingCopy(uint64_t at, size_t size) const;
  void Reshape(size_t capacity);

  const std::string token_;
  const Duration grace_;
  const uint64_t buffer_limit_;
  uint64_t sent_ = 0;
  uint64_t received_ = 0;
  uint64_t acked_ = 0;  // the last `ack` sent
  uint64_t unacked_messages_ = 0;
  uint64_t unacked_bytes_ = 0;
  // Seq ascending from kept_head_; the acknowledged head goes in bulk, so keeping
  // a message allocates nothing in the steady state.
  std::vector<Kept> kept_;
  size_t kept_head_ = 0;
  std::deque<Payload> payloads_;  // of the kept messages with payload frames, in order
  uint64_t shared_bytes_ = 0;     // of payloads_' shared pieces
  std::unique_ptr<char[]> ring_;
  size_t ring_capacity_ = 0;  // a power of two, or 0
  uint64_t ring_begin_ = 0;
  uint64_t ring_end_ = 0;
  uint64_t ring_peak_ = 0;  // the most bytes the ring held since the last Trim()
  size_t kept_peak_ = 0;    // the most entries kept_ held since then
  uint64_t resend_asked_at_received_ = UINT64_MAX;
  TimePoint resend_asked_at_{};
  bool suspended_ = false;
  bool overflowed_ = false;
  uint64_t unkept_through_ = 0;
  uint64_t unkept_bytes_ = 0;
  TimePoint resume_by_ = TimePoint::max();
};

// 32 lowercase hex digits of 128 random bits (std::random_device): the secret a
// RESUME must show.
std::string NewResumeToken();

// Compares two tokens in time that depends only on their length.
bool SameToken(const std::string& a, const std::string& b);

}  // namespace procmod

#endif  // PROCMOD_SRC_SESSION_RESUME_STATE_H_
