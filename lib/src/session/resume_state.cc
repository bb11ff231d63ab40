#include "session/resume_state.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <random>

namespace procmod {
namespace {

zmq::message_t CopyOf(zmq::message_t& frame) {
  zmq::message_t copy;
  copy.copy(frame);  // libzmq shares a large buffer by reference count
  return copy;
}

// `size` bytes from `ring` (of `capacity`, a power of two) at absolute position `at`
// to flat memory, in at most two pieces where they wrap (IntoRing's inverse).
void OutOfRing(const char* ring, size_t capacity, uint64_t at, char* bytes, size_t size) {
  const size_t index = static_cast<size_t>(at & (capacity - 1));
  const size_t first = std::min(size, capacity - index);
  std::memcpy(bytes, ring + index, first);
  if (first < size) std::memcpy(bytes + first, ring, size - first);
}

}  // namespace

ResumeState::ResumeState(std::string token, Duration grace, uint64_t buffer_limit)
    : token_(std::move(token)), grace_(grace), buffer_limit_(buffer_limit) {}

uint64_t ResumeState::AckToSend() {
  unacked_messages_ = 0;
  unacked_bytes_ = 0;
  acked_ = received_;
  return received_;
}

void ResumeState::Append(const char* bytes, size_t size) {
  const uint64_t live = ring_end_ - ring_begin_;
  if (live + size > ring_capacity_) {
    size_t capacity = std::max(ring_capacity_, kMinRing);
    while (capacity < live + size) capacity *= 2;
    Reshape(capacity);
  }
  IntoRing(ring_.get(), ring_capacity_, ring_end_, bytes, size);
  ring_end_ += size;
}

zmq::message_t ResumeState::RingCopy(uint64_t at, size_t size) const {
  zmq::message_t copy(size);
  OutOfRing(ring_.get(), ring_capacity_, at, copy.data<char>(), size);
  return copy;
}

// A new ring of `capacity` holding the live bytes at the same absolute positions.
void ResumeState::Reshape(size_t capacity) {
  auto ring = std::make_unique_for_overwrite<char[]>(capacity);  // no zeroing
  const size_t live = static_cast<size_t>(ring_end_ - ring_begin_);
  if (live > 0) {
    // Two runs at most in the old ring, each copied to where it now belongs.
    const size_t index = static_cast<size_t>(ring_begin_ & (ring_capacity_ - 1));
    const size_t first = std::min(live, ring_capacity_ - index);
    IntoRing(ring.get(), capacity, ring_begin_, ring_.get() + index, first);
    IntoRing(ring.get(), capacity, ring_begin_ + first, ring_.get(), live - first);
  }
  ring_ = std::move(ring);
  ring_capacity_ = capacity;
}

ResumeState::Piece ResumeState::Store(zmq::message_t& frame) {
  Piece piece;
  piece.size = frame.size();
  if (piece.size <= kCopyAtMost) {
    piece.at = ring_end_;
    Append(frame.data<char>(), piece.size);
  } else {
    piece.shared = CopyOf(frame);
  }
  return piece;
}

zmq::message_t ResumeState::Load(Piece& piece) {
  if (piece.shared) return CopyOf(*piece.shared);
  return RingCopy(piece.at, piece.size);
}

bool ResumeState::Keep(uint64_t seq, std::vector<zmq::message_t>& frames) {
  if (frames.empty()) return true;  // nothing to keep
  return KeepMessage(seq, std::span<const char>(frames[0].data<char>(), frames[0].size()),
                     std::span<zmq::message_t>(frames).subspan(1));
}

bool ResumeState::KeepMessage(uint64_t seq, std::span<const char> envelope,
                              std::span<zmq::message_t> payload) {
  uint64_t bytes = envelope.size();
  for (const zmq::message_t& frame : payload) bytes += frame.size();
  if (!Fits(bytes)) {
    // A single message bigger than the buffer, or a burst that outgrew it, is what
    // bulk data looks like: ending a healthy session for it would make the buffer
    // a limit on message size. It goes unkept, and only a resume that would need
    // it fails (CanResend). While suspended it could only wait here: refused.
    if (suspended_) return false;
    unkept_through_ = seq;
    unkept_bytes_ = bytes;
    return true;
  }
  Append(envelope.data(), envelope.size());
  if (!payload.empty()) {
    Payload& apart = payloads_.emplace_back();
    apart.seq = seq;
    apart.envelope_size = envelope.size();
    apart.pieces.reserve(payload.size());
    for (zmq::message_t& frame : payload) {
      apart.pieces.push_back(Store(frame));
      if (apart.pieces.back().shared) apart.shared_bytes += apart.pieces.back().size;
    }
    shared_bytes_ += apart.shared_bytes;
  }
  kept_.push_back(Kept{seq, ring_end_});
  return true;
}

void ResumeState::Release(uint64_t ack) {
  NotePeaks();
  // Seqs ascend: the first one not acknowledged, found by halving.
  const auto first_kept =
      std::upper_bound(kept_.begin() + static_cast<std::ptrdiff_t>(kept_head_), kept_.end(), ack,
                       [](uint64_t acked, const Kept& kept) { return acked < kept.seq; });
  const size_t head = static_cast<size_t>(first_kept - kept_.begin());
  ring_begin_ = kept_[head - 1].end;  // Acknowledge() saw kept_[kept_head_] acknowledged
  while (!payloads_.empty() && payloads_.front().seq <= ack) {  // their shared frames go now
    shared_bytes_ -= payloads_.front().shared_bytes;
    payloads_.pop_front();
  }
  kept_head_ = head;
  if (kept_head_ == kept_.size()) {
    kept_.clear();
    kept_head_ = 0;
  } else if (kept_head_ >= 1024 && kept_head_ * 2 >= kept_.size()) {
    kept_.erase(kept_.begin(), kept_.begin() + static_cast<std::ptrdiff_t>(kept_head_));
    kept_head_ = 0;
  }
}

void ResumeState::Trim() {
  NotePeaks();
  if (ring_capacity_ > kMinRing && ring_peak_ * 4 < ring_capacity_) {
    Reshape(ring_capacity_ / 2);
  }
  if (kept_.capacity() > 1024 && kept_peak_ * 4 < kept_.capacity()) {
    kept_.erase(kept_.begin(), kept_.begin() + static_cast<std::ptrdiff_t>(kept_head_));
    kept_head_ = 0;
    std::vector<Kept> smaller;
    smaller.reserve(kept_.capacity() / 2);
    std::move(kept_.begin(), kept_.end(), std::back_inserter(smaller));
    kept_ = std::move(smaller);
  }
  ring_peak_ = ring_end_ - ring_begin_;
  kept_peak_ = kept_.size() - kept_head_;
}

std::vector<std::vector<zmq::message_t>> ResumeState::Unacknowledged(uint64_t after) {
  std::vector<std::vector<zmq::message_t>> out;
  uint64_t at = ring_begin_;  // where the next kept message's bytes are
  auto apart = payloads_.begin();
  for (size_t i = kept_head_; i < kept_.size(); ++i) {
    const Kept& kept = kept_[i];
    Payload* payload = apart != payloads_.end() && apart->seq == kept.seq ? &*apart++ : nullptr;
    if (kept.seq > after) {
      std::vector<zmq::message_t> frames;
      frames.reserve(1 + (payload ? payload->pieces.size() : 0));
      frames.push_back(RingCopy(at, payload ? payload->envelope_size : kept.end - at));
      if (payload) {
        for (Piece& piece : payload->pieces) frames.push_back(Load(piece));
      }
      out.push_back(std::move(frames));
    }
    at = kept.end;
  }
  return out;
}

bool ResumeState::ShouldAskResend(TimePoint now, Duration interval) {
  if (resend_asked_at_received_ == received_ && now - resend_asked_at_ < interval) return false;
  resend_asked_at_received_ = received_;
  resend_asked_at_ = now;
  return true;
}

std::string NewResumeToken() {
  std::random_device device;
  std::array<uint32_t, 4> words{device(), device(), device(), device()};
  std::string token;
  token.reserve(32);
  for (uint32_t word : words) {
    std::array<char, 9> hex{};
    std::snprintf(hex.data(), hex.size(), "%08x", word);
    token.append(hex.data(), 8);
  }
  return token;
}

bool SameToken(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

}  // namespace procmod
