// admin_endpoint.h: the admin ROUTER of an accepting process (docs/PROTOCOL.md §13).
//
// The process module's I/O loop and the broker's relay both offer one, the same
// way: AdminEndpoint binds it, receives what waits on it, decodes, answers anything
// but a REQUEST with ERROR 400 ("the admin endpoint answers REQUEST only") and a
// REQUEST with what its AdminTarget says (admin.h). It never blocks: a client that
// went away just misses its answer.
//
// The one security rule of admin endpoints lives here too: one that other machines
// could reach must speak CURVE (CheckAdminEndpoint). Over tcp:// the endpoint speaks
// CURVE whenever the process checks keys (AdminSpeaksCurve), with the process's key
// pair and allow-list; an ipc:// one is guarded by its file's permissions instead.
//
//   Result<std::unique_ptr<AdminEndpoint>> admin =
//       AdminEndpoint::Bind(context, options.admin.endpoint, curve, zap, "procmod");
//   if (!admin.ok()) return admin.status();       // kInvalidArgument: not local, no CURVE
//   pollfd{(*admin)->polled().fd(), POLLIN, 0};   // MayHoldUnsignalledInput() first
//   when readable: (*admin)->Service(target);     // answers until nothing waits
//
// Lives on the loop's thread, with its socket: not thread-safe.
#ifndef PROCMOD_SRC_ADMIN_ADMIN_ENDPOINT_H_
#define PROCMOD_SRC_ADMIN_ADMIN_ENDPOINT_H_

#include <memory>
#include <string>
#include <string_view>

#include <zmq.hpp>

#include "admin/admin.h"
#include "io/polled_socket.h"
#include "procmod/result.h"
#include "protocol/codec.h"
#include "security/curve_keys.h"
#include "security/zap_handler.h"

namespace procmod {

// The rule, for every admin endpoint: one that is not local (IsLocalEndpoint: other
// machines could reach it) needs CURVE. kInvalidArgument naming `endpoint` and the
// ways out when it is not local and `curve` is false; OK otherwise.
Status CheckAdminEndpoint(std::string_view endpoint, bool curve);

// Whether an admin endpoint at `endpoint` speaks CURVE: over tcp:// when `curve`
// checks keys (enabled, with an allow-list); never over ipc:// or inproc://.
bool AdminSpeaksCurve(const CurveSetup& curve, std::string_view endpoint);

class AdminEndpoint {
 public:
  // Binds a ROUTER at `endpoint` in `context`, speaking CURVE when AdminSpeaksCurve
  // (then `zap`, the process's one ZAP handler, is started if it was not). Errors:
  // CheckAdminEndpoint's kInvalidArgument, or BindSocket's (kUnavailable: in use).
  // `log_name` starts its log lines ("procmod", "procmod-broker").
  static Result<std::unique_ptr<AdminEndpoint>> Bind(zmq::context_t& context,
                                                     const std::string& endpoint,
                                                     const CurveSetup& curve,
                                                     std::unique_ptr<ZapHandler>& zap,
                                                     std::string log_name);

  AdminEndpoint(const AdminEndpoint&) = delete;
  AdminEndpoint& operator=(const AdminEndpoint&) = delete;

  // What was bound, with the real port when port 0 was asked for.
  const std::string& endpoint() const { return endpoint_; }
  zmq::socket_ref socket() { return socket_; }
  // Its ZMQ_FD and whether that can be trusted (polled_socket.h), for the loop's poll.
  PolledSocket& polled() { return polled_; }

  // Answers what waits (at most a bounded number per call, so one client cannot
  // starve the loop), until a receive finds nothing.
  void Service(AdminTarget& target);

 private:
  AdminEndpoint(zmq::socket_t socket, std::string endpoint, std::string log_name);
  pmp::Frames Answer(pmp::Frames& request, AdminTarget& target);

  zmq::socket_t socket_;
  std::string endpoint_;
  std::string log_name_;
  PolledSocket polled_;
  pmp::Decoder decoder_;
};

}  // namespace procmod

#endif  // PROCMOD_SRC_ADMIN_ADMIN_ENDPOINT_H_
