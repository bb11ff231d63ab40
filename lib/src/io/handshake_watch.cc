#include "io/handshake_watch.h"

#include <atomic>
#include <cstring>
#include <iterator>
#include <vector>

#include <spdlog/spdlog.h>
#include <zmq_addon.hpp>

#include "protocol/url.h"  // IsLocalEndpoint

namespace procmod {
namespace {

constexpr int kEvents = ZMQ_EVENT_CONNECTED | ZMQ_EVENT_CLOSED | ZMQ_EVENT_DISCONNECTED |
                        ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                        ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;

// Each monitor needs an inproc endpoint of its own in the context.
std::string NextMonitorEndpoint() {
  static std::atomic<uint64_t> next{1};
  return "inproc://procmod-handshake-" + std::to_string(next++);
}

}  // namespace

std::string RefusalReason(const std::string& endpoint) {
  return IsLocalEndpoint(endpoint) ? "nothing is listening there"
                                   : "nothing is listening there, or the host cannot be reached";
}

Status RefusedError(const std::string& endpoint) {
  return UnavailableError(endpoint + ": connection refused (" + RefusalReason(endpoint) + ")");
}

Result<HandshakeWatch> HandshakeWatch::Start(zmq::context_t& context, zmq::socket_t& watched,
                                             std::string url, bool curve, std::string public_key) {
  const std::string endpoint = NextMonitorEndpoint();
  if (zmq_socket_monitor(watched.handle(), endpoint.c_str(), kEvents) != 0) {
    return InternalError(std::string("cannot monitor a socket: ") + zmq_strerror(zmq_errno()));
  }
  try {
    zmq::socket_t monitor(context, zmq::socket_type::pair);
    monitor.set(zmq::sockopt::linger, 0);
    monitor.connect(endpoint);
    return HandshakeWatch(watched.handle(), std::move(monitor), std::move(url), curve,
                          std::move(public_key));
  } catch (const zmq::error_t& e) {
    zmq_socket_monitor(watched.handle(), nullptr, 0);
    return InternalError(std::string("cannot monitor a socket: ") + e.what());
  }
}

HandshakeWatch::HandshakeWatch(void* watched, zmq::socket_t monitor, std::string url, bool curve,
                               std::string public_key)
    : monitor_(std::move(monitor)),
      url_(std::move(url)),
      curve_(curve),
      public_key_(std::move(public_key)),
      watched_(watched) {}

HandshakeWatch::Progress HandshakeWatch::Drain() {
  Progress progress;
  for (;;) {
    std::vector<zmq::message_t> event;  // [uint16 event, uint32 value][endpoint]
    try {
      if (!zmq::recv_multipart(monitor_, std::back_inserter(event), zmq::recv_flags::dontwait)) {
        break;
      }
    } catch (const zmq::error_t&) {
      break;
    }
    if (event.empty() || event[0].size() < 6) continue;
    uint16_t id = 0;
    uint32_t value = 0;
    std::memcpy(&id, event[0].data(), sizeof id);
    std::memcpy(&value, event[0].data<char>() + sizeof id, sizeof value);
    spdlog::debug("procmod: {}: transport event {:#x} value {:#x}", url_, id, value);
    switch (id) {
      case ZMQ_EVENT_CONNECTED:
        connected_ = progress.transport_up = true;
        progress.refused = 0;
        break;
      case ZMQ_EVENT_CLOSED:
        // A connect attempt that never became a connection; libzmq redials.
        ++progress.refused;
        break;
      case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
        connected_ = false;
        cut_off_ = 0;
        progress.transport_up = progress.succeeded = true;
        break;
      case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
      case ZMQ_EVENT_DISCONNECTED:
        // Cut off mid-handshake. A CURVE server that cannot read our HELLO (wrong
        // server key) just hangs up, without an event of its own; but so does a
        // listener that is closing. Twice in a row (libzmq redials in 100 ms) is a
        // refusal; once may be bad luck.
        if (connected_) {
          progress.transport_lost = true;
          if (++cut_off_ >= 2 && !progress.failed) progress.failed = Failure(id, value);
        }
        connected_ = false;
        break;
      default:  // HANDSHAKE_FAILED_PROTOCOL, _AUTH: the other side said no
        if (!progress.failed) progress.failed = Failure(id, value);
        connected_ = false;
        break;
    }
  }
  return progress;
}

Status HandshakeWatch::TimedOut() const { return Failure(ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL, 0); }

Status HandshakeWatch::Failure(uint16_t event, uint32_t value) const {
  if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
    return PermissionDeniedError("handshake failed: " + url_ + " does not admit this key (" +
                                 public_key_ + ", ZAP status " + std::to_string(value) +
                                 "): add its .pub file to the server's authorized_keys_dir");
  }
  if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL &&
      value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH && curve_) {
    return PermissionDeniedError("handshake failed: " + url_ +
                                 " does not use CURVE, but security.curve is set here");
  }
  return PermissionDeniedError("handshake failed: the server requires CURVE or the key is wrong (" +
                               url_ + ")");
}

void HandshakeWatch::MonitorStopper::operator()(void* watched) const {
  zmq_socket_monitor(watched, nullptr, 0);
}

}  // namespace procmod
