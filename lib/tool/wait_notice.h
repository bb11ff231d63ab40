// wait_notice.h: says on stderr that a wait goes on.
//
// In front of a silent terminal, a slow network and a hang look the same. Every tool
// that may wait longer than 2 s for a peer (procmod connecting or waiting for a
// server, procmod-monitor waiting for an answer) holds a WaitNotice while it waits:
// after 2 s, and every 5 s after that, it prints one line such as
//   procmod: no answer yet from tcp://viz-1:11111 (2s of 10s; Ctrl-C to stop)
// and nothing at all when the wait ends sooner.
//
//   {
//     tool::WaitNotice notice("procmod", "no answer yet from " + url, timeout);
//     result = Client::Connect(url, options);   // blocks
//   }                                           // the notice is over
#ifndef PROCMOD_TOOL_WAIT_NOTICE_H_
#define PROCMOD_TOOL_WAIT_NOTICE_H_

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace procmod::tool {

class WaitNotice {
 public:
  // `what` follows "TOOL: "; `limit` is when the wait gives up (0: never), shown as
  // "(7s of 10s)".
  WaitNotice(std::string tool, std::string what, std::chrono::milliseconds limit);
  ~WaitNotice();  // ends the notice; returns at once
  WaitNotice(const WaitNotice&) = delete;
  WaitNotice& operator=(const WaitNotice&) = delete;

 private:
  void Run(const std::string& line, std::chrono::milliseconds limit);

  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;  // last: it uses the members above
};

}  // namespace procmod::tool

#endif  // PROCMOD_TOOL_WAIT_NOTICE_H_
