#include "procmod/admin_client.h"

#include <iterator>
#include <string_view>
#include <utility>
#include <variant>

#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "io/handshake_watch.h"
#include "io/sockets.h"
#include "protocol/codec.h"
#include "security/curve_keys.h"

namespace procmod {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// The one request a call sends; its own socket sees no other traffic, but the id is
// still checked so a confused peer cannot answer something else.
constexpr uint64_t kRequestId = 1;

// "2s" for whole seconds, "750ms" otherwise: how a user would write the timeout.
std::string HumanTimeout(milliseconds timeout) {
  if (timeout.count() % 1000 == 0) return std::to_string(timeout.count() / 1000) + "s";
  return std::to_string(timeout.count()) + "ms";
}

Status NoAnswer(const std::string& endpoint, milliseconds timeout) {
  return DeadlineExceededError("no answer from " + endpoint + " within " + HumanTimeout(timeout) +
                               ": is the process running and is this its admin endpoint?");
}

// Waits for one multipart message until `deadline`: true when one came, false when
// none did, or the handshake's failure (CURVE) as soon as the watch reports it.
Result<bool> ReceiveUntil(zmq::socket_t& socket, HandshakeWatch& watch, Clock::time_point deadline,
                          pmp::Frames& frames) {
  for (;;) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    zmq::pollitem_t items[2] = {{socket.handle(), 0, ZMQ_POLLIN, 0},
                                {watch.socket().handle(), 0, ZMQ_POLLIN, 0}};
    if (zmq::poll(items, 2, left) == 0) continue;  // re-check the clock, then give up
    if (items[1].revents & ZMQ_POLLIN) {
      HandshakeWatch::Progress progress = watch.Drain();
      if (progress.failed) return *progress.failed;
    }
    frames.clear();
    if (zmq::recv_multipart(socket, std::back_inserter(frames), zmq::recv_flags::dontwait)) {
      return true;
    }
  }
}

// What the answer `message` means for the caller; nullopt when it is not the answer
// to our request (a stray message), so the caller keeps waiting.
std::optional<Result<Reply>> Interpret(const std::string& endpoint, pmp::Message& message) {
  if (auto* error = std::get_if<pmp::Error>(&message.header)) {
    // ERROR, not REPLY: whatever listens there did not take the REQUEST at all, so
    // there is no admin service at this endpoint (a data endpoint wants HELLO first).
    return Result<Reply>(Status(StatusCode::kUnavailable,
                                endpoint + " refused the request with ERROR " +
                                    std::to_string(error->code) + " (" + error->reason +
                                    "): is this an admin endpoint?",
                                error->code));
  }
  auto* reply = std::get_if<pmp::Reply>(&message.header);
  if (reply == nullptr || reply->id != kRequestId) return std::nullopt;
  if (reply->code != pmp::kCodeOk) {
    return Result<Reply>(StatusFromPmpCode(reply->code, reply->error));
  }
  return Result<Reply>(Reply{.code = 0,
                             .error = std::move(reply->error),
                             .result = std::move(reply->result),
                             .payload = std::move(message.payload)});
}

Result<Reply> Exchange(zmq::socket_t& socket, HandshakeWatch& watch, const std::string& endpoint,
                       pmp::Request request, milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  pmp::Frames out = pmp::Encode(request);
  // A DEALER queues the request until the link is up, so this send does not wait.
  if (!zmq::send_multipart(socket, out, zmq::send_flags::dontwait)) {
    return NoAnswer(endpoint, timeout);
  }
  pmp::Decoder decoder;
  pmp::Frames frames;
  for (;;) {
    Result<bool> received = ReceiveUntil(socket, watch, deadline, frames);
    if (!received.ok()) return received.status();
    if (!*received) break;
    Result<pmp::Message> message = decoder.Decode(frames);
    if (!message.ok()) {
      return InternalError("malformed answer from " + endpoint + ": " +
                           std::string(message.status().message()));
    }
    if (std::optional<Result<Reply>> answer = Interpret(endpoint, *message)) {
      return std::move(*answer);
    }
  }
  return NoAnswer(endpoint, timeout);
}

}  // namespace

Result<Reply> AdminRequest(const std::string& endpoint, const std::string& method, std::string args,
                           std::chrono::milliseconds timeout, const CurveOptions& curve) {
  Result<CurveSetup> keys = ResolveCurve(curve, /*accepts=*/false, /*dials=*/true);
  if (!keys.ok()) return keys.status();
  // Its own context: the caller's process may have no ProcessModule, or one that is
  // shutting down, and a context we own can always be torn down at once (linger 0).
  try {
    zmq::context_t context(1);
    zmq::socket_t socket(context, zmq::socket_type::dealer);  // outlives `watch`
    socket.set(zmq::sockopt::linger, 0);
    if (keys->enabled) ConfigureCurveClient(socket, keys->own, keys->server_public_key);
    Result<HandshakeWatch> watch =
        HandshakeWatch::Start(context, socket, endpoint, keys->enabled, keys->own.public_key);
    if (!watch.ok()) return watch.status();
    try {
      socket.connect(endpoint);
    } catch (const zmq::error_t& e) {
      return EndpointError("connect to admin endpoint", endpoint, e);
    }
    return Exchange(socket, *watch, endpoint,
                    pmp::Request{.id = kRequestId, .method = method, .args = std::move(args)},
                    timeout);
  } catch (const zmq::error_t& e) {
    return InternalError("admin request to " + endpoint + " failed: " + e.what());
  }
}

}  // namespace procmod
