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
// Pure; thread-safe.
#ifndef PROCMOD_SRC_URL_H_
#define PROCMOD_SRC_URL_H_

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

#endif  // PROCMOD_SRC_URL_H_
