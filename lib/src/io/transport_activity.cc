#include "io/transport_activity.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>

namespace procmod {

TcpConnection TcpConnection::Of(const zmq::message_t& frame) {
  // ZMQ_SRCFD is deprecated but kept by libzmq 4.3 (it reads the message's "__fd"
  // property); -1 for transports without a descriptor of their own.
  return OfDescriptor(zmq_msg_get(const_cast<zmq_msg_t*>(frame.handle()), ZMQ_SRCFD));
}

TcpConnection TcpConnection::OfDescriptor(int fd) {
  TcpConnection c;
  if (fd < 0) return c;
  sockaddr_storage remote{};
  socklen_t size = sizeof remote;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&remote), &size) != 0) return c;
  if (remote.ss_family != AF_INET && remote.ss_family != AF_INET6) return c;  // ipc://
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return c;
  c.fd_ = fd;
  c.inode_ = st.st_ino;
  return c;
}

bool TcpConnection::StillOurs() const {
  if (fd_ < 0) return false;
  struct stat st {};
  return fstat(fd_, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == inode_;
}

std::optional<milliseconds> TcpConnection::SinceDataArrived() const {
  if (!StillOurs()) return std::nullopt;
  tcp_info info{};
  socklen_t size = sizeof info;
  if (getsockopt(fd_, IPPROTO_TCP, TCP_INFO, &info, &size) != 0) return std::nullopt;
  if (info.tcpi_state != TCP_ESTABLISHED) return std::nullopt;
  return milliseconds(info.tcpi_last_data_recv);
}

bool TcpConnection::Shutdown() const {
  // Racy only in theory: libzmq would have to close the descriptor, and another
  // socket take its number, between the check and the call.
  return StillOurs() && shutdown(fd_, SHUT_RDWR) == 0;
}

}  // namespace procmod
