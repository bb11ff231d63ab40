// The public facade: validates, keeps the singleton, and turns each mode's Start()
// into the IoLoop calls that bind, connect or wait. It touches no socket.
#include "procmod/process_module.h"

#include <mutex>

#include "io/io_loop.h"
#include "security/curve_keys.h"

namespace procmod {
namespace {

std::mutex g_module_mu;
std::unique_ptr<ProcessModule> g_module;  // guarded by g_module_mu

// The roles an accepting side admits, by what it is.
std::vector<std::string> AcceptedRoles(const Options& o, bool multi) {
  if (o.role != Role::kClient) return {"client"};
  if (multi) return {"server", "data-server", "render-server"};
  if (o.render_client) return {"data-server", "render-server"};
  return {"server"};
}

Status Validate(const Options& o) {
  if (o.heartbeat.interval.count() <= 0) {
    return InvalidArgumentError("heartbeat.interval must be positive");
  }
  if (o.heartbeat.liveness == 0) return InvalidArgumentError("heartbeat.liveness must be ≥ 1");
  if (o.render_client && o.role != Role::kClient) {
    return InvalidArgumentError("render-client mode is for role client");
  }
  return Status();
}

// The Z85 key `key_or_file` names, or "" for the process's server_public_key.
Result<std::string> RemoteKey(const std::string& key_or_file, std::string_view what) {
  if (key_or_file.empty()) return std::string();
  return ResolvePublicKey(key_or_file, what);
}

}  // namespace

std::string_view DisconnectReasonName(DisconnectReason reason) {
  switch (reason) {
    case DisconnectReason::kBye:
      return "bye";
    case DisconnectReason::kExpired:
      return "expired";
    case DisconnectReason::kClosed:
      return "closed";
    case DisconnectReason::kReplaced:
      return "replaced";
    case DisconnectReason::kForgotten:
      return "forgotten";
  }
  return "unknown";
}

std::string_view RunEndName(RunEnd end) {
  switch (end) {
    case RunEnd::kStopped:
      return "stopped";
    case RunEnd::kPeerLeft:
      return "peer left";
    case RunEnd::kPeerLost:
      return "peer lost";
    case RunEnd::kAcceptTimeout:
      return "accept timeout";
    case RunEnd::kSessionTimeout:
      return "session timeout";
    case RunEnd::kUnreachable:
      return "broker unreachable";
    case RunEnd::kDenied:
      return "denied by the broker";
  }
  return "unknown";
}

Result<ProcessModule*> ProcessModule::Initialize(Options options) {
  std::lock_guard<std::mutex> lock(g_module_mu);
  if (g_module) {
    return FailedPreconditionError(
        "a process module already exists in this process (rule S1); call "
        "ProcessModule::Get() instead");
  }
  if (Status s = Validate(options); !s.ok()) return s;
  // Which sides this process has decides which CURVE keys it needs (docs/SECURITY.md). A
  // forward client may name each server's key when it connects instead.
  const bool accepts = options.mode != Mode::kBroker &&
                       (options.mode == Mode::kForward) != (options.role == Role::kClient);
  const bool forward_client = options.mode == Mode::kForward && options.role == Role::kClient;
  Result<CurveSetup> curve =
      ResolveCurve(options.security.curve, accepts, /*dials=*/!accepts && !forward_client);
  if (!curve.ok()) return curve.status();
  Result<std::shared_ptr<IoLoop>> loop = IoLoop::Create(options, std::move(*curve));
  if (!loop.ok()) return loop.status();
  g_module.reset(new ProcessModule());
  g_module->loop_ = std::move(*loop);
  g_module->multi_ = options.multiple_connections;
  return g_module.get();
}

Result<ProcessModule*> ProcessModule::Get() {
  std::lock_guard<std::mutex> lock(g_module_mu);
  if (!g_module) {
    return FailedPreconditionError(
        "no process module: call ProcessModule::Initialize() first (rule S1)");
  }
  return g_module.get();
}

std::string_view ProcessModule::ProtocolVersion() { return pmp::kProtocolVersion; }

void ProcessModule::Finalize() {
  std::unique_ptr<ProcessModule> module;
  {
    std::lock_guard<std::mutex> lock(g_module_mu);
    module = std::move(g_module);
  }
  // Destroyed outside the lock: shutdown sends BYEs and waits for linger.
}

ProcessModule::~ProcessModule() {
  if (loop_) loop_->Shutdown();
}

const Options& ProcessModule::options() const { return loop_->options(); }

Status ProcessModule::SetSupportMultipleConnections(bool enabled) {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_) {
    return FailedPreconditionError(
        "SupportMultipleConnections must be set before Start() (rule M0)");
  }
  multi_ = enabled;
  return Status();
}

bool ProcessModule::SupportMultipleConnections() const {
  std::lock_guard<std::mutex> lock(mu_);
  return multi_;
}

Status ProcessModule::Start() {
  bool multi = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (started_) return FailedPreconditionError("Start() was already called");
    started_ = true;
    multi = multi_;
  }
  const Options& o = options();
  if (o.mode == Mode::kBroker) return StartWithBroker(o, multi);
  const bool client = o.role == Role::kClient;
  const bool accepting = (o.mode == Mode::kForward) != client;  // server xor reverse

  if (accepting) {
    AdmissionPolicy policy;
    policy.multi = multi;
    policy.max_connections = o.limits.max_connections;
    policy.connect_id = o.connect_id;
    policy.accepted_roles = AcceptedRoles(o, multi);
    const bool gated = client && multi;  // M3: admit only in MonitorConnections()
    if (Status s = loop_->Bind(std::move(policy), gated); !s.ok()) return s;
    if (!client) {  // F1: the server waits for its client in Run()
      loop_->ArmRun(multi, !multi, multi ? milliseconds(0) : o.timeouts.accept, o.timeouts.session);
      return Status();
    }
    loop_->ArmRun(multi, !multi, milliseconds(0), o.timeouts.session);
    if (multi) return Status();  // M3
    // R1: wait for the server, or for the data server and the render server.
    return loop_->WaitForPeers(o.render_client ? 2 : 1, o.timeouts.accept);
  }

  if (!client) {  // R2: a reverse server dials its one client (R3 also when multi)
    if (o.client_url.empty()) return InvalidArgumentError("reverse server needs client_url");
    loop_->ArmRun(multi, true, milliseconds(0), o.timeouts.session);
    Result<Connection> c = loop_->Connect(o.client_url, "client");
    return c.status();
  }

  loop_->ArmRun(multi, !multi, milliseconds(0), milliseconds(0));
  if (multi) return Status();  // M2: ConnectToRemote() does the connecting
  // F2: connect before the application goes on.
  if (o.server_url.empty()) return InvalidArgumentError("forward client needs server_url");
  Result<Connection> first =
      loop_->Connect(o.server_url, o.render_client ? "data-server" : "server");
  if (!first.ok() || !o.render_client) return first.status();
  if (o.render_server_url.empty()) {
    (void)first->Close("render-client needs a render server");
    return InvalidArgumentError("render-client mode needs render_server_url");
  }
  Result<Connection> second =
      loop_->Connect(o.render_server_url, "render-server", loop_->RenderServerKey());
  if (!second.ok()) (void)first->Close("render server unreachable");
  return second.status();
}

// Broker mode: a server registers its service with the broker and serves the
// clients it relays; a client reaches a service through it (broker+tcp:// URLs).
Status ProcessModule::StartWithBroker(const Options& o, bool multi) {
  if (o.broker_url.empty() || o.service.empty()) {
    return InvalidArgumentError("mode broker needs broker_url and service");
  }
  const std::string url = "broker+" + o.broker_url + "/" + o.service;
  if (o.role == Role::kClient) {
    loop_->ArmRun(multi, !multi, milliseconds(0), milliseconds(0));
    return loop_->Connect(url, "").status();
  }
  if (Status s = loop_->BindAdminOnly(); !s.ok()) return s;
  // Single: Run() ends when the one client leaves (or the broker goes), as forward.
  loop_->ArmRun(multi, !multi, multi ? milliseconds(0) : o.timeouts.accept, o.timeouts.session);
  return loop_->Connect(url, "broker").status();
}

std::string ProcessModule::ListenEndpoint() const { return loop_->ListenEndpoint(); }
std::vector<std::string> ProcessModule::ListenEndpoints() const { return loop_->ListenEndpoints(); }
std::string ProcessModule::AdminEndpoint() const { return loop_->AdminEndpoint(); }
void ProcessModule::SetAcceptingConnections(bool accepting) { loop_->SetAccepting(accepting); }
void ProcessModule::SetConnectId(uint64_t connect_id) { loop_->SetConnectId(connect_id); }
void ProcessModule::SetLifetime(std::chrono::milliseconds remaining) {
  loop_->SetLifetime(remaining);
}
Status ProcessModule::ReloadAuthorizedKeys() { return loop_->ReloadAuthorizedKeys().status(); }

Result<Connection> ProcessModule::ConnectToRemote(const std::string& url,
                                                  std::string_view expected_role) {
  return loop_->Connect(url, std::string(expected_role));
}

Result<Connection> ProcessModule::ConnectToRemote(const std::string& url,
                                                  const RemoteOptions& remote) {
  Result<std::string> key = RemoteKey(remote.server_public_key, "RemoteOptions::server_public_key");
  if (!key.ok()) return key.status();
  return loop_->Connect(url, remote.expected_role, *key);
}

Result<int> ProcessModule::MonitorConnections(std::chrono::milliseconds timeout) {
  return loop_->Monitor(timeout);
}

std::vector<PeerInfo> ProcessModule::Connections() const { return loop_->Snapshot(); }

Result<Connection> ProcessModule::FindConnection(const std::string& session) const {
  return loop_->Find(session);
}

RunEnd ProcessModule::Run() { return loop_->Run(); }
void ProcessModule::Stop() { loop_->Stop(); }

void ProcessModule::RegisterHandler(std::string method, RequestHandler handler) {
  loop_->SetHandler(std::move(method), std::move(handler));
}
void ProcessModule::OnConnected(ConnectedCallback cb) { loop_->SetOnConnected(std::move(cb)); }
void ProcessModule::OnDisconnected(DisconnectCallback cb) {
  loop_->SetOnDisconnected(std::move(cb));
}
void ProcessModule::OnDisconnected(DisconnectedCallback cb) {
  // An empty one must stay empty: wrapped, it would throw bad_function_call.
  if (!cb) return loop_->SetOnDisconnected(nullptr);
  loop_->SetOnDisconnected([cb = std::move(cb)](const Connection& peer, const Disconnect& how) {
    cb(peer, how.reason);
  });
}
void ProcessModule::OnData(DataCallback cb) { loop_->SetOnData(std::move(cb)); }
void ProcessModule::OnSuspended(SuspendedCallback cb) { loop_->SetOnSuspended(std::move(cb)); }
void ProcessModule::OnResumed(ConnectedCallback cb) { loop_->SetOnResumed(std::move(cb)); }

void ProcessModule::OnReconnecting(ReconnectingCallback cb) {
  loop_->SetOnReconnecting(std::move(cb));
}

}  // namespace procmod
