// lifetime_command.h: running the server's lifetime command (ParaView's
// --timeout-command) and telling the process module what it said.
//
// Every `interval` a thread of its own runs `/bin/sh -c COMMAND`; its stdout is the
// minutes left (a number, fractions allowed: "12.5"), or a duration with a unit
// ("90s", "2m"). The answer goes to ProcessModule::SetLifetime(). A command that
// fails, prints something else or takes longer than 10 s is logged and ignored,
// never fatal: the server keeps the last answer it had.
//
//   LifetimeCommand watcher(module, "qstat -f $JOB | remaining-minutes", seconds(60));
//   ... module.Run() ...   // the destructor stops the thread (and any command)
#ifndef PROCMOD_SERVER_LIFETIME_COMMAND_H_
#define PROCMOD_SERVER_LIFETIME_COMMAND_H_

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "procmod/process_module.h"

namespace procmod::server {

// What one run of the command printed, as time left; nullopt when it is not a number
// of minutes or a duration.
std::optional<std::chrono::milliseconds> ParseTimeLeft(std::string_view output);

class LifetimeCommand {
 public:
  LifetimeCommand(ProcessModule& module, std::string command, std::chrono::milliseconds interval);
  ~LifetimeCommand();
  LifetimeCommand(const LifetimeCommand&) = delete;
  LifetimeCommand& operator=(const LifetimeCommand&) = delete;

 private:
  void Loop();
  // Runs the command once; its stdout, or nullopt (logged) when it failed.
  std::optional<std::string> RunOnce();

  ProcessModule& module_;
  const std::string command_;
  const std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace procmod::server

#endif  // PROCMOD_SERVER_LIFETIME_COMMAND_H_
