// loop_side.h: one I/O loop of a two-sided test, and what its callbacks saw.
//
// Tests that run a server loop and a client loop against each other (big messages,
// slow links) watch the same things on both: the DATA that arrived, in order, and
// whether the session was suspended, resumed or ended meanwhile, and why. The
// payloads are kept as they came (no copy: they may be 256 MiB), to be checked on
// the test's thread rather than in the callback, which would hold up the I/O
// thread and with it the heartbeats.
//
//   LoopSide server;                       // shuts its loop down when it goes
//   ASSERT_TRUE(server.Start(options, /*echo=*/true));
//   ... ASSERT_TRUE(server.WaitForData(1, seconds(30))) << server.EventText();
//   EXPECT_EQ(server.EventText(), "");  // neither suspended nor ended
#ifndef PROCMOD_TEST_SUPPORT_LOOP_SIDE_H_
#define PROCMOD_TEST_SUPPORT_LOOP_SIDE_H_

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "io/io_loop.h"

namespace procmod::testing {

struct LoopSide {
  std::shared_ptr<IoLoop> loop;
  std::mutex mu;
  std::condition_variable cv;
  // Guarded by mu.
  std::vector<Frames> data;         // each DATA's payload, in order
  std::vector<std::string> events;  // "suspended", "resumed", "REASON: message"
  Connection peer;                  // the latest admitted

  LoopSide() = default;
  LoopSide(const LoopSide&) = delete;
  LoopSide& operator=(const LoopSide&) = delete;
  // The loop ends before what its callbacks write to does.
  ~LoopSide() {
    if (loop) loop->Shutdown();
  }

  // Creates the loop of `options` and watches it; with `echo`, its handler "echo"
  // answers each request with the request's own payload.
  ::testing::AssertionResult Start(const Options& options, bool echo = false) {
    Result<std::shared_ptr<IoLoop>> created = IoLoop::Create(options);
    if (!created.ok()) return ::testing::AssertionFailure() << created.status().ToString();
    loop = *created;
    Watch();
    if (echo) {
      loop->SetHandler("echo", [](IncomingRequest& request) {
        return Reply{0, {}, {}, std::move(request.payload)};
      });
    }
    return ::testing::AssertionSuccess();
  }

  void Watch() {
    loop->SetOnConnected([this](const Connection& c) {
      std::lock_guard<std::mutex> lock(mu);
      peer = c;
      cv.notify_all();
    });
    loop->SetOnData([this](const Connection&, std::string_view, Frames payload) {
      std::lock_guard<std::mutex> lock(mu);
      data.push_back(std::move(payload));
      cv.notify_all();
    });
    loop->SetOnSuspended(
        [this](const Connection&, std::chrono::milliseconds) { Note("suspended"); });
    loop->SetOnResumed([this](const Connection&) { Note("resumed"); });
    loop->SetOnDisconnected([this](const Connection&, const Disconnect& how) {
      Note(std::string(DisconnectReasonName(how.reason)) + ": " + how.message);
    });
  }

  // True once `count` DATA arrived; false at `timeout`, or as soon as the session
  // was suspended or ended before they did.
  bool WaitForData(size_t count, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_for(lock, timeout, [&] { return data.size() >= count || !events.empty(); });
    return data.size() >= count;
  }

  // True once an event starting with `what` ("suspended", "expired") was seen.
  bool WaitForEvent(const std::string& what, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, timeout, [&] {
      for (const std::string& e : events) {
        if (e.rfind(what, 0) == 0) return true;
      }
      return false;
    });
  }

  // The events so far, "; "-separated: "" when the session stayed up throughout.
  std::string EventText() {
    std::lock_guard<std::mutex> lock(mu);
    std::string out;
    for (const std::string& e : events) out += e + "; ";
    return out;
  }

 private:
  void Note(std::string what) {
    std::lock_guard<std::mutex> lock(mu);
    events.push_back(std::move(what));
    cv.notify_all();
  }
};

}  // namespace procmod::testing

#endif  // PROCMOD_TEST_SUPPORT_LOOP_SIDE_H_
