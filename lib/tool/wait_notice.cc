#include "wait_notice.h"

#include <cstdio>

#include "procmod/config.h"  // FormatDuration

namespace procmod::tool {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::chrono::seconds kFirst{2};
constexpr std::chrono::seconds kEvery{5};

}  // namespace

WaitNotice::WaitNotice(std::string tool, std::string what, std::chrono::milliseconds limit)
    : thread_(
          [this, line = std::move(tool) + ": " + std::move(what), limit] { Run(line, limit); }) {}

WaitNotice::~WaitNotice() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void WaitNotice::Run(const std::string& line, std::chrono::milliseconds limit) {
  const Clock::time_point start = Clock::now();
  const std::string of = limit.count() > 0 ? " of " + FormatDuration(limit) : "";
  Clock::time_point next = start + kFirst;
  std::unique_lock<std::mutex> lock(mu_);
  while (!cv_.wait_until(lock, next, [this] { return done_; })) {
    const auto waited = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - start);
    std::fprintf(stderr, "%s (%s%s; Ctrl-C to stop)\n", line.c_str(),
                 FormatDuration(waited).c_str(), of.c_str());
    next += kEvery;
  }
}

}  // namespace procmod::tool
