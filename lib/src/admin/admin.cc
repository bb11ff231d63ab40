#include "admin/admin.h"

#include <functional>
#include <map>

namespace procmod {
namespace {

using json = nlohmann::json;

std::string Pack(const json& value) {
  std::vector<uint8_t> bytes = json::to_msgpack(value);
  return std::string(bytes.begin(), bytes.end());
}

// The REQUEST's args as JSON: {} when absent; nullopt when not a decodable map.
std::optional<json> ArgsOf(const pmp::Request& request) {
  if (request.args.empty()) return json::object();
  json args = json::from_msgpack(request.args, /*strict=*/true, /*allow_exceptions=*/false);
  if (args.is_discarded() || !args.is_object()) return std::nullopt;
  return args;
}

pmp::Reply Ok(uint64_t id, const json& result) {
  return pmp::Reply{.id = id, .code = 0, .result = Pack(result)};
}

pmp::Reply Fail(uint64_t id, uint32_t code, std::string error) {
  return pmp::Reply{.id = id, .code = code, .error = std::move(error)};
}

using Method = std::function<pmp::Reply(uint64_t id, const json& args, AdminTarget&)>;

pmp::Reply ListConnections(uint64_t id, const json&, AdminTarget& target) {
  json peers = json::array();
  for (const PeerInfo& peer : target.AdminPeers()) peers.push_back(PeerToJson(peer));
  return Ok(id, peers);
}

pmp::Reply ProcessInfo(uint64_t id, const json&, AdminTarget& target) {
  return Ok(id, target.AdminProcessInfo());
}

pmp::Reply CloseConnection(uint64_t id, const json& args, AdminTarget& target) {
  if (!args.contains("session") || !args["session"].is_string()) {
    return Fail(id, pmp::kCodeMalformed, "connections.close needs args {session: str}");
  }
  const std::string session = args["session"];
  if (!target.AdminCloseSession(session)) {
    return Fail(id, pmp::kCodeUnknownSession, "no session " + session);
  }
  return Ok(id, json{{"closed", true}, {"session", session}});
}

pmp::Reply SetAccepting(uint64_t id, const json& args, AdminTarget& target) {
  if (!args.contains("enabled") || !args["enabled"].is_boolean()) {
    return Fail(id, pmp::kCodeMalformed, "collab.accept needs args {enabled: bool}");
  }
  target.AdminSetAccepting(args["enabled"].get<bool>());
  return Ok(id, json{{"accepting", args["enabled"]}});
}

pmp::Reply SetConnectId(uint64_t id, const json& args, AdminTarget& target) {
  if (!args.contains("id") || !args["id"].is_number_unsigned()) {
    return Fail(id, pmp::kCodeMalformed, "collab.connect_id needs args {id: uint}");
  }
  target.AdminSetConnectId(args["id"].get<uint64_t>());
  return Ok(id, json{{"connect_id", args["id"]}});
}

pmp::Reply ReloadKeys(uint64_t id, const json&, AdminTarget& target) {
  Result<json> reloaded = target.AdminReloadKeys();
  if (!reloaded.ok()) {
    // 409: not now, not here (no CURVE, or the folder has a bad file: the old list stays).
    return Fail(id, pmp::kCodeBusy, std::string(reloaded.status().message()));
  }
  return Ok(id, *reloaded);
}

const std::map<std::string, Method, std::less<>>& Methods() {
  static const std::map<std::string, Method, std::less<>> methods = {
      {"connections.list", ListConnections},  {"process.info", ProcessInfo},
      {"connections.close", CloseConnection}, {"collab.accept", SetAccepting},
      {"collab.connect_id", SetConnectId},    {"security.reload", ReloadKeys},
  };
  return methods;
}

}  // namespace

pmp::Reply HandleAdminRequest(const pmp::Request& request, AdminTarget& target) {
  auto method = Methods().find(request.method);
  if (method == Methods().end()) {
    return Fail(request.id, pmp::kCodeUnknownSession,
                "unknown admin method '" + request.method + "'");
  }
  std::optional<json> args = ArgsOf(request);
  if (!args) return Fail(request.id, pmp::kCodeMalformed, "args must be a msgpack map");
  return method->second(request.id, *args, target);
}

pmp::Reply AdminTarget::AnswerAdmin(const pmp::Request& request) {
  return HandleAdminRequest(request, *this);
}

Result<json> ReloadKeysForAdmin(ZapHandler* zap) {
  if (zap == nullptr) {
    return FailedPreconditionError(
        "no authorized keys to reload: this process accepts no CURVE peers");
  }
  Result<ReloadSummary> summary = zap->Reload();
  if (!summary.ok()) return summary.status();
  return json{{"keys", summary->keys},
              {"added", summary->added},
              {"removed", summary->removed},
              {"dir", zap->dir()}};
}

json PeerToJson(const PeerInfo& peer) {
  json out{
      {"session", peer.session},
      {"name", peer.name},
      {"role", peer.role},
      {"address", peer.address},
      {"state", peer.state},
      {"master", peer.master},
      {"incoming", peer.incoming},
      {"version", peer.version},
      {"software", peer.software},
      {"public_key", peer.public_key},
      {"connected_ms", peer.connected_for.count()},
      {"idle_ms", peer.idle_for.count()},
      {"rtt_us", peer.rtt.count()},
      {"msgs_in", peer.msgs_in},
      {"msgs_out", peer.msgs_out},
      {"bytes_in", peer.bytes_in},
      {"bytes_out", peer.bytes_out},
      {"dropped", peer.dropped},
  };
  // Only a suspended session has time left to resume: absent otherwise.
  if (peer.state == "suspended") out["resume_left_ms"] = peer.resume_left.count();
  return out;
}

}  // namespace procmod
