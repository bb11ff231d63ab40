// proc_stats.h: a process's footprint as /proc tells it (RSS, open descriptors), for
// the tests that check a daemon gives back what it took (soak tests, recovery).
#ifndef PROCMOD_TEST_SUPPORT_PROC_STATS_H_
#define PROCMOD_TEST_SUPPORT_PROC_STATS_H_

#include <sys/types.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

namespace procmod::testing {

// VmRSS of `pid` in KiB (0 if unreadable: the process is gone, a failure anyway).
inline long RssKib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  while (status >> key) {
    if (key == "VmRSS:") {
      long kib = 0;
      status >> kib;
      return kib;
    }
    status.ignore(4096, '\n');
  }
  return 0;
}

// How many descriptors `pid` has open (-1 if its /proc entry is unreadable).
inline int OpenFds(pid_t pid) {
  std::error_code error;
  std::filesystem::directory_iterator it("/proc/" + std::to_string(pid) + "/fd", error);
  if (error) return -1;
  int count = 0;
  for (; it != std::filesystem::directory_iterator(); it.increment(error)) {
    if (error) return -1;
    ++count;
  }
  return count;
}

}  // namespace procmod::testing

#endif  // PROCMOD_TEST_SUPPORT_PROC_STATS_H_
