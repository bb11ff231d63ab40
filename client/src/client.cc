#include "procmod/client.h"

#include <optional>
#include <vector>

// ParseConnectionUrl is the library's (the module dials cs:// with the same code), and
// so is the lifetime notice's format; procmod_client does not link procmod_internal,
// whose include path would name them.
#include "protocol/url.h"      // lib/src: the URL parser the library dials with
#include "session/lifetime.h"  // lib/src: LifetimeNotice's reader

namespace procmod {
namespace {

// The module's options for one of the Client's calls: the caller's, less what the
// Client decides itself (each call then sets mode, the URLs and the endpoints).
Options ModuleOptions(const ClientOptions& c) {
  Options o = c.module;
  o.role = Role::kClient;
  o.extra_listen.clear();
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

using std::chrono::milliseconds;

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

Options ClientModuleDefaults() {
  Options o;
  o.name = "procmod-client";
  o.role = Role::kClient;
  o.timeouts.connect = std::chrono::seconds(10);
  return o;
}

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
  options.module.timeouts.connect = timeout;
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
  options.module.timeouts.connect = timeout;
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
  // timeouts.connect 0 means no limit, but MonitorConnections(0) only admits what
  // already knocked and returns: wait in long rounds instead.
  const bool unlimited = options.module.timeouts.connect.count() == 0;
  const milliseconds round = unlimited ? std::chrono::hours(1) : options.module.timeouts.connect;
  Result<int> admitted = module.MonitorConnections(round);
  while (unlimited && admitted.ok() && *admitted == 0) {
    admitted = module.MonitorConnections(round);
  }
  if (!admitted.ok()) return admitted.status();
  if (*admitted == 0) {
    return DeadlineExceededError("no server connected to " + module.ListenEndpoint() + " within " +
                                 FormatTimeout(options.module.timeouts.connect));
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
  // The same fixed endpoint twice is one port both servers dial; port 0 twice is two
  // free ports. Either way one socket: the render server dials this process itself,
  // and its connection shows its own address.
  if (render_listen != data_listen || render_listen.ends_with(":0")) {
    o.extra_listen = {render_listen};
  }
  // Bind now and admit in MonitorConnections below, as WaitForOne; the roles are
  // sorted out here, since a multi-connection module takes any server.
  o.multiple_connections = true;
  Result<std::unique_ptr<Client>> client = Create(std::move(o), options);
  if (!client.ok()) return client;
  Client& self = **client;
  ProcessModule& module = *self.module_;
  if (Status s = module.Start(); !s.ok()) return s;
  const std::vector<std::string> bound = module.ListenEndpoints();
  const std::string data_endpoint = bound.front();
  const std::string render_endpoint = bound.size() > 1 ? bound[1] : data_endpoint;
  if (on_listening) {
    on_listening(data_endpoint);
    on_listening(render_endpoint);
  }

  const bool unlimited = options.module.timeouts.connect.count() == 0;
  const auto deadline = std::chrono::steady_clock::now() + options.module.timeouts.connect;
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
        unlimited
            ? milliseconds(std::chrono::hours(1))
            : std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
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
    return DeadlineExceededError(missing + " within " +
                                 FormatTimeout(options.module.timeouts.connect));
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

ReplyFuture Client::Request(std::string method, Frames payload, milliseconds timeout,
                            std::string args) {
  const Connection to = server();
  if (!to.valid()) return ReplyFuture::Failed(UnavailableError("not connected to a server"));
  if (timeout.count() == 0) timeout = options_.request_timeout;
  return to.Request(std::move(method), std::move(payload), timeout, std::move(args));
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
  if (!expiring || payload.empty()) return;
  if (std::optional<milliseconds> left = ParseLifetimeNotice(payload[0].to_string_view())) {
    expiring(*left);
  }
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

void Client::OnSuspended(SuspendedCallback callback) { module_->OnSuspended(std::move(callback)); }

void Client::OnResumed(ConnectedCallback callback) { module_->OnResumed(std::move(callback)); }

void Client::OnReconnecting(ReconnectingCallback callback) {
  module_->OnReconnecting(std::move(callback));
}

}  // namespace procmod
