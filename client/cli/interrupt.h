// interrupt.h: Ctrl-C for `procmod ping`, which must stop early and still print its
// summary. The handler only sets a lock-free atomic flag (about all a signal handler
// may safely do); the waits below look at it every few milliseconds.
#ifndef PROCMOD_CLI_INTERRUPT_H_
#define PROCMOD_CLI_INTERRUPT_H_

#include <chrono>
#include <future>

namespace procmod::cli {

// Catches SIGINT and SIGTERM from now on (the default until then ends the process,
// which is right while nothing needs saying yet).
void InstallInterruptHandler();
bool Interrupted();

// How often the waits below look at the flag: short enough that Ctrl-C feels instant.
inline constexpr std::chrono::milliseconds kInterruptCheck{10};

// Sleeps until `deadline`; false when interrupted first.
bool SleepUntil(std::chrono::steady_clock::time_point deadline);

// Waits until `future` (a std::future or a procmod::ReplyFuture) is ready; false when
// interrupted first. A future cannot be woken by a signal, hence the short waits.
template <typename Future>
bool WaitReady(const Future& future) {
  while (future.wait_for(kInterruptCheck) != std::future_status::ready) {
    if (Interrupted()) return false;
  }
  return true;
}

}  // namespace procmod::cli

#endif  // PROCMOD_CLI_INTERRUPT_H_
