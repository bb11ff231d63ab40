#include "procmod/client.h"

#include <vector>

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
      !curve.authorized_keys_dir.empty()) {
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

}  // namespace

Result<std::unique_ptr<Client>> Client::Create(Options module_options, ClientOptions options) {
  Result<ProcessModule*> module = ProcessModule::Initialize(std::move(module_options));
  if (!module.ok()) return module.status();
  std::unique_ptr<Client> client(new Client(*module, std::move(options)));
  Client* self = client.get();
  (*module)->OnConnected([self](const Connection& peer) { self->Track(peer); });
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
  Options o = ModuleOptions(options);
  o.mode = Mode::kForward;
  o.server_url = url;
  Result<std::unique_ptr<Client>> client = Create(std::move(o), std::move(options));
  if (!client.ok()) return client;
  if (Status s = (*client)->module_->Start(); !s.ok()) return s;  // ~Client finalizes
  for (const Connection& peer : AdmittedPeers(*(*client)->module_)) (*client)->Track(peer);
  return client;
}

Result<std::unique_ptr<Client>> Client::ConnectRenderPair(const std::string& data_url,
                                                          const std::string& render_url,
                                                          ClientOptions options) {
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
  const std::chrono::milliseconds round =
      unlimited ? std::chrono::hours(1) : options.connect_timeout;
  Result<int> admitted = module.MonitorConnections(round);
  while (unlimited && admitted.ok() && *admitted == 0) {
    admitted = module.MonitorConnections(round);
  }
  if (!admitted.ok()) return admitted.status();
  if (*admitted == 0) {
    return DeadlineExceededError("no server connected to " + module.ListenEndpoint() + " within " +
                                 std::to_string(options.connect_timeout.count()) + " ms");
  }
  // One server, as in ParaView's reverse mode: any other gets DENY 409.
  module.SetAcceptingConnections(false);
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

void Client::OnData(DataCallback callback) { module_->OnData(std::move(callback)); }

void Client::OnDisconnected(DisconnectedCallback callback) {
  module_->OnDisconnected(std::move(callback));
}

void Client::OnConnected(ConnectedCallback callback) {
  std::lock_guard<std::mutex> lock(mu_);
  on_connected_ = std::move(callback);
}

}  // namespace procmod
