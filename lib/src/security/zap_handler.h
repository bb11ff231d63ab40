// zap_handler.h: the ZAP handler that admits CURVE peers by an allow-list.
//
// libzmq asks a ZAP handler (ZeroMQ RFC 27) about every CURVE handshake on a socket
// of its context, at inproc://zeromq.zap.01. This one answers from the folder of
// *.pub files (AuthorizedKeys): a listed key gets 200 and becomes the connection's
// user id (the Z85 key, which procmod shows as the peer's public key); any other key
// gets 400, and the handshake fails before a PMP/1 message is read. A denied key is
// logged with its Z85 text and the peer's address, so an operator can add it.
//
// It lives on the thread that polls its socket (the I/O loop): Service() answers
// what is waiting without blocking; Reload() re-reads the folder. Admitted peers are
// untouched by a reload: ZAP is only asked at a handshake.
//
//   Result<std::unique_ptr<ZapHandler>> zap = ZapHandler::Start(context, dir);
//   poll (*zap)->socket() for ZMQ_POLLIN; when readable: (*zap)->Service();
//   on SIGHUP: (*zap)->Reload();
#ifndef PROCMOD_SRC_SECURITY_ZAP_HANDLER_H_
#define PROCMOD_SRC_SECURITY_ZAP_HANDLER_H_

#include <memory>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "procmod/result.h"
#include "security/curve_keys.h"

namespace procmod {

// What a reload changed.
struct ReloadSummary {
  size_t keys = 0;                   // now on the list
  std::vector<std::string> added;    // names (file stems) of keys new on the list
  std::vector<std::string> removed;  // names of keys no longer on it
};

class ZapHandler {
 public:
  // Loads the allow-list from `dir` and binds the handler in `context`.
  static Result<std::unique_ptr<ZapHandler>> Start(zmq::context_t& context, std::string dir);

  // Answers every ZAP request waiting, without blocking.
  void Service();
  // Re-reads the folder. On error the old list stays (a typo must not lock everyone
  // out) and the error is returned.
  Result<ReloadSummary> Reload();

  zmq::socket_t& socket() { return socket_; }
  const std::string& dir() const { return dir_; }
  size_t size() const { return keys_.size(); }

 private:
  ZapHandler(zmq::socket_t socket, std::string dir, AuthorizedKeys keys);
  // The reply frames (status, text, user id) for one request's frames after the
  // envelope: version, request id, domain, address, identity, mechanism, credentials.
  void Answer(const std::vector<zmq::message_t>& request);

  zmq::socket_t socket_;
  std::string dir_;
  AuthorizedKeys keys_;
};

// CURVE on an accepting socket (before bind): starts `zap`, the process's one ZAP
// handler, the first time (so no handshake can pass unchecked), then gives the
// socket this side's keys.
Status EnableCurveServer(zmq::context_t& context, const CurveSetup& curve,
                         std::unique_ptr<ZapHandler>& zap, zmq::socket_t& socket);

}  // namespace procmod

#endif  // PROCMOD_SRC_SECURITY_ZAP_HANDLER_H_
