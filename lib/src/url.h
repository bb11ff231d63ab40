// url.h: the peer URLs procmod accepts, turned into what a socket connects to.
//
//   tcp://HOST:PORT, ipc://PATH      a peer's ZeroMQ endpoint, as is
//   broker+tcp://HOST:PORT/SERVICE   SERVICE, reached through a procmod-broker
//
// Pure; thread-safe.
#ifndef PROCMOD_SRC_URL_H_
#define PROCMOD_SRC_URL_H_

#include <string>
#include <string_view>

#include "procmod/result.h"

namespace procmod {

struct PeerUrl {
  std::string endpoint;  // what the DEALER connects to
  std::string service;   // non-empty: a broker URL; HELLO names this service
};

// kInvalidArgument naming the part that is wrong.
Result<PeerUrl> ParsePeerUrl(std::string_view url);

}  // namespace procmod

#endif  // PROCMOD_SRC_URL_H_
