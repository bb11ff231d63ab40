#include "io/polled_socket.h"

#include <spdlog/spdlog.h>

namespace procmod {

PolledSocket::PolledSocket(zmq::socket_ref socket)
    : socket_(socket), fd_(socket.get(zmq::sockopt::fd)) {}

bool PolledSocket::MayHoldUnsignalledInput() {
  if (drained_ || fd_ < 0) return false;
  try {
    if (socket_.get(zmq::sockopt::events) & ZMQ_POLLIN) return true;
  } catch (const zmq::error_t& e) {
    // A socket whose context is going away: nothing to wait for on it.
    spdlog::debug("procmod: ZMQ_EVENTS failed: {}", e.what());
    return false;
  }
  drained_ = true;
  return false;
}

}  // namespace procmod
