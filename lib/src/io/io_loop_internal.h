// io_loop_internal.h: what the io_loop*.cc files share, and nothing else includes.
//
// IoLoop is one class whose definition is split by concern: io_loop.cc (the thread,
// the command queue, polling, timers, setup), io_loop_accepting.cc (our ROUTER),
// io_loop_dialing.cc (our DEALERs, and the clients a broker relays),
// io_loop_peers.cc (what admitted peers say, on either side) and
// io_loop_fast_path.cc (the caller's Send and Request).
#ifndef PROCMOD_SRC_IO_IO_LOOP_INTERNAL_H_
#define PROCMOD_SRC_IO_IO_LOOP_INTERNAL_H_

#include <exception>
#include <string>
#include <utility>

#include <spdlog/spdlog.h>

#include "procmod/config.h"
#include "procmod/options.h"
#include "protocol/codec.h"
#include "session/peer_record.h"

namespace procmod::io_loop_internal {

// Per socket and turn, so one busy peer cannot starve the others.
constexpr int kMaxMessagesPerTurn = 256;

// Runs an application callback; what it throws is logged, never crosses the I/O
// thread.
template <typename Callback, typename... Args>
void Invoke(const char* what, const Callback& callback, Args&&... args) {
  if (!callback) return;
  try {
    callback(std::forward<Args>(args)...);
  } catch (const std::exception& e) {
    spdlog::error("procmod: {} callback threw: {}", what, e.what());
  } catch (...) {
    spdlog::error("procmod: {} callback threw a non-exception", what);
  }
}

// Who we are, as HELLO and WELCOME both say it.
template <typename Greeting>
void Introduce(Greeting& greeting, const Options& options) {
  greeting.role = std::string(RoleName(options.role));
  greeting.name = options.name;
  greeting.version = std::string(pmp::kProtocolVersion);
  greeting.software = "procmod " PROCMOD_VERSION;
}

// Protocol 1.2 or later (same major): the peer numbers and resumes sessions, and a
// broker of it understands BYE {peer}.
inline bool SpeaksResume(std::string_view version) {
  uint32_t major = 0, minor = 0;
  return pmp::ParseProtocolVersion(version, major, minor) && major == 1 && minor >= 2;
}

// A resumable session's grace period, and the words for a session that ended
// because it was not resumed within it (the module's log, OnDisconnected).
inline milliseconds GraceOf(const PeerRecord& peer) {
  return std::chrono::duration_cast<milliseconds>(peer.resume->grace());
}
inline std::string NotResumedWithin(const PeerRecord& peer) {
  return "not resumed within " + FormatDuration(GraceOf(peer));
}

}  // namespace procmod::io_loop_internal

#endif  // PROCMOD_SRC_IO_IO_LOOP_INTERNAL_H_
