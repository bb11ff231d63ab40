// procmod/peer_info.h
//
// PeerInfo is one live connection as the monitor sees it: a value copied out of the
// process module's identity table at one instant, safe to keep and pass around.
//
//   for (const procmod::PeerInfo& p : module->Connections()) {
//     std::cout << p.session << " " << p.name << " " << p.role << " "
//               << p.address << " rtt " << p.rtt.count() << "us\n";
//   }
#ifndef PROCMOD_PEER_INFO_H_
#define PROCMOD_PEER_INFO_H_

#include <chrono>
#include <cstdint>
#include <string>

namespace procmod {

struct PeerInfo {
  std::string session;     // session id given by the accepting side's WELCOME
  std::string name;        // the peer's `name` (HELLO or WELCOME)
  std::string role;        // client, server, data-server, render-server
  std::string address;     // peer address (IP of an accepted peer, URL of a dialed one)
  std::string version;     // the peer's protocol version, MAJOR.MINOR
  std::string software;    // e.g. "procmod 0.1.0", when the peer said
  // "admitted", or "suspended": its link was lost and the session waits up to
  // resume_left for the peer to resume it (PMP/1.2; options.resume.grace).
  std::string state;
  std::string public_key;  // CURVE: the peer's public key (Z85, the ZAP user id); else ""
  bool incoming = true;    // true: it connected to us; false: we connected to it
  bool master = false;     // the oldest admitted client (ParaView's collaboration master)
  std::chrono::milliseconds connected_for{0};  // since admission
  std::chrono::milliseconds idle_for{0};       // since the last well-formed message
  std::chrono::microseconds rtt{0};            // last measured round trip, 0 if none
  std::chrono::milliseconds resume_left{0};    // suspended: time left to resume
  uint64_t msgs_in = 0;
  uint64_t msgs_out = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  uint64_t dropped = 0;  // messages to this peer dropped because its queue was full
};

}  // namespace procmod

#endif  // PROCMOD_PEER_INFO_H_
