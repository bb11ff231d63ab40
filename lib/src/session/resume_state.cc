#include "session/resume_state.h"

#include <array>
#include <cstdio>
#include <random>

namespace procmod {
namespace {

zmq::message_t CopyOf(zmq::message_t& frame) {
  zmq::message_t copy;
  copy.copy(frame);  // libzmq shares a large buffer by reference count
  return copy;
}

}  // namespace

ResumeState::ResumeState(std::string token, Duration grace, uint64_t buffer_limit)
    : token_(std::move(token)), grace_(grace), buffer_limit_(buffer_limit) {}

uint64_t ResumeState::AckToSend() {
  unacked_messages_ = 0;
  unacked_bytes_ = 0;
  return received_;
}

ResumeState::Piece ResumeState::Store(zmq::message_t& frame) {
  Piece piece;
  piece.size = frame.size();
  if (frame.size() <= kCopyAtMost) {
    piece.at = log_base_ + log_.size();
    const char* bytes = frame.data<char>();
    log_.insert(log_.end(), bytes, bytes + frame.size());
  } else {
    piece.shared.emplace();
    piece.shared->copy(frame);  // libzmq shares a large buffer by reference count
  }
  return piece;
}

zmq::message_t ResumeState::Load(Piece& piece) {
  if (piece.shared) return CopyOf(*piece.shared);
  return zmq::message_t(log_.data() + (piece.at - log_base_), piece.size);
}

bool ResumeState::Keep(uint64_t seq, std::vector<zmq::message_t>& frames) {
  if (frames.empty()) return true;  // nothing to keep
  return KeepMessage(seq, frames[0], std::span<zmq::message_t>(frames).subspan(1));
}

bool ResumeState::Keep(uint64_t seq, zmq::message_t& envelope,
                       std::vector<zmq::message_t>& payload) {
  return KeepMessage(seq, envelope, payload);
}

bool ResumeState::KeepMessage(uint64_t seq, zmq::message_t& envelope,
                              std::span<zmq::message_t> payload) {
  uint64_t bytes = envelope.size();
  for (const zmq::message_t& frame : payload) bytes += frame.size();
  if (!Fits(bytes)) return false;
  Kept& kept = kept_.emplace_back();
  kept.seq = seq;
  kept.bytes = bytes;
  kept.log_from = log_base_ + log_.size();
  kept.envelope = Store(envelope);
  if (!payload.empty()) {
    kept.payload.reserve(payload.size());
    for (zmq::message_t& frame : payload) kept.payload.push_back(Store(frame));
  }
  kept_bytes_ += bytes;
  return true;
}

void ResumeState::Acknowledge(uint64_t ack) {
  while (kept_head_ < kept_.size() && kept_[kept_head_].seq <= ack) {
    kept_bytes_ -= kept_[kept_head_].bytes;
    kept_[kept_head_] = Kept{};  // a shared frame goes now
    ++kept_head_;
  }
  const bool none = kept_head_ == kept_.size();
  const uint64_t keep_from = none ? log_base_ + log_.size() : kept_[kept_head_].log_from;
  if (none) {
    kept_.clear();
    kept_head_ = 0;
  } else if (kept_head_ >= 1024 && kept_head_ * 2 >= kept_.size()) {
    kept_.erase(kept_.begin(), kept_.begin() + static_cast<std::ptrdiff_t>(kept_head_));
    kept_head_ = 0;
  }
  // The log's acknowledged head goes once it is half the log (and worth a move):
  // each byte is moved at most once on average, and nothing is allocated anew.
  const auto drop = static_cast<size_t>(keep_from - log_base_);
  if (drop == log_.size()) {
    log_base_ += drop;
    log_.clear();
  } else if (drop >= (size_t{64} << 10) && drop * 2 >= log_.size()) {
    log_.erase(log_.begin(), log_.begin() + static_cast<std::ptrdiff_t>(drop));
    log_base_ += drop;
  }
}

std::vector<std::vector<zmq::message_t>> ResumeState::Unacknowledged(uint64_t after) {
  std::vector<std::vector<zmq::message_t>> out;
  for (size_t i = kept_head_; i < kept_.size(); ++i) {
    Kept& kept = kept_[i];
    if (kept.seq <= after) continue;
    std::vector<zmq::message_t> frames;
    frames.reserve(kept.payload.size() + 1);
    frames.push_back(Load(kept.envelope));
    for (Piece& piece : kept.payload) frames.push_back(Load(piece));
    out.push_back(std::move(frames));
  }
  return out;
}

ResumeState::Arrival ResumeState::OnReceived(uint64_t seq, uint64_t bytes) {
  if (seq <= received_) return Arrival::kDuplicate;
  if (seq != received_ + 1) return Arrival::kGap;
  received_ = seq;
  unacked_messages_++;
  unacked_bytes_ += bytes;
  return Arrival::kDeliver;
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
