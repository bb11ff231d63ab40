#include "support/raw_peer.h"

#include <gtest/gtest.h>

namespace procmod::testing {
namespace {

// Polls `socket` until a message arrives or `timeout` passes.
bool WaitReadable(zmq::socket_t& socket, milliseconds timeout) {
  zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, timeout);
  return (item.revents & ZMQ_POLLIN) != 0;
}

bool IsPing(const pmp::Frames& frames, size_t first) {
  return frames.size() > first && frames[first].size() > 4 &&
         frames[first].data<uint8_t>()[4] == static_cast<uint8_t>(pmp::Command::kPing);
}

// The next message's frames, PINGs skipped when asked; nothing by `timeout`.
std::optional<pmp::Frames> NextFrames(zmq::socket_t& socket, size_t first, milliseconds timeout,
                                      bool skip_pings) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !WaitReadable(socket, left)) return std::nullopt;
    pmp::Frames frames;
    if (!zmq::recv_multipart(socket, std::back_inserter(frames))) return std::nullopt;
    if (skip_pings && IsPing(frames, first)) continue;
    return frames;
  }
}

}  // namespace

pmp::Hello MakeHello(std::string role, std::string name, uint64_t connect_id) {
  pmp::Hello hello;
  hello.role = std::move(role);
  hello.name = std::move(name);
  hello.version = std::string(pmp::kProtocolVersion);
  hello.connect_id = connect_id;
  hello.heartbeat_ms = 1000;
  return hello;
}

RawDealer::RawDealer(zmq::context_t& context, const std::string& endpoint)
    : RawDealer(context, endpoint, RawDealerSetup{}) {}

RawDealer::RawDealer(zmq::context_t& context, const std::string& endpoint,
                     const RawDealerSetup& setup)
    : socket_(context, zmq::socket_type::dealer) {
  socket_.set(zmq::sockopt::linger, 0);
  if (!setup.routing_id.empty()) socket_.set(zmq::sockopt::routing_id, setup.routing_id);
  if (!setup.server_key.empty()) {
    socket_.set(zmq::sockopt::curve_serverkey, setup.server_key);
    socket_.set(zmq::sockopt::curve_publickey, setup.curve.public_key);
    socket_.set(zmq::sockopt::curve_secretkey, setup.curve.secret_key);
  }
  if (!setup.reconnect) socket_.set(zmq::sockopt::reconnect_ivl, -1);
  socket_.connect(endpoint);
}

void RawDealer::Send(const pmp::Header& header, pmp::Frames payload) {
  SendFrames(pmp::Encode(header, std::move(payload)));
}

void RawDealer::SendFrames(pmp::Frames frames) { zmq::send_multipart(socket_, frames); }

std::optional<pmp::Message> RawDealer::Receive(milliseconds timeout, bool skip_pings) {
  std::optional<pmp::Frames> frames = NextFrames(socket_, 0, timeout, skip_pings);
  if (!frames) return std::nullopt;
  Result<pmp::Message> m = decoder_.Decode(*frames);
  if (!m.ok()) {
    ADD_FAILURE() << "module sent a malformed message: " << m.status().ToString();
    return std::nullopt;
  }
  return std::move(*m);
}

std::optional<pmp::Frames> RawDealer::ReceiveFrames(milliseconds timeout) {
  return NextFrames(socket_, 0, timeout, /*skip_pings=*/true);
}

std::optional<pmp::Welcome> RawDealer::Hello(const pmp::Hello& hello) {
  Send(hello);
  std::optional<pmp::Message> reply = Receive();
  return As<pmp::Welcome>(reply);
}

RawRouter::RawRouter(zmq::context_t& context) : RawRouter(context, "tcp://127.0.0.1:0") {}

RawRouter::RawRouter(zmq::context_t& context, const std::string& endpoint)
    : socket_(context, zmq::socket_type::router) {
  socket_.set(zmq::sockopt::linger, 0);
  socket_.set(zmq::sockopt::router_mandatory, true);
  socket_.bind(endpoint);
  endpoint_ = socket_.get(zmq::sockopt::last_endpoint);
}

std::optional<RawRouter::Incoming> RawRouter::Receive(milliseconds timeout, bool skip_pings) {
  std::optional<pmp::Frames> frames = NextFrames(socket_, 1, timeout, skip_pings);
  if (!frames) return std::nullopt;
  std::string routing_id = Text((*frames)[0]);
  Result<pmp::Message> m = decoder_.Decode(*frames, 1);
  if (!m.ok()) {
    ADD_FAILURE() << "module sent a malformed message: " << m.status().ToString();
    return std::nullopt;
  }
  return Incoming{std::move(routing_id), std::move(*m)};
}

std::optional<pmp::Frames> RawRouter::ReceiveFrames(milliseconds timeout) {
  return NextFrames(socket_, 1, timeout, /*skip_pings=*/true);
}

void RawRouter::SendTo(const std::string& routing_id, const pmp::Header& header,
                       pmp::Frames payload) {
  pmp::Frames frames;
  frames.emplace_back(routing_id.data(), routing_id.size());
  for (auto& f : pmp::Encode(header, std::move(payload))) frames.push_back(std::move(f));
  zmq::send_multipart(socket_, frames);
}

std::optional<RawRouter::Incoming> RawRouter::AcceptHello(const std::string& role, std::string name,
                                                          uint64_t heartbeat_ms, uint64_t liveness,
                                                          std::string_view version) {
  std::optional<Incoming> in = Receive();
  if (!in || in->message.command() != pmp::Command::kHello) return std::nullopt;
  pmp::Welcome welcome;
  welcome.session = "raw-session-" + std::to_string(in->routing_id.size());
  welcome.role = role;
  welcome.name = std::move(name);
  welcome.version = std::string(version);
  welcome.heartbeat_ms = heartbeat_ms;
  welcome.liveness = liveness;
  SendTo(in->routing_id, welcome);
  return in;
}

pmp::Frames TextFrames(std::initializer_list<std::string_view> texts) {
  pmp::Frames frames;
  for (auto t : texts) frames.emplace_back(t.data(), t.size());
  return frames;
}

std::string Text(const zmq::message_t& frame) {
  return std::string(frame.data<char>(), frame.size());
}

}  // namespace procmod::testing
