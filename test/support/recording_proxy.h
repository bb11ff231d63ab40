// recording_proxy.h: a TCP relay on loopback that keeps every byte it passes.
//
// To show that CURVE leaves nothing readable on the wire, a test points a client at
// the proxy instead of the server, runs a session carrying a known payload, and
// searches the recorded bytes for it. The proxy accepts any number of connections
// (libzmq may reconnect) and forwards each to 127.0.0.1:`target_port`, both ways, on
// a thread of its own; it stops and closes everything in its destructor.
//
// It also stands in for a network that fails: Cut() drops every connection it
// carries (both ends see the TCP connection close, as after a reset), and while
// SetDown(true) holds, every new connection is dropped as soon as it is made, so a
// dialer keeps redialing until SetDown(false). Tests of dropped links use it.
// SetSourceAddress() makes the client seem to come back from a new address (a
// laptop that moved to another network): the server sees the proxy's upstream end.
// SetRate() makes it a slow link (bytes per second, both directions together), or
// with 0 one that hangs without closing (a peer stopped mid-message).
//
//   RecordingProxy proxy(server_port);   // the client dials proxy.endpoint()
//   proxy.SetDown(true); proxy.Cut();     // the link is down...
//   proxy.SetSourceAddress("127.0.0.2");  // ...the client moves...
//   proxy.SetDown(false);                 // ...and the link is up again: it redials
#ifndef PROCMOD_TEST_SUPPORT_RECORDING_PROXY_H_
#define PROCMOD_TEST_SUPPORT_RECORDING_PROXY_H_

#include <netinet/in.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
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

  // Drops every connection it carries now; returns once they are closed.
  void Cut();
  // While down, a new connection is closed as soon as it is accepted.
  void SetDown(bool down);
  // Connections carried so far (not those dropped while down): a redial counts.
  int connections() const;
  // Upstream connections made after this call bind their local end to `ip` before
  // dialing 127.0.0.1:target_port, so the server sees the client come from `ip`.
  // Only IPv4 loopback (127.0.0.0/8, all of which Linux routes to lo): anything else
  // throws std::invalid_argument. Connections already carried keep their address.
  void SetSourceAddress(std::string ip);
  // From now on passes at most `bytes_per_second` (0: nothing, the connections stay
  // open); nullopt: as fast as it can (the default). Bytes already read pass on.
  void SetRate(std::optional<size_t> bytes_per_second);
  // Off: passes bytes without keeping them (big transfers).
  void SetRecording(bool on);

 private:
  void Run();
  void Wake();

  int target_port_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: wakes the thread to look at what changed
  int port_ = 0;
  mutable std::mutex mu_;
  std::condition_variable cut_done_;
  // Guarded by mu_.
  std::string recorded_;
  bool stopping_ = false;
  bool down_ = false;
  uint64_t cuts_asked_ = 0;  // Cut() calls; the thread closes all pairs for each
  uint64_t cuts_done_ = 0;
  int connections_ = 0;
  std::optional<in_addr> source_;  // unset: the kernel picks (127.0.0.1)
  std::optional<size_t> rate_;     // bytes per second; unset: no limit
  bool recording_ = true;
  std::thread thread_;
};

}  // namespace procmod::testing

#endif  // PROCMOD_TEST_SUPPORT_RECORDING_PROXY_H_
