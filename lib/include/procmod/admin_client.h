// procmod/admin_client.h
//
// Every accepting procmod process (a procmod-server, a reverse-mode client that
// binds, a broker) can serve an admin endpoint next to its data endpoint: a second
// ROUTER, usually ipc:///tmp/procmod-<name>.admin (DefaultAdminEndpoint() in
// procmod/config.h), that answers PMP/1 REQUESTs without HELLO (docs/PROTOCOL.md §13). Its
// methods look inside the process and steer it:
//
//   connections.list               -> [ {session, name, role, address, state, ...}, ... ]
//   process.info                   -> {name, role, mode, multi, listen, admin, pid, ...}
//   connections.close {session}    -> {closed: true, session}, or 404 "no session ID"
//   collab.accept {enabled}        -> {accepting: bool}
//   collab.connect_id {id}         -> {connect_id: id}
//
// AdminRequest() is the client side of that: one request, one answer, no session.
// It needs no ProcessModule, so a tool such as procmod-monitor (or a test, or a
// health check) can ask any process on the machine without becoming a peer of it.
// Arguments and results are msgpack, exactly as on the wire; decode `result` with
// any msgpack library (nlohmann::json::from_msgpack is the easiest):
//
//   procmod::Result<procmod::Reply> reply =
//       procmod::AdminRequest(procmod::DefaultAdminEndpoint("viz"), "connections.list");
//   if (!reply.ok()) {
//     std::cerr << reply.status().ToString() << "\n";  // deadline exceeded: no answer ...
//     return 4;
//   }
//   nlohmann::json peers = nlohmann::json::from_msgpack(reply->result);
//   for (const auto& peer : peers) std::cout << peer["name"] << "\n";
//
//   // Arguments are one msgpack-encoded map:
//   std::vector<uint8_t> args = nlohmann::json::to_msgpack({{"session", id}});
//   auto closed = procmod::AdminRequest(endpoint, "connections.close",
//                                       std::string(args.begin(), args.end()));
//
// Thread-safe: every call has its own ZeroMQ context and socket, closed (linger 0)
// before it returns, so a call never outlives its timeout by more than a moment and
// never hangs at exit, whatever the other side does.
#ifndef PROCMOD_ADMIN_CLIENT_H_
#define PROCMOD_ADMIN_CLIENT_H_

#include <chrono>
#include <string>

#include "procmod/connection.h"
#include "procmod/options.h"
#include "procmod/result.h"

namespace procmod {

// Sends REQUEST `method` (args: one msgpack-encoded map, or empty) to the admin
// endpoint and waits up to `timeout` for the REPLY. No HELLO is needed. Errors:
//   kDeadlineExceeded  nothing answered within `timeout` ("no answer from ENDPOINT
//                      within 2s: is the process running and is this its admin
//                      endpoint?"). Over ipc:// and tcp:// a missing process looks
//                      exactly like a slow one, so this is also "nobody there".
//   kInvalidArgument   a malformed endpoint or an unsupported transport.
//   StatusFromPmpCode(code, error)  for a REPLY with code != 0 (e.g. kNotFound, 404,
//                      for connections.close of an unknown session or an unknown
//                      method); pmp_code() holds the code.
//   kUnavailable       the other side answered ERROR instead of REPLY: it did not take
//                      the REQUEST at all, so there is no admin service there (typically
//                      a data endpoint, which wants HELLO first); pmp_code() holds the
//                      ERROR's code. Also a connect that fails for another reason.
//   kInternal          the answer was not valid PMP/1.
// StatusFromPmpCode never gives kUnavailable, kDeadlineExceeded or kInternal, so those
// three always mean "no admin service answered" and the rest "it answered no".
// On success the Reply has code 0, `result` (msgpack, possibly empty) and any
// payload frames.
//   kPermissionDenied  CURVE: the handshake failed (the endpoint requires CURVE, the
//                      server key is wrong, or our key is not on its list).
// `curve`: for a tcp:// admin endpoint of a process with CURVE on, this side's
// secret_key_file and the process's server_public_key (key or .pub file); empty
// fields: plain.
Result<Reply> AdminRequest(const std::string& endpoint, const std::string& method,
                           std::string args = {},
                           std::chrono::milliseconds timeout = std::chrono::seconds(2),
                           const CurveOptions& curve = {});

}  // namespace procmod

#endif  // PROCMOD_ADMIN_CLIENT_H_
