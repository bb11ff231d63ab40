// url.h: the peer URLs procmod accepts, turned into what a socket connects to or
// binds.
//
//   tcp://HOST:PORT, ipc://PATH       a peer's ZeroMQ endpoint, as is
//   broker+tcp://HOST:PORT/SERVICE    SERVICE, reached through a procmod-broker
//
// and ParaView's connection URLs (pvpython's Connect()/ReverseConnect(), the
// client's server list), with ParaView's default ports:
//
//   cs://HOST[:PORT]                           forward, one combined server (11111)
//   csrc://[HOST][:PORT]                       reverse: the client listens (11111)
//   cdsrs://DSHOST[:PORT]/RSHOST[:PORT]        render-client mode, forward: a data
//                                              server (11111) and a render server
//                                              (22221)
//   cdsrsrc://[DSHOST][:PORT]/[RSHOST][:PORT]  render-client mode, reverse: the
//                                              client listens on both ports
//
// In the reverse forms an empty HOST means every interface (tcp://*:PORT), as
// ParaView's csrc://:11111 does; PORT 0 there binds any free port.
//
// It also owns tcp://HOST:PORT endpoints themselves, so every part of procmod splits,
// checks and rewrites them one way:
//
//   Result<TcpEndpoint> bound = ParseTcpEndpoint("tcp://[::1]:0", PortUse::kBind);
//   // bound->host == "[::1]", bound->port == 0
//   std::optional<std::string> moved = WithPort("tcp://0.0.0.0:11111", 4000);
//   // *moved == "tcp://0.0.0.0:4000"
//   IsLocalEndpoint("tcp://127.0.0.1:9000");  // true: only this machine reaches it
//
// Pure; thread-safe.
#ifndef PROCMOD_SRC_PROTOCOL_URL_H_
#define PROCMOD_SRC_PROTOCOL_URL_H_

#include <optional>
#include <string>
#include <string_view>

#include "procmod/result.h"

namespace procmod {

// ParaView's default ports: a combined or data server, and a render server.
inline constexpr int kDefaultServerPort = 11111;
inline constexpr int kDefaultRenderServerPort = 22221;

struct PeerUrl {
  std::string endpoint;  // what the DEALER connects to
  std::string service;   // non-empty: a broker URL; HELLO names this service
};

// Whether a port is dialed or bound: only binding may ask for port 0, any free port.
enum class PortUse { kDial, kBind };

// PORT as a number in range for `use`, or kInvalidArgument saying why, worded to follow
// the port's name ("port ", "data server port "): "is missing after ':'",
// "'x' is not a number", "99999 is out of range 1-65535".
Result<int> ParsePort(std::string_view port, PortUse use);

// HOST:PORT split at the last ':', as ZeroMQ splits it, so "[::1]:80" gives "[::1]".
// Neither part is checked (HOST may be empty); nullopt when there is no ':'.
struct HostPort {
  std::string_view host;
  std::string_view port;
};
std::optional<HostPort> SplitHostPort(std::string_view host_port);

// A tcp:// endpoint's parts.
struct TcpEndpoint {
  std::string host;  // as written: "*", "127.0.0.1", "viz-1", "[::1]" (brackets kept)
  int port = 0;
};

// tcp://HOST:PORT with a PORT in range for `use`. HOST is left to ZeroMQ or the
// resolver, which know what they accept. kInvalidArgument, for the caller to put in
// its own words: "expected tcp://HOST:PORT", or ParsePort's reason after "port ".
Result<TcpEndpoint> ParseTcpEndpoint(std::string_view endpoint, PortUse use);

// `endpoint` (tcp://HOST:PORT) with `port` in place of its port, which is not checked
// since it goes; nullopt when `endpoint` has no tcp:// or no ':' after HOST.
std::optional<std::string> WithPort(std::string_view endpoint, int port);

// True for endpoints only this machine can reach: ipc://, inproc://, and tcp:// on
// 127.0.0.0/8, ::1 or localhost. A non-local admin endpoint needs CURVE (docs/SECURITY.md).
bool IsLocalEndpoint(std::string_view endpoint);

// What the module dials: tcp://, ipc:// (and anything else ZeroMQ knows) as is,
// broker+tcp://, and cs:// (so a reverse server's client_url may be one). The other
// ParaView URLs name a listener or two servers, which one dial cannot be:
// kInvalidArgument saying so. kInvalidArgument naming the part that is wrong.
Result<PeerUrl> ParsePeerUrl(std::string_view url);

// A connection URL as the client façade takes it: who binds, and one endpoint or two.
struct ConnectionUrl {
  // kEndpoint: a plain tcp:// or ipc:// endpoint, which says nothing about who binds
  // (the caller's use does). kForward: the client dials (cs://, cdsrs://,
  // broker+tcp://). kReverse: the client binds (csrc://, cdsrsrc://).
  enum Kind { kEndpoint, kForward, kReverse };

  Kind kind = kEndpoint;
  // cdsrs:// and cdsrsrc://: a data server and a render server.
  bool render_client = false;
  // ZeroMQ endpoints: the server (the data server in render-client mode) to dial,
  // or where to listen for it; and the render server's, in render-client mode.
  std::string data_endpoint;
  std::string render_endpoint;
  // broker+tcp://: the service HELLO names (data_endpoint is the broker's).
  std::string service;
};

// Every scheme above. A plain endpoint is passed as is (ZeroMQ checks it when it is
// used); an unknown scheme is kInvalidArgument listing the accepted ones, and a bad
// ParaView URL one naming the part that is wrong, e.g.
//   bad URL 'cs://host:99999': port 99999 is out of range 1-65535
Result<ConnectionUrl> ParseConnectionUrl(std::string_view url);

}  // namespace procmod

#endif  // PROCMOD_SRC_PROTOCOL_URL_H_
