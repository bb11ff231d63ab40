#include "procmod/client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <thread>
#include <vector>

// ParseConnectionUrl is the library's (the module dials cs:// with the same code);
// procmod_client does not link procmod_internal, whose include path would name it.
#include "url.h"  // lib/src: the URL parser the library dials with

namespace procmod {
namespace {

Options ModuleOptions(const ClientOptions& c) {
  Options o = c.module;
  o.name = c.name;
  o.role = Role::kClient;
  o.connect_id = c.connect_id;
  o.reconnect = c.reconnect;
  o.timeouts.connect = c.connect_timeout;
  o.timeouts.handshake = c.handshake_timeout;
  const CurveOptions& curve = c.curve;
  if (!curve.secret_key_file.empty() || !curve.server_public_key.empty() ||
      !curve.render_server_public_key.empty() || !curve.authorized_keys_dir.empty()) {
    o.security.curve = curve;
  }
  return o;
}

// The servers a just-started forward client is connected to. Start() returns as soon
// as the WELCOME is in, before the I/O thread has run OnConnected (Track), so without
// these server() could still be empty when Connect() returns.
std::vector<Connection> AdmittedPeers(const ProcessModule& module) {
  std::vector<Connection> peers;
  for (const PeerInfo& info : module.Connections()) {
    if (Result<Connection> peer = module.FindConnection(info.session); peer.ok()) {
      peers.push_back(*peer);
    }
  }
  return peers;
}

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// ---------------------------------------------------------------------------------
// The relay behind cdsrsrc:// (see Client::PortRelay below)
// ---------------------------------------------------------------------------------

// Per direction: a relay holding this much for a peer that does not read stops
// reading from the other side, so TCP's own flow control reaches the sender.
constexpr size_t kRelayBuffer = 256 * 1024;
// After the module has closed its sockets, how long the relay may take to pass on
// what they sent last (the BYE) before it closes everything.
constexpr milliseconds kRelayDrain{500};

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  sockaddr* get() { return reinterpret_cast<sockaddr*>(&storage); }
};

// The address of `endpoint`'s host and port. "*" is every IPv4 interface, as
// ZeroMQ binds it; names resolve to IPv4 unless bracketed, as ZeroMQ's do.
// `verb` and `text` name the failure: "cannot bind tcp://...".
Result<SocketAddress> Resolve(const TcpEndpoint& endpoint, std::string_view verb,
                              std::string_view text) {
  std::string_view host = endpoint.host;
  const bool ipv6 = host.size() > 2 && host.front() == '[' && host.back() == ']';
  if (ipv6) host = host.substr(1, host.size() - 2);
  SocketAddress out;
  if (endpoint.host == "*") {
    auto* in = reinterpret_cast<sockaddr_in*>(&out.storage);
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = htonl(INADDR_ANY);
    in->sin_port = htons(static_cast<uint16_t>(endpoint.port));
    out.length = sizeof(sockaddr_in);
    return out;
  }
  addrinfo hints{};
  hints.ai_family = ipv6 ? AF_INET6 : AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const int rc =
      getaddrinfo(std::string(host).c_str(), std::to_string(endpoint.port).c_str(), &hints, &found);
  if (rc != 0 || found == nullptr) {
    return UnavailableError("cannot " + std::string(verb) + " " + std::string(text) + ": " +
                            gai_strerror(rc));
  }
  std::memcpy(&out.storage, found->ai_addr, found->ai_addrlen);
  out.length = found->ai_addrlen;
  freeaddrinfo(found);
  return out;
}

// "tcp://127.0.0.1:40123", "tcp://[::1]:40123": how ZeroMQ prints a bound endpoint.
std::string FormatEndpoint(const SocketAddress& address) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address.storage.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&address.storage);
    inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
    return "tcp://[" + std::string(text) + "]:" + std::to_string(ntohs(in6->sin6_port));
  }
  const auto* in = reinterpret_cast<const sockaddr_in*>(&address.storage);
  inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
  return "tcp://" + std::string(text) + ":" + std::to_string(ntohs(in->sin_port));
}

// Forwarded bytes should leave at once, as ZeroMQ's own sockets have them do.
void NoDelay(int fd) {
  const int one = 1;
  (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// ---------------------------------------------------------------------------------
// URLs
// ---------------------------------------------------------------------------------

Status ReverseUrlForConnect(std::string_view url) {
  const std::string scheme(url.substr(0, url.find("://")));
  return InvalidArgumentError("bad URL '" + std::string(url) + "': " + scheme +
                              ":// is a reverse connection, where the client listens: "
                              "Client::WaitForServer takes it");
}

Status ForwardUrlForWait(std::string_view url) {
  const std::string scheme(url.substr(0, url.find("://")));
  return InvalidArgumentError("bad URL '" + std::string(url) + "': " + scheme +
                              ":// is a forward connection, where the client dials: "
                              "Client::Connect takes it; listen at tcp://HOST:PORT or "
                              "csrc://[HOST][:PORT]");
}

// One server's URL of a render pair given apart: anything one dial can reach.
Status CheckOneServerUrl(const std::string& url) {
  Result<ConnectionUrl> parsed = ParseConnectionUrl(url);
  if (!parsed.ok()) return parsed.status();
  if (parsed->kind == ConnectionUrl::kReverse) return ReverseUrlForConnect(url);
  if (parsed->render_client) {
    return InvalidArgumentError("bad URL '" + url +
                                "': cdsrs:// names both servers; give it alone, as "
                                "Client::Connect(url), or one server per URL");
  }
  return Status();
}

// "10s" for whole seconds, else "500ms": how the CLI and the configuration write it.
std::string FormatTimeout(milliseconds ms) {
  if (ms.count() % 1000 == 0) return std::to_string(ms.count() / 1000) + "s";
  return std::to_string(ms.count()) + "ms";
}

}  // namespace

// Listens on a second TCP port and forwards every connection made to it to the
// module's listening socket, byte for byte both ways, on a thread of its own.
//
// Why: cdsrsrc:// has the client listen on two ports, a data server's and a render
// server's, but the process module binds one endpoint. The servers speak ZMTP end to
// end through the relay (CURVE included), so the module sees two servers on one
// socket, as it would with cdsrsrc://H:P/H:P; only the render server's address reads
// as the relay's (a local one).
class Client::PortRelay {
 public:
  // Binds `endpoint` (tcp://HOST:PORT; '*' every interface, port 0 any free port).
  static Result<std::unique_ptr<PortRelay>> Bind(const std::string& endpoint) {
    // Port 0 binds any free port, as ZeroMQ's bind does.
    Result<TcpEndpoint> split = ParseTcpEndpoint(endpoint, PortUse::kBind);
    if (!split.ok()) {
      return InvalidArgumentError("cannot bind " + endpoint + ": not tcp://HOST:PORT");
    }
    Result<SocketAddress> address = Resolve(*split, "bind", endpoint);
    if (!address.ok()) return address.status();
    std::unique_ptr<PortRelay> relay(new PortRelay());
    relay->listen_fd_ =
        socket(address->storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    const int one = 1;
    if (relay->listen_fd_ < 0 ||
        setsockopt(relay->listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(relay->listen_fd_, address->get(), address->length) != 0 ||
        listen(relay->listen_fd_, SOMAXCONN) != 0) {
      return UnavailableError("cannot bind " + endpoint + ": " + std::strerror(errno));
    }
    SocketAddress bound;
    bound.length = sizeof bound.storage;
    if (getsockname(relay->listen_fd_, bound.get(), &bound.length) != 0) {
      return UnavailableError("cannot bind " + endpoint + ": " + std::strerror(errno));
    }
    relay->endpoint_ = FormatEndpoint(bound);
    relay->stop_fd_ = eventfd(0, EFD_CLOEXEC);
    if (relay->stop_fd_ < 0) {
      return UnavailableError(std::string("eventfd: ") + std::strerror(errno));
    }
    return relay;
  }

  ~PortRelay() {
    if (thread_.joinable()) {
      const uint64_t one = 1;
      [[maybe_unused]] const ssize_t n = write(stop_fd_, &one, sizeof one);
      thread_.join();
    }
    if (stop_fd_ >= 0) close(stop_fd_);
    if (listen_fd_ >= 0) close(listen_fd_);
  }

  PortRelay(const PortRelay&) = delete;
  PortRelay& operator=(const PortRelay&) = delete;

  // Where servers dial, as bound (port 0 resolved).
  const std::string& endpoint() const { return endpoint_; }

  // Starts forwarding to `target`, the module's ListenEndpoint(). A module bound to
  // every interface is reached on loopback.
  Status Start(const std::string& target) {
    // The port is the module's, bound already; kBind only keeps this check as loose as
    // the one it replaced.
    Result<TcpEndpoint> split = ParseTcpEndpoint(target, PortUse::kBind);
    if (!split.ok()) {
      return InvalidArgumentError("cannot relay to " + target + ": not tcp://HOST:PORT");
    }
    if (split->host == "0.0.0.0" || split->host == "*") split->host = "127.0.0.1";
    if (split->host == "[::]") split->host = "[::1]";
    Result<SocketAddress> address = Resolve(*split, "relay to", target);
    if (!address.ok()) return address.status();
    target_ = *address;
    thread_ = std::thread([this] { Run(); });
    return Status();
  }

 private:
  // One relayed connection. Side 0 is the server that dialed in, side 1 our
  // connection to the module.
  struct Pair {
    int fd[2] = {-1, -1};
    std::string out[2];             // read from the other side, to be written to fd[i]
    bool eof[2] = {false, false};   // fd[i] has nothing more to read
    bool shut[2] = {false, false};  // fd[i]'s writing half is shut down
    bool failed = false;

    bool done() const { return failed || (eof[0] && eof[1] && out[0].empty() && out[1].empty()); }
  };

  PortRelay() = default;

  void Run() {
    std::vector<Pair> pairs;
    std::vector<pollfd> fds;
    bool draining = false;
    Clock::time_point drain_deadline;
    for (;;) {
      int timeout = -1;
      if (draining) {
        const auto left = std::chrono::duration_cast<milliseconds>(drain_deadline - Clock::now());
        if (pairs.empty() || left.count() <= 0) break;
        timeout = static_cast<int>(left.count());
      }
      fds.assign({{stop_fd_, POLLIN, 0}, {draining ? -1 : listen_fd_, POLLIN, 0}});
      for (const Pair& p : pairs) {
        for (int i = 0; i < 2; ++i) {
          short events = 0;
          if (!p.eof[i] && p.out[1 - i].size() < kRelayBuffer) events |= POLLIN;
          if (!p.out[i].empty()) events |= POLLOUT;
          // Nothing to do with it: not polled at all, so a hung-up socket cannot spin.
          fds.push_back({events != 0 ? p.fd[i] : -1, events, 0});
        }
      }
      if (poll(fds.data(), fds.size(), timeout) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (fds[0].revents & POLLIN) {
        uint64_t count = 0;
        [[maybe_unused]] const ssize_t n = read(stop_fd_, &count, sizeof count);
        draining = true;
        drain_deadline = Clock::now() + kRelayDrain;
      }
      for (size_t k = 0; k < pairs.size(); ++k) Pump(pairs[k], &fds[2 + 2 * k]);
      if (fds[1].revents & POLLIN) Accept(pairs);  // appended: polled from the next turn
      for (Pair& p : pairs) {
        if (!p.done()) continue;
        close(p.fd[0]);
        close(p.fd[1]);
      }
      std::erase_if(pairs, [](const Pair& p) { return p.done(); });
    }
    for (Pair& p : pairs) {
      close(p.fd[0]);
      close(p.fd[1]);
    }
  }

  void Accept(std::vector<Pair>& pairs) {
    const int down = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (down < 0) return;
    // The module listens on this host: the connect is local and immediate.
    const int up = socket(target_.storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (up < 0 || connect(up, target_.get(), target_.length) != 0 ||
        fcntl(up, F_SETFL, fcntl(up, F_GETFL) | O_NONBLOCK) != 0) {
      if (up >= 0) close(up);
      close(down);  // the server sees the connection drop, and dials again
      return;
    }
    NoDelay(down);
    NoDelay(up);
    Pair pair;
    pair.fd[0] = down;
    pair.fd[1] = up;
    pairs.push_back(std::move(pair));
  }

  // Moves what poll() says can move for `p`; `polled` are its two pollfds.
  static void Pump(Pair& p, const pollfd* polled) {
    constexpr short kGone = POLLHUP | POLLERR;
    for (int i = 0; i < 2; ++i) {
      const short events = polled[i].events;
      const short revents = polled[i].revents;
      if ((events & POLLIN) && (revents & (POLLIN | kGone))) {
        char buffer[64 * 1024];
        const ssize_t n = read(p.fd[i], buffer, sizeof buffer);
        if (n > 0) {
          p.out[1 - i].append(buffer, static_cast<size_t>(n));
        } else if (n == 0) {
          p.eof[i] = true;
        } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          p.failed = true;
        }
      }
      if ((events & POLLOUT) && (revents & (POLLOUT | kGone))) {
        const ssize_t n = send(p.fd[i], p.out[i].data(), p.out[i].size(), MSG_NOSIGNAL);
        if (n > 0) {
          p.out[i].erase(0, static_cast<size_t>(n));
        } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          p.failed = true;
        }
      }
    }
    // An end of stream is passed on once everything before it is.
    for (int i = 0; i < 2; ++i) {
      if (p.eof[1 - i] && p.out[i].empty() && !p.shut[i]) {
        (void)shutdown(p.fd[i], SHUT_WR);
        p.shut[i] = true;
      }
    }
  }

  int listen_fd_ = -1;
  int stop_fd_ = -1;  // eventfd: wakes the thread to drain and stop
  SocketAddress target_;
  std::string endpoint_;
  std::thread thread_;
};

Result<std::unique_ptr<Client>> Client::Create(Options module_options, ClientOptions options) {
  Result<ProcessModule*> module = ProcessModule::Initialize(std::move(module_options));
  if (!module.ok()) return module.status();
  std::unique_ptr<Client> client(new Client(*module, std::move(options)));
  Client* self = client.get();
  (*module)->OnConnected([self](const Connection& peer) { self->Track(peer); });
  (*module)->OnData([self](const Connection& from, std::string_view channel, Frames payload) {
    self->Dispatch(from, channel, std::move(payload));
  });
  return client;
}

Client::Client(ProcessModule* module, ClientOptions options)
    : module_(module), options_(std::move(options)) {}

Client::~Client() { ProcessModule::Finalize(); }

void Client::Track(const Connection& peer) {
  ConnectedCallback user;
  {
    std::lock_guard<std::mutex> lock(mu_);
    (peer.role() == "render-server" ? render_server_ : server_) = peer;
    user = on_connected_;
  }
  if (options_.collab_news && peer.role() != "render-server") {
    // Not waited for: this may run on the I/O thread, and the news simply starts
    // flowing once the server has it. Subscribing twice is harmless.
    (void)peer.Request("collab.subscribe");
  }
  if (user) user(peer);  // outside the lock: callbacks never run under it
}

Result<std::unique_ptr<Client>> Client::Connect(const std::string& url, ClientOptions options) {
  Result<ConnectionUrl> parsed = ParseConnectionUrl(url);
  if (!parsed.ok()) return parsed.status();
  if (parsed->kind == ConnectionUrl::kReverse) return ReverseUrlForConnect(url);
  if (parsed->render_client) {
    return ConnectRenderPair(parsed->data_endpoint, parsed->render_endpoint, std::move(options));
  }
  Options o = ModuleOptions(options);
  o.mode = Mode::kForward;
  // As given: the module dials cs:// itself, and its errors then name the user's URL.
  o.server_url = url;
  Result<std::unique_ptr<Client>> client = Create(std::move(o), std::move(options));
  if (!client.ok()) return client;
  if (Status s = (*client)->module_->Start(); !s.ok()) return s;  // ~Client finalizes
  for (const Connection& peer : AdmittedPeers(*(*client)->module_)) (*client)->Track(peer);
  return client;
}

Result<std::unique_ptr<Client>> Client::Connect(const std::string& data_url,
                                                const std::string& render_url, milliseconds timeout,
                                                ClientOptions options) {
  options.connect_timeout = timeout;
  if (render_url.empty()) return Connect(data_url, std::move(options));
  return ConnectRenderPair(data_url, render_url, std::move(options));
}

Result<std::unique_ptr<Client>> Client::ConnectRenderPair(const std::string& data_url,
                                                          const std::string& render_url,
                                                          ClientOptions options) {
  if (Status s = CheckOneServerUrl(data_url); !s.ok()) return s;
  if (Status s = CheckOneServerUrl(render_url); !s.ok()) return s;
  Options o = ModuleOptions(options);
  o.mode = Mode::kForward;
  o.render_client = true;
  o.server_url = data_url;
  o.render_server_url = render_url;
  Result<std::unique_ptr<Client>> client = Create(std::move(o), std::move(options));
  if (!client.ok()) return client;
  if (Status s = (*client)->module_->Start(); !s.ok()) return s;
  for (const Connection& peer : AdmittedPeers(*(*client)->module_)) (*client)->Track(peer);
  return client;
}

Result<std::unique_ptr<Client>> Client::WaitForServer(
    const std::string& listen_url, ClientOptions options,
    std::function<void(const std::string& endpoint)> on_listening) {
  Result<ConnectionUrl> parsed = ParseConnectionUrl(listen_url);
  if (!parsed.ok()) return parsed.status();
  if (parsed->kind == ConnectionUrl::kForward) return ForwardUrlForWait(listen_url);
  if (parsed->render_client) {
    return WaitForRenderPair(parsed->data_endpoint, parsed->render_endpoint, std::move(options),
                             on_listening);
  }
  return WaitForOne(parsed->data_endpoint, std::move(options), on_listening);
}

Result<std::unique_ptr<Client>> Client::ReverseConnect(int port, milliseconds timeout,
                                                       ClientOptions options) {
  if (port < 0 || port > 65535) {
    return InvalidArgumentError("ReverseConnect: port " + std::to_string(port) +
                                " is out of range 0-65535");
  }
  options.connect_timeout = timeout;
  return WaitForServer("csrc://:" + std::to_string(port), std::move(options));
}

Result<std::unique_ptr<Client>> Client::WaitForOne(
    const std::string& listen_url, ClientOptions options,
    const std::function<void(const std::string&)>& on_listening) {
  Options o = ModuleOptions(options);
  o.mode = Mode::kReverse;
  o.listen = listen_url;
  o.multiple_connections = true;  // bind now, admit in MonitorConnections below
  Result<std::unique_ptr<Client>> client = Create(std::move(o), options);
  if (!client.ok()) return client;
  ProcessModule& module = *(*client)->module_;
  if (Status s = module.Start(); !s.ok()) return s;
  if (on_listening) on_listening(module.ListenEndpoint());
  // connect_timeout 0 means no limit, but MonitorConnections(0) only admits what
  // already knocked and returns: wait in long rounds instead.
  const bool unlimited = options.connect_timeout.count() == 0;
  const milliseconds round = unlimited ? std::chrono::hours(1) : options.connect_timeout;
  Result<int> admitted = module.MonitorConnections(round);
  while (unlimited && admitted.ok() && *admitted == 0) {
    admitted = module.MonitorConnections(round);
  }
  if (!admitted.ok()) return admitted.status();
  if (*admitted == 0) {
    return DeadlineExceededError("no server connected to " + module.ListenEndpoint() + " within " +
                                 FormatTimeout(options.connect_timeout));
  }
  // One server, as in ParaView's reverse mode: any other gets DENY 409.
  module.SetAcceptingConnections(false);
  return client;
}

Result<std::unique_ptr<Client>> Client::WaitForRenderPair(
    const std::string& data_listen, const std::string& render_listen, ClientOptions options,
    const std::function<void(const std::string&)>& on_listening) {
  Options o = ModuleOptions(options);
  o.mode = Mode::kReverse;
  o.render_client = true;
  o.listen = data_listen;
  // Bind now and admit in MonitorConnections below, as WaitForOne; the roles are
  // sorted out here, since a multi-connection module takes any server.
  o.multiple_connections = true;
  Result<std::unique_ptr<Client>> client = Create(std::move(o), options);
  if (!client.ok()) return client;
  Client& self = **client;
  ProcessModule& module = *self.module_;
  if (Status s = module.Start(); !s.ok()) return s;
  const std::string data_endpoint = module.ListenEndpoint();
  std::string render_endpoint = data_endpoint;
  // The same fixed endpoint twice is one port both servers dial; port 0 twice is
  // two free ports.
  if (render_listen != data_listen || render_listen.ends_with(":0")) {
    Result<std::unique_ptr<PortRelay>> relay = PortRelay::Bind(render_listen);
    if (!relay.ok()) return relay.status();
    if (Status s = (*relay)->Start(data_endpoint); !s.ok()) return s;
    render_endpoint = (*relay)->endpoint();
    self.relay_ = std::move(*relay);
  }
  if (on_listening) {
    on_listening(data_endpoint);
    on_listening(render_endpoint);
  }

  const bool unlimited = options.connect_timeout.count() == 0;
  const Clock::time_point deadline = Clock::now() + options.connect_timeout;
  Connection data;
  Connection render;
  for (;;) {
    // Admitted peers, sorted afresh each time: one that left meanwhile is gone.
    data = Connection();
    render = Connection();
    for (const Connection& peer : AdmittedPeers(module)) {
      const std::string& role = peer.role();
      Connection* slot = role == "data-server"     ? &data
                         : role == "render-server" ? &render
                                                   : nullptr;
      if (slot != nullptr && !slot->valid()) {
        *slot = peer;
        continue;
      }
      // Admitted already (a multi-connection module takes any server), so BYE
      // instead of DENY: a combined server, or a second one of a kind.
      (void)peer.Close(slot != nullptr ? "this client has its " + role + " already"
                                       : "this client waits for a data server and a render "
                                         "server (render-client mode), not a " +
                                             role);
    }
    if (data.valid() && render.valid()) break;
    const milliseconds left =
        unlimited ? milliseconds(std::chrono::hours(1))
                  : std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) break;
    Result<int> admitted = module.MonitorConnections(left);
    if (!admitted.ok()) return admitted.status();
  }
  if (!data.valid() || !render.valid()) {
    std::string missing;
    if (!data.valid()) missing = "no data server connected to " + data_endpoint;
    if (!render.valid()) {
      missing += (missing.empty() ? "no" : " and no") +
                 std::string(" render server connected to ") + render_endpoint;
    }
    return DeadlineExceededError(missing + " within " + FormatTimeout(options.connect_timeout));
  }
  // Those two, as in ParaView's render-client mode: any other gets DENY 409.
  module.SetAcceptingConnections(false);
  {
    // Track() saw every admission, refused ones too: name the two kept.
    std::lock_guard<std::mutex> lock(self.mu_);
    self.server_ = data;
    self.render_server_ = render;
  }
  return client;
}

Connection Client::server() const {
  std::lock_guard<std::mutex> lock(mu_);
  return server_;
}

Connection Client::render_server() const {
  std::lock_guard<std::mutex> lock(mu_);
  return render_server_;
}

Result<Reply> Client::Request(std::string method, Frames payload, std::chrono::milliseconds timeout,
                              std::string args) {
  const Connection to = server();
  if (!to.valid()) return UnavailableError("not connected to a server");
  if (timeout.count() == 0) timeout = options_.request_timeout;
  return to.Request(std::move(method), std::move(payload), timeout, std::move(args)).get();
}

Status Client::Send(std::string_view bytes, std::string_view channel) {
  const Connection to = server();
  if (!to.valid()) return UnavailableError("not connected to a server");
  return to.Send(bytes, channel);
}

Status Client::Send(Frames payload, std::string_view channel) {
  const Connection to = server();
  if (!to.valid()) return UnavailableError("not connected to a server");
  return to.Send(std::move(payload), channel);
}

void Client::OnData(DataCallback callback) {
  std::lock_guard<std::mutex> lock(mu_);
  on_data_ = std::move(callback);
}

void Client::OnServerExpiring(std::function<void(std::chrono::milliseconds left)> callback) {
  std::lock_guard<std::mutex> lock(mu_);
  on_expiring_ = std::move(callback);
}

void Client::Dispatch(const Connection& from, std::string_view channel, Frames payload) {
  DataCallback data;
  std::function<void(std::chrono::milliseconds)> expiring;
  {
    std::lock_guard<std::mutex> lock(mu_);
    data = on_data_;
    expiring = on_expiring_;
  }
  // Callbacks run outside the lock, as everywhere here.
  if (channel != "server") {
    if (data) data(from, channel, std::move(payload));
    return;
  }
  // {"expires_in_ms": N} (PROTOCOL, WELCOME): the one number is all we need.
  const std::string text = payload.empty() ? std::string() : payload[0].to_string();
  const size_t colon = text.find(':');
  if (!expiring || colon == std::string::npos) return;
  const long long left = std::strtoll(text.c_str() + colon + 1, nullptr, 10);
  expiring(std::chrono::milliseconds(std::max(left, 0LL)));
}

void Client::OnDisconnected(DisconnectCallback callback) {
  module_->OnDisconnected(std::move(callback));
}

void Client::OnDisconnected(DisconnectedCallback callback) {
  module_->OnDisconnected(std::move(callback));
}

void Client::OnConnected(ConnectedCallback callback) {
  std::lock_guard<std::mutex> lock(mu_);
  on_connected_ = std::move(callback);
}

}  // namespace procmod
