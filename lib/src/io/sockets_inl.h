// sockets_inl.h: the template part of sockets.h.
#ifndef PROCMOD_SRC_IO_SOCKETS_INL_H_
#define PROCMOD_SRC_IO_SOCKETS_INL_H_

#include <cerrno>

namespace procmod {

template <typename Range>
SendOutcome SendFrames(zmq::socket_ref socket, std::string_view routing_id,
                       Range& frames) noexcept {
  try {
    const size_t count = frames.size();
    if (!routing_id.empty()) {
      zmq::message_t id(routing_id.data(), routing_id.size());
      auto sent = socket.send(id, zmq::send_flags::dontwait | (count > 0 ? zmq::send_flags::sndmore
                                                                         : zmq::send_flags::none));
      if (!sent) return SendOutcome::kQueueFull;
    }
    // Once the first frame is accepted, libzmq takes the rest of the message:
    // a multipart message is delivered whole or not at all.
    for (size_t i = 0; i < count; ++i) {
      auto flags = zmq::send_flags::dontwait;
      if (i + 1 < count) flags = flags | zmq::send_flags::sndmore;
      auto sent = socket.send(frames[i], flags);
      if (!sent) return SendOutcome::kQueueFull;
    }
    return SendOutcome::kSent;
  } catch (const zmq::error_t& e) {
    return e.num() == EHOSTUNREACH ? SendOutcome::kPeerGone : SendOutcome::kFailed;
  }
}

}  // namespace procmod

#endif  // PROCMOD_SRC_IO_SOCKETS_INL_H_
