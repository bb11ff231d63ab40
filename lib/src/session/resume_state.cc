#include "session/resume_state.h"

#include <array>
#include <cstdio>
#include <random>

namespace procmod {
namespace {

uint64_t BytesOf(const std::vector<zmq::message_t>& frames) {
  uint64_t bytes = 0;
  for (const zmq::message_t& frame : frames) bytes += frame.size();
  return bytes;
}

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

bool ResumeState::Keep(uint64_t seq, std::vector<zmq::message_t>& frames) {
  const uint64_t bytes = BytesOf(frames);
  if (frames.empty() || !Fits(bytes)) return frames.empty();
  Kept& kept = kept_.emplace_back();
  kept.seq = seq;
  kept.bytes = bytes;
  kept.envelope = CopyOf(frames[0]);
  if (frames.size() > 1) {
    kept.payload.reserve(frames.size() - 1);
    for (size_t i = 1; i < frames.size(); ++i) kept.payload.push_back(CopyOf(frames[i]));
  }
  kept_bytes_ += bytes;
  return true;
}

bool ResumeState::Keep(uint64_t seq, zmq::message_t& envelope,
                       std::vector<zmq::message_t>& payload) {
  const uint64_t bytes = envelope.size() + BytesOf(payload);
  if (!Fits(bytes)) return false;
  Kept& kept = kept_.emplace_back();
  kept.seq = seq;
  kept.bytes = bytes;
  kept.envelope = CopyOf(envelope);
  if (!payload.empty()) {
    kept.payload.reserve(payload.size());
    for (zmq::message_t& frame : payload) kept.payload.push_back(CopyOf(frame));
  }
  kept_bytes_ += bytes;
  return true;
}

void ResumeState::Acknowledge(uint64_t ack) {
  while (!kept_.empty() && kept_.front().seq <= ack) {
    kept_bytes_ -= kept_.front().bytes;
    kept_.pop_front();
  }
}

std::vector<std::vector<zmq::message_t>> ResumeState::Unacknowledged(uint64_t after) {
  std::vector<std::vector<zmq::message_t>> out;
  for (Kept& kept : kept_) {
    if (kept.seq <= after) continue;
    std::vector<zmq::message_t> frames;
    frames.reserve(kept.payload.size() + 1);
    frames.push_back(CopyOf(kept.envelope));
    for (zmq::message_t& frame : kept.payload) frames.push_back(CopyOf(frame));
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
