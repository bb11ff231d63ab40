// admin.h: the admin service every accepting process offers on its admin ROUTER.
//
// The admin endpoint (options.admin.endpoint, docs/PROTOCOL.md §13) answers REQUEST without
// HELLO, so procmod-monitor and scripts can look inside any accepting process:
//   connections.list                 -> [ {session, name, role, address, ...}, ... ]
//   process.info                     -> {name, role, mode, multi, endpoints, pid, ...}
//   connections.close {session}      -> {closed: true} or REPLY 404
//   collab.accept {enabled}          -> {accepting: bool}
//   collab.connect_id {id}           -> {connect_id: id}
//   security.reload                  -> {keys, added: [name], removed: [name], dir}
// Arguments come in the REQUEST's `args` map, results go in the REPLY's `result`
// (msgpack). Anything but a REQUEST gets ERROR 400; an unknown method REPLY 404.
//
// The service decides; AdminTarget (the IoLoop, the broker's Relay) carries out;
// AdminEndpoint (admin_endpoint.h) owns the socket. I/O thread only.
#ifndef PROCMOD_SRC_ADMIN_ADMIN_H_
#define PROCMOD_SRC_ADMIN_ADMIN_H_

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "procmod/peer_info.h"
#include "procmod/result.h"
#include "protocol/codec.h"
#include "security/zap_handler.h"

namespace procmod {

class AdminTarget {
 public:
  virtual ~AdminTarget() = default;
  virtual std::vector<PeerInfo> AdminPeers() = 0;
  virtual nlohmann::json AdminProcessInfo() = 0;
  // False when there is no such session.
  virtual bool AdminCloseSession(const std::string& session) = 0;
  virtual void AdminSetAccepting(bool accepting) = 0;
  virtual void AdminSetConnectId(uint64_t connect_id) = 0;
  // security.reload: re-reads the CURVE allow-list; {keys, added, removed, dir}.
  virtual Result<nlohmann::json> AdminReloadKeys() = 0;
  // The REPLY to an admin REQUEST (what AdminEndpoint sends back). By default the
  // methods above (HandleAdminRequest); a target with methods of its own (the
  // broker's services.list) answers those and hands the rest on.
  virtual pmp::Reply AnswerAdmin(const pmp::Request& request);
};

// security.reload's result: re-reads `zap`'s folder; {keys, added, removed, dir}.
// kFailedPrecondition without a handler (no CURVE), the folder's error otherwise.
Result<nlohmann::json> ReloadKeysForAdmin(ZapHandler* zap);

// The REPLY (header; admin replies carry no payload) for an admin REQUEST.
pmp::Reply HandleAdminRequest(const pmp::Request& request, AdminTarget& target);

// One peer as connections.list shows it (field names: docs/MONITOR.md).
nlohmann::json PeerToJson(const PeerInfo& peer);

}  // namespace procmod

#endif  // PROCMOD_SRC_ADMIN_ADMIN_H_
