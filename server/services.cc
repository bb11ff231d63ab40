#include "services.h"

#include <spdlog/spdlog.h>

#include "msgpack_json.h"

namespace procmod::server {
namespace {

using json = nlohmann::json;

std::string Pack(const json& value) { return PackJson(value); }

std::optional<json> Args(const IncomingRequest& request) { return ArgsMap(request.args); }

Reply Error(uint32_t code, std::string message) {
  return Reply{.code = code, .error = std::move(message)};
}

}  // namespace

std::unique_ptr<ServerServices> ServerServices::Install(ProcessModule& module,
                                                        std::vector<RankInfo> ranks) {
  std::unique_ptr<ServerServices> services(new ServerServices(module, std::move(ranks)));
  ServerServices* self = services.get();
  module.RegisterHandler("ping", [self](IncomingRequest& r) { return self->Ping(r); });
  module.RegisterHandler("info", [self](IncomingRequest& r) { return self->Info(r); });
  module.RegisterHandler("collab.accept",
                         [self](IncomingRequest& r) { return self->SetAccepting(r); });
  module.RegisterHandler("collab.connect_id",
                         [self](IncomingRequest& r) { return self->SetConnectId(r); });
  module.RegisterHandler("collab.subscribe",
                         [self](IncomingRequest& r) { return self->Subscribe(r); });
  module.OnData([self](const Connection& from, std::string_view channel, Frames payload) {
    self->OnData(from, channel, std::move(payload));
  });
  module.OnConnected([self](const Connection& peer) { self->OnJoined(peer); });
  module.OnDisconnected(
      [self](const Connection& peer, DisconnectReason reason) { self->OnLeft(peer, reason); });
  return services;
}

ServerServices::ServerServices(ProcessModule& module, std::vector<RankInfo> ranks)
    : module_(module), ranks_(std::move(ranks)) {}

Reply ServerServices::Ping(IncomingRequest& request) {
  return Reply{.payload = std::move(request.payload)};
}

Reply ServerServices::Info(IncomingRequest&) {
  const Options& o = module_.options();
  const auto uptime = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started_);
  json rank_info = json::array();
  for (const RankInfo& r : ranks_) {
    rank_info.push_back(json{{"rank", r.rank}, {"host", r.host}, {"pid", r.pid}});
  }
  return Reply{.result = Pack(json{
                   {"name", o.name},
                   {"role", RoleName(o.role)},
                   {"mode", ModeName(o.mode)},
                   {"multi", module_.SupportMultipleConnections()},
                   {"software", "procmod " PROCMOD_VERSION},
                   {"protocol", ProcessModule::ProtocolVersion()},
                   {"uptime_ms", uptime.count()},
                   {"clients", clients_.size()},
                   {"ranks", o.ranks},
                   {"rank_info", rank_info},
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

Reply ServerServices::Subscribe(IncomingRequest& request) {
  std::optional<json> args = Args(request);
  if (!args || (args->contains("enabled") && !(*args)["enabled"].is_boolean())) {
    return Error(400, "collab.subscribe takes args {enabled: bool}");
  }
  const bool enabled = args->value("enabled", true);
  auto seq = seq_by_session_.find(request.from.session());
  if (seq == seq_by_session_.end()) {
    return Error(403, "only clients receive collaboration news");
  }
  if (enabled) {
    subscribers_.emplace(seq->second, request.from);
  } else {
    subscribers_.erase(seq->second);
  }
  const std::string master_name = clients_.empty() ? "" : clients_.begin()->second.name();
  return Reply{.result = Pack(json{{"subscribed", enabled},
                                   {"master", master_},
                                   {"master_name", master_name},
                                   {"clients", clients_.size()}})};
}

void ServerServices::OnData(const Connection& from, std::string_view channel, Frames payload) {
  if (channel != "broadcast" || !module_.SupportMultipleConnections()) return;
  for (const auto& [seq, to] : clients_) {
    if (to.session() == from.session()) continue;  // not back to its sender
    // zmq_msg_copy shares the buffer (reference counted): no bytes are copied.
    Frames copy(payload.size());
    for (size_t i = 0; i < payload.size(); ++i) copy[i].copy(payload[i]);
    (void)to.Send(std::move(copy), "broadcast");
  }
}

void ServerServices::OnJoined(const Connection& peer) {
  if (peer.role() != "client") return;
  const uint64_t seq = next_seq_++;
  clients_.emplace(seq, peer);
  seq_by_session_[peer.session()] = seq;
  Announce({{"event", "joined"}, {"session", peer.session()}, {"name", peer.name()}});
  CheckMaster();
}

void ServerServices::OnLeft(const Connection& peer, DisconnectReason reason) {
  if (peer.role() != "client") return;
  if (auto it = seq_by_session_.find(peer.session()); it != seq_by_session_.end()) {
    clients_.erase(it->second);
    subscribers_.erase(it->second);
    seq_by_session_.erase(it);
  }
  Announce({{"event", "left"},
            {"session", peer.session()},
            {"name", peer.name()},
            {"reason", DisconnectReasonName(reason)}});
  CheckMaster();
}

void ServerServices::CheckMaster() {
  // The oldest client, as the identity table's `master` flag says too.
  const std::string master = clients_.empty() ? "" : clients_.begin()->second.session();
  const std::string name = clients_.empty() ? "" : clients_.begin()->second.name();
  if (master == master_) return;
  master_ = master;
  if (master.empty()) return;
  spdlog::info("procmod-server: master is now session {} ({:?})", master,
               std::string_view(name).substr(0, 64));  // peer text: escaped, clipped
  Announce({{"event", "master"}, {"session", master}, {"name", name}});
}

void ServerServices::Announce(const json& event) {
  const std::string text = event.dump();
  for (const auto& [seq, to] : subscribers_) (void)to.Send(text, "collab");
}

}  // namespace procmod::server
