// numbered_stream.h: a stream of numbered messages, to check that what arrives is
// every message exactly once and in order.
//
// The sender sends Numbered(0), Numbered(1), ...; the receiver's data callback
// hands each payload to ReceivedNumbers::Add; the test waits for the count and
// compares the numbers with ZeroTo(count). A payload that is not one 4-byte frame
// is recorded as UINT32_MAX, so it fails the comparison too.
//
//   ReceivedNumbers got;   // on_data: got.Add(payload)
//   for (uint32_t i = 0; i < n; ++i) peer.Send(Numbered(i));
//   ASSERT_TRUE(got.WaitFor(n));
//   EXPECT_EQ(got.numbers(), ZeroTo(n));
#ifndef PROCMOD_TEST_SUPPORT_NUMBERED_STREAM_H_
#define PROCMOD_TEST_SUPPORT_NUMBERED_STREAM_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <vector>

#include "procmod/connection.h"

namespace procmod::testing {

inline Frames Numbered(uint32_t n) {
  Frames frames;
  frames.emplace_back(&n, sizeof n);
  return frames;
}

inline std::vector<uint32_t> ZeroTo(uint32_t n) {
  std::vector<uint32_t> numbers(n);
  for (uint32_t i = 0; i < n; ++i) numbers[i] = i;
  return numbers;
}

// What one side received, in order. Thread-safe: callbacks add, the test waits.
class ReceivedNumbers {
 public:
  void Add(const Frames& payload) {
    uint32_t n = UINT32_MAX;
    if (payload.size() == 1 && payload[0].size() == sizeof n) {
      std::memcpy(&n, payload[0].data(), sizeof n);
    }
    std::lock_guard<std::mutex> lock(mu_);
    numbers_.push_back(n);
    cv_.notify_all();
  }
  // False when fewer than `count` arrived within `timeout`.
  bool WaitFor(size_t count, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return numbers_.size() >= count; });
  }
  std::vector<uint32_t> numbers() {
    std::lock_guard<std::mutex> lock(mu_);
    return numbers_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<uint32_t> numbers_;
};

}  // namespace procmod::testing

#endif  // PROCMOD_TEST_SUPPORT_NUMBERED_STREAM_H_
