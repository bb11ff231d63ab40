#include "services.h"

#include <spdlog/spdlog.h>

namespace procmod::server {
namespace {

using json = nlohmann::json;

std::string Pack(const json& value) {
  std::vector<uint8_t> bytes = json::to_msgpack(value);
  return std::string(bytes.begin(), bytes.end());
}

std::optional<json> Args(const IncomingRequest& request) {
  if (request.args.empty()) return json::object();
  json args = json::from_msgpack(request.args, true, /*allow_exceptions=*/false);
  if (args.is_discarded() || !args.is_object()) return std::nullopt;
  return args;
}

Reply Error(uint32_t code, std::string message) {
  return Reply{.code = code, .error = std::move(message)};
}

std::vector<PeerInfo> Clients(ProcessModule& module) {
  std::vector<PeerInfo> clients;
  for (PeerInfo& peer : module.Connections()) {
    if (peer.incoming && peer.role == "client") clients.push_back(std::move(peer));
  }
  return clients;
}

}  // namespace

std::unique_ptr<ServerServices> ServerServices::Install(ProcessModule& module) {
  std::unique_ptr<ServerServices> services(new ServerServices(module));
  ServerServices* self = services.get();
  module.RegisterHandler("ping", [self](IncomingRequest& r) { return self->Ping(r); });
  module.RegisterHandler("info", [self](IncomingRequest& r) { return self->Info(r); });
  module.RegisterHandler("collab.accept",
                         [self](IncomingRequest& r) { return self->SetAccepting(r); });
  module.RegisterHandler("collab.connect_id",
                         [self](IncomingRequest& r) { return self->SetConnectId(r); });
  module.OnData([self](const Connection& from, std::string_view channel, Frames payload) {
    self->OnData(from, channel, std::move(payload));
  });
  module.OnConnected([self](const Connection& peer) { self->OnJoined(peer); });
  module.OnDisconnected([self](const Connection& peer, DisconnectReason reason) {
    self->OnLeft(peer, reason);
  });
  return services;
}

ServerServices::ServerServices(ProcessModule& module) : module_(module) {}

Reply ServerServices::Ping(IncomingRequest& request) {
  return Reply{.payload = std::move(request.payload)};
}

Reply ServerServices::Info(IncomingRequest&) {
  const Options& o = module_.options();
  const auto uptime = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started_);
  return Reply{.result = Pack(json{
                   {"name", o.name},
                   {"role", RoleName(o.role)},
                   {"mode", ModeName(o.mode)},
                   {"multi", module_.SupportMultipleConnections()},
                   {"software", "procmod " PROCMOD_VERSION},
                   {"protocol", "1.0"},
                   {"uptime_ms", uptime.count()},
                   {"clients", Clients(module_).size()},
               })};
}

std::optional<Reply> ServerServices::RequireMaster(const Connection& from) const {
  if (from.session() == master_) return std::nullopt;
  return Error(403, "only the master client may change this");
}

Reply ServerServices::SetAccepting(IncomingRequest& request) {
  if (auto denied = RequireMaster(request.from)) return std::move(*denied);
  std::optional<json> args = Args(request);
  if (!args || !args->contains("enabled") || !(*args)["enabled"].is_boolean()) {
    return Error(400, "collab.accept needs args {enabled: bool}");
  }
  const bool enabled = (*args)["enabled"];
  module_.SetAcceptingConnections(enabled);
  Announce({{"event", "accept"}, {"enabled", enabled}});
  return Reply{.result = Pack(json{{"accepting", enabled}})};
}

Reply ServerServices::SetConnectId(IncomingRequest& request) {
  if (auto denied = RequireMaster(request.from)) return std::move(*denied);
  std::optional<json> args = Args(request);
  if (!args || !args->contains("id") || !(*args)["id"].is_number_unsigned()) {
    return Error(400, "collab.connect_id needs args {id: uint}");
  }
  module_.SetConnectId((*args)["id"].get<uint64_t>());
  return Reply{.result = Pack(json{{"connect_id", (*args)["id"]}})};
}

void ServerServices::OnData(const Connection& from, std::string_view channel,
                            Frames payload) {
  if (channel != "broadcast" || !module_.SupportMultipleConnections()) return;
  for (const PeerInfo& client : Clients(module_)) {
    if (client.session == from.session()) continue;  // not back to its sender
    Result<Connection> to = module_.FindConnection(client.session);
    if (!to.ok()) continue;
    // zmq_msg_copy shares the buffer (reference counted): no bytes are copied.
    Frames copy(payload.size());
    for (size_t i = 0; i < payload.size(); ++i) copy[i].copy(payload[i]);
    (void)to->Send(std::move(copy), "broadcast");
  }
}

void ServerServices::OnJoined(const Connection& peer) {
  if (peer.role() != "client") return;
  Announce({{"event", "joined"}, {"session", peer.session()}, {"name", peer.name()}});
  CheckMaster();
}

void ServerServices::OnLeft(const Connection& peer, DisconnectReason reason) {
  if (peer.role() != "client") return;
  Announce({{"event", "left"},
            {"session", peer.session()},
            {"name", peer.name()},
            {"reason", DisconnectReasonName(reason)}});
  CheckMaster();
}

void ServerServices::CheckMaster() {
  std::string master;
  std::string name;
  for (const PeerInfo& client : Clients(module_)) {
    if (client.master) {
      master = client.session;
      name = client.name;
    }
  }
  if (master == master_) return;
  master_ = master;
  if (master.empty()) return;
  spdlog::info("procmod-server: master is now session {} ('{}')", master, name);
  Announce({{"event", "master"}, {"session", master}, {"name", name}});
}

void ServerServices::Announce(const json& event) {
  const std::string text = event.dump();
  for (const PeerInfo& client : Clients(module_)) {
    Result<Connection> to = module_.FindConnection(client.session);
    if (to.ok()) (void)to->Send(text, "collab");
  }
}

}  // namespace procmod::server
