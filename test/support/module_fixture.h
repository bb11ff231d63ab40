// module_fixture.h: a process module under test, torn down after every test.
#ifndef PROCMOD_TEST_SUPPORT_MODULE_FIXTURE_H_
#define PROCMOD_TEST_SUPPORT_MODULE_FIXTURE_H_

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <optional>

#include "procmod/process_module.h"
#include "support/raw_peer.h"

namespace procmod::testing {

// Options for a module under test: loopback, port 0, short handshake.
inline Options TestOptions(Role role, Mode mode = Mode::kForward) {
  Options o;
  o.name = "under-test";
  o.role = role;
  o.mode = mode;
  o.listen = "tcp://127.0.0.1:0";
  o.timeouts.handshake = milliseconds(1000);
  o.timeouts.connect = milliseconds(5000);
  o.linger = milliseconds(0);
  return o;
}

// A queue callbacks push into (from the I/O thread) and tests pop with a deadline.
// Callbacks hold a reference to it, so it must outlive the module: make it a member
// of the fixture (destroyed after TearDown() finalizes the module), not a local.
template <typename T>
class Mailbox {
 public:
  void Push(T value) {
    // Notify under the lock: once Pop() has the value, Push() touches nothing more.
    std::lock_guard<std::mutex> lock(mu_);
    items_.push_back(std::move(value));
    cv_.notify_all();
  }
  std::optional<T> Pop(milliseconds timeout = kDeadline) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, timeout, [this] { return !items_.empty(); })) return std::nullopt;
    T value = std::move(items_.front());
    items_.pop_front();
    return value;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<T> items_;
};

class ModuleTest : public ::testing::Test {
 protected:
  void TearDown() override { ProcessModule::Finalize(); }

  ProcessModule* Init(const Options& options) {
    Result<ProcessModule*> module = ProcessModule::Initialize(options);
    EXPECT_TRUE(module.ok()) << module.status().ToString();
    return module.ok() ? *module : nullptr;
  }

  // Initialize + Start for an accepting side; returns the module, endpoint in
  // endpoint_.
  ProcessModule* StartAcceptor(const Options& options) {
    ProcessModule* module = Init(options);
    if (module == nullptr) return nullptr;
    Status s = module->Start();
    EXPECT_TRUE(s.ok()) << s.ToString();
    endpoint_ = module->ListenEndpoint();
    return module;
  }

  // Runs `fn` on another thread (Start() of a waiting side blocks).
  template <typename F>
  auto Async(F fn) {
    return std::async(std::launch::async, std::move(fn));
  }

  zmq::context_t context_;
  std::string endpoint_;
};

// Waits until `predicate` holds, polling the module's state; false on deadline.
template <typename P>
bool Eventually(P predicate, milliseconds timeout = kDeadline) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (predicate()) return true;
    std::this_thread::sleep_for(milliseconds(2));  // a polling interval, not a wait for an event
  }
  return predicate();
}

}  // namespace procmod::testing

#endif  // PROCMOD_TEST_SUPPORT_MODULE_FIXTURE_H_
