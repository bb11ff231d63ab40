// log_text.h: what a peer says, made safe to log, and how often.
//
// Names, roles, versions and reasons come from the network. Logged as they are, a
// peer could forge log lines (a newline and a fake timestamp) or fill the disk with a
// 2 KB name per HELLO. So peer text is logged with fmt's {:?} (quoted, control bytes
// and quotes escaped) and clipped; and lines a flood can cause one per message (a
// denial, a peer's ERROR) go through a LogBudget, which lets a few per second
// through and then reports how many it held back.
//
//   spdlog::info("denied {} {:?}", Clip(hello.role), Clip(hello.name));
//   if (uint64_t held = 0; budget_.Allow(now, &held)) { ...log...; }
#ifndef PROCMOD_SRC_BASE_LOG_TEXT_H_
#define PROCMOD_SRC_BASE_LOG_TEXT_H_

#include <cstdint>
#include <string_view>

#include <spdlog/spdlog.h>

#include "base/clock.h"

namespace procmod {

// At most 64 bytes of `text`; log it with {:?}.
inline std::string_view Clip(std::string_view text) { return text.substr(0, 64); }

class LogBudget {
 public:
  explicit LogBudget(uint32_t lines_per_second) : per_second_(lines_per_second) {}

  // True when one more line may be logged at `now`. When a new one-second window
  // starts after lines were held back, says so once (at warn) with `what`.
  bool Allow(TimePoint now, std::string_view what) {
    if (now - window_start_ >= std::chrono::seconds(1)) {
      if (held_ > 0) {
        spdlog::warn("procmod: {} more {} not logged in the last second", held_, what);
      }
      window_start_ = now;
      used_ = held_ = 0;
    }
    if (used_ < per_second_) {
      ++used_;
      return true;
    }
    ++held_;
    return false;
  }

 private:
  const uint32_t per_second_;
  TimePoint window_start_{};
  uint32_t used_ = 0;
  uint64_t held_ = 0;
};

}  // namespace procmod

#endif  // PROCMOD_SRC_BASE_LOG_TEXT_H_
