#include "io/sockets.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace procmod {
namespace {

// Settings common to both kinds of socket.
void ConfigureCommon(zmq::socket_t& socket, const Options& options) {
  const auto linger = std::clamp<int64_t>(options.linger.count(), 0, 1000);
  socket.set(zmq::sockopt::linger, static_cast<int>(linger));
  socket.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(options.limits.max_message_size));
  socket.set(zmq::sockopt::sndhwm, options.limits.send_queue);
  socket.set(zmq::sockopt::rcvhwm, options.limits.send_queue);
  // A peer that connects and never completes the ZMTP greeting is cut off.
  socket.set(zmq::sockopt::handshake_ivl,
             static_cast<int>(std::max<int64_t>(options.timeouts.handshake.count(), 1)));
}

}  // namespace

void ConfigureAcceptor(zmq::socket_t& socket, const Options& options) {
  ConfigureCommon(socket, options);
  socket.set(zmq::sockopt::router_mandatory, true);
  socket.set(zmq::sockopt::router_handover, true);
  // No ZMTP heartbeat here, though the first design said so: libzmq 4.3.4 cancels a
  // heartbeat timer with a linear scan of all timers on every message received, so
  // with 5,000 peers it cost 4x the CPU of a plain ROUTER (bench/, BENCHMARKS.md).
  // Our PMP expiry closes a dead peer's session, and its TCP connection
  // (transport_activity.h), just the same.
  // What a peer may have queued here unread. When a peer closes, libzmq keeps its
  // unread messages until we read them, so a flood of short-lived connections each
  // leaving a full queue behind grows the server faster than one thread reads:
  // exposed servers lower it (docs/SECURITY.md; test/hostile, HelloFlood). Not lower
  // by default: at 100, one-way 64 KiB DATA lost about a fifth of its rate.
  socket.set(zmq::sockopt::rcvhwm, options.limits.receive_queue);
  // A crowd connecting at once must not overflow the kernel's accept queue
  // (libzmq's default backlog is 100; the kernel caps it at net.core.somaxconn).
  socket.set(zmq::sockopt::backlog, 4096);
}

void ConfigureConnector(zmq::socket_t& socket, const Options& options) {
  ConfigureCommon(socket, options);
  // No ZMTP heartbeat either, though the first design said so: libzmq counts only
  // whole messages as life, so its timeout cut every link whose one message took
  // longer than interval * liveness to arrive (a 256 MiB image on a slow link), and
  // the redial sent it again, for ever. PMP expiry watches the link instead,
  // counting the bytes of a message on its way (transport_activity.h), and closes
  // the socket when it gives up.
  // Not IMMEDIATE, though the first design said so: with IMMEDIATE=1 libzmq drops
  // the pipe, and every message received but not yet read, when the connection
  // goes, so a server's last REPLY and BYE before it closes could be lost. The
  // io_loop's transport monitor tells when the link is up instead.
  socket.set(zmq::sockopt::immediate, false);
  socket.set(zmq::sockopt::reconnect_ivl, 100);
  socket.set(zmq::sockopt::reconnect_ivl_max, 2000);
}

namespace {

// True when a process accepts connections on the Unix socket at `path` now.
bool SomeoneListensAt(const std::string& path) {
  sockaddr_un address{};
  if (path.empty() || path[0] == '@' || path.size() >= sizeof address.sun_path) return false;
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.data(), path.size());
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const bool listening =
      connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
  close(fd);
  return listening;  // ECONNREFUSED (a stale file) or ENOENT: free to bind
}

}  // namespace

Result<std::string> BindSocket(zmq::socket_t& socket, const std::string& endpoint,
                               std::string_view what) {
  constexpr std::string_view kIpc = "ipc://";
  if (endpoint.rfind(kIpc, 0) == 0 && SomeoneListensAt(endpoint.substr(kIpc.size()))) {
    return UnavailableError(  // as a TCP port in use is
        "cannot " + std::string(what) + " " + endpoint +
        ": another process is listening there (another server with the same --name?); "
        "choose another name or endpoint");
  }
  try {
    socket.bind(endpoint);
    return socket.get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t& e) {
    return EndpointError(what, endpoint, e);
  }
}

void RemoveIpcFile(const std::string& endpoint) {
  constexpr std::string_view kIpc = "ipc://";
  if (!endpoint.starts_with(kIpc) || endpoint.size() == kIpc.size() ||
      endpoint[kIpc.size()] == '@') {
    return;
  }
  std::error_code ignored;  // already gone is fine
  std::filesystem::remove(endpoint.substr(kIpc.size()), ignored);
}

void ConfigureAdmin(zmq::socket_t& socket) {
  socket.set(zmq::sockopt::linger, 0);
  socket.set(zmq::sockopt::maxmsgsize, int64_t{1} << 20);
}

void ConfigureCurveServer(zmq::socket_t& socket, const CurveKeyPair& own) {
  socket.set(zmq::sockopt::curve_server, true);
  socket.set(zmq::sockopt::curve_secretkey, own.secret_key);
  socket.set(zmq::sockopt::zap_domain, "procmod");
#ifdef ZMQ_ZAP_ENFORCE_DOMAIN
  // Fail closed: without it libzmq 4.3 lets a CURVE peer in when no ZAP handler
  // answers. A draft option, so best effort; procmod binds its handler first anyway.
  const int enforce = 1;
  (void)zmq_setsockopt(socket.handle(), ZMQ_ZAP_ENFORCE_DOMAIN, &enforce, sizeof enforce);
#endif
}

void ConfigureCurveClient(zmq::socket_t& socket, const CurveKeyPair& own,
                          const std::string& server_key) {
  socket.set(zmq::sockopt::curve_serverkey, server_key);
  socket.set(zmq::sockopt::curve_publickey, own.public_key);
  socket.set(zmq::sockopt::curve_secretkey, own.secret_key);
}

Status EndpointError(std::string_view verb, std::string_view endpoint, const zmq::error_t& error) {
  std::string message =
      "cannot " + std::string(verb) + " " + std::string(endpoint) + ": " + error.what();
  switch (error.num()) {
    case EINVAL:
    case EPROTONOSUPPORT:
    case ENOCOMPATPROTO:
      return InvalidArgumentError(message);
    default:
      return UnavailableError(message);
  }
}

std::string PeerKeyOf(zmq::message_t& frame) {
  // Our ZAP handler makes the Z85 public key the connection's user id.
  const char* key = zmq_msg_gets(frame.handle(), "User-Id");
  return key ? std::string(key) : std::string();
}

std::string PeerAddressOf(zmq::message_t& frame) {
  // zmq_msg_gets fails (EINVAL) for properties a transport does not provide.
  const char* address = zmq_msg_gets(frame.handle(), "Peer-Address");
  return address ? std::string(address) : std::string();
}

}  // namespace procmod
