// recording_proxy.h: a TCP relay on loopback that keeps every byte it passes.
//
// To show that CURVE leaves nothing readable on the wire, a test points a client at
// the proxy instead of the server, runs a session carrying a known payload, and
// searches the recorded bytes for it. The proxy accepts any number of connections
// (libzmq may reconnect) and forwards each to 127.0.0.1:`target_port`, both ways, on
// a thread of its own; it stops and closes everything in its destructor.
#ifndef PROCMOD_TEST_SUPPORT_RECORDING_PROXY_H_
#define PROCMOD_TEST_SUPPORT_RECORDING_PROXY_H_

#include <atomic>
#include <mutex>
#include <string>
#include <thread>

namespace procmod::testing {

class RecordingProxy {
 public:
  explicit RecordingProxy(int target_port);
  ~RecordingProxy();
  RecordingProxy(const RecordingProxy&) = delete;
  RecordingProxy& operator=(const RecordingProxy&) = delete;

  // tcp://127.0.0.1:PORT, where clients should connect.
  std::string endpoint() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
  // Everything passed so far, both directions interleaved.
  std::string Recorded() const;

 private:
  void Run();

  int target_port_;
  int listen_fd_ = -1;
  int stop_fd_ = -1;  // eventfd: wakes the thread to stop
  int port_ = 0;
  mutable std::mutex mu_;
  std::string recorded_;  // guarded by mu_
  std::thread thread_;
};

}  // namespace procmod::testing

#endif  // PROCMOD_TEST_SUPPORT_RECORDING_PROXY_H_
