// raw_peer.h: test peers that speak PMP/1 as raw cppzmq frames.
//
// Message-level tests put one of these on the other side of a real process module:
// a RawDealer plays a connecting peer (client in forward mode, server in reverse),
// a RawRouter plays an accepting peer. They use the real codec to build and read
// frames, so a test states exactly what goes on the wire and checks what comes back.
// Receives take a deadline; nothing here sleeps.
#ifndef PROCMOD_TEST_SUPPORT_RAW_PEER_H_
#define PROCMOD_TEST_SUPPORT_RAW_PEER_H_

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "protocol/codec.h"
#include "security/curve_keys.h"

namespace procmod::testing {

using std::chrono::milliseconds;
inline constexpr milliseconds kDeadline{5000};  // generous: CI machines are slow

pmp::Hello MakeHello(std::string role = "client", std::string name = "raw",
                     uint64_t connect_id = 0);

// How a RawDealer dials, beyond the defaults (a random routing id, plain, redialing).
struct RawDealerSetup {
  std::string routing_id;  // "": libzmq picks one
  // CURVE: this dealer's pair and the acceptor's public key (both Z85); empty: plain.
  CurveKeyPair curve;
  std::string server_key;
  bool reconnect = true;  // false: once its connection is gone, it stays gone
};

class RawDealer {
 public:
  RawDealer(zmq::context_t& context, const std::string& endpoint);
  RawDealer(zmq::context_t& context, const std::string& endpoint, const RawDealerSetup& setup);

  void Send(const pmp::Header& header, pmp::Frames payload = {});
  void SendFrames(pmp::Frames frames);  // anything, malformed included

  // The next message that is not a PING, or nothing by `timeout`. Raw frames that
  // fail to decode are a test failure (the module must only send valid PMP/1).
  std::optional<pmp::Message> Receive(milliseconds timeout = kDeadline, bool skip_pings = true);
  // HELLO, then the WELCOME (or nothing if something else or nothing came).
  std::optional<pmp::Welcome> Hello(const pmp::Hello& hello);
  // The next message that is not a PING as it came, undecoded: to see its frames.
  std::optional<pmp::Frames> ReceiveFrames(milliseconds timeout = kDeadline);

  zmq::socket_t& socket() { return socket_; }

 private:
  zmq::socket_t socket_;
  pmp::Decoder decoder_;
};

class RawRouter {
 public:
  // Binds tcp://127.0.0.1:0; endpoint() has the real port.
  explicit RawRouter(zmq::context_t& context);
  // Binds `endpoint`: a peer that was dialed before anything listened there.
  RawRouter(zmq::context_t& context, const std::string& endpoint);

  const std::string& endpoint() const { return endpoint_; }

  struct Incoming {
    std::string routing_id;
    pmp::Message message;
  };
  std::optional<Incoming> Receive(milliseconds timeout = kDeadline, bool skip_pings = true);
  // The next message that is not a PING as it came (routing id first), undecoded.
  std::optional<pmp::Frames> ReceiveFrames(milliseconds timeout = kDeadline);
  void SendTo(const std::string& routing_id, const pmp::Header& header, pmp::Frames payload = {});
  // Receives a HELLO and answers WELCOME with `role` (and `version`: an older peer's
  // can be played); returns the HELLO's sender.
  std::optional<Incoming> AcceptHello(const std::string& role, std::string name = "raw",
                                      uint64_t heartbeat_ms = 1000, uint64_t liveness = 3,
                                      std::string_view version = pmp::kProtocolVersion);

  void Close() { socket_.close(); }

 private:
  zmq::socket_t socket_;
  std::string endpoint_;
  pmp::Decoder decoder_;
};

// The header of `m` if it is a T (a copy: `m` is often a temporary).
template <typename T>
std::optional<T> As(const std::optional<pmp::Message>& m) {
  if (!m || !std::holds_alternative<T>(m->header)) return std::nullopt;
  return std::get<T>(m->header);
}

// Frames holding one string each, for payload.
pmp::Frames TextFrames(std::initializer_list<std::string_view> texts);
std::string Text(const zmq::message_t& frame);

}  // namespace procmod::testing

#endif  // PROCMOD_TEST_SUPPORT_RAW_PEER_H_
