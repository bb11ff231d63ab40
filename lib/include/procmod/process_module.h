// procmod/process_module.h
//
// A ProcessModule owns every connection this process has to its peers, the way
// ParaView's vtkProcessModule does. There is one per process (rule S1):
// Initialize() creates it, Get() returns it, Finalize() ends it. Its one I/O thread
// owns every ZeroMQ socket; all methods here are thread-safe and none touches a
// socket. Callbacks and request handlers run on the I/O thread, never while an
// internal lock is held; keep them short (post long work elsewhere).
//
// The defaults behave the ParaView way (docs/ARCHITECTURE.md, "Connection rules"):
//   forward server   Start() binds; Run() serves ONE client, refuses the rest with
//                    DENY 409 and returns when that client leaves.
//   forward client   Start() connects to options.server_url (and, in render-client
//                    mode, to options.render_server_url) before returning.
//   reverse client   Start() binds and waits for its server (or data + render server).
//   reverse server   Start() connects to options.client_url, retrying until
//                    timeouts.connect; Run() returns when that client leaves.
// SetSupportMultipleConnections(true) before Start() changes that: a forward server
// keeps admitting clients and outlives them; a forward client connects only through
// ConnectToRemote(), to any number of servers; a reverse client admits servers only
// inside MonitorConnections().
//
//   procmod::Options options;
//   options.role = procmod::Role::kServer;
//   options.listen = "tcp://127.0.0.1:0";
//   auto module = procmod::ProcessModule::Initialize(options);
//   if (!module.ok()) return 2;
//   (*module)->RegisterHandler("echo", [](procmod::IncomingRequest& r) {
//     return procmod::Reply{.payload = std::move(r.payload)};
//   });
//   if (procmod::Status s = (*module)->Start(); !s.ok()) return 4;
//   procmod::RunEnd end = (*module)->Run();     // kPeerLeft when the client said BYE
//   procmod::ProcessModule::Finalize();
#ifndef PROCMOD_PROCESS_MODULE_H_
#define PROCMOD_PROCESS_MODULE_H_

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "procmod/connection.h"
#include "procmod/options.h"
#include "procmod/peer_info.h"
#include "procmod/result.h"
#include "procmod/status.h"

namespace procmod {

// What one ConnectToRemote() call says about that remote beyond its URL.
struct RemoteOptions {
  // The role the peer must say it has ("server", "data-server", ...). Empty: any.
  std::string expected_role;
  // CURVE: this remote's public key, the 40 characters or its .pub file. Empty: the
  // process's security.curve.server_public_key. Lets one client dial servers that
  // each have a key pair of their own.
  std::string server_public_key;
};

// Why a peer's session ended.
enum class DisconnectReason {
  kBye,        // the peer said BYE
  kExpired,    // silent for heartbeat interval * liveness
  kClosed,     // this side closed it (Connection::Close, Finalize)
  kReplaced,   // the same routing id said HELLO again
  kForgotten,  // the peer answered ERROR 404: it no longer knows our session
};
std::string_view DisconnectReasonName(DisconnectReason reason);

// How a peer's session ended: why, and the other side's own words for it. A user
// told only "the server said BYE" cannot tell an administrator's kick from a
// shutdown or a broker losing the server; `message` is what tells them apart.
struct Disconnect {
  DisconnectReason reason = DisconnectReason::kClosed;
  // kBye: the `reason` of the peer's BYE, e.g. "closed by the administrator"
  // (procmod-monitor kick), "shutdown" (the peer finalized), or a broker's "server
  // left" / "server lost" to a client; for a client relayed by a broker, the reason
  // of the broker's LEFT ("bye"), or of the broker's own BYE when the broker went.
  // kExpired of a relayed client: LEFT's "expired". Empty when nothing was said
  // (expiry, our own Close(), a replaced or forgotten session). Untrusted text from
  // the network: escape it before showing it on a terminal.
  std::string message;
};

// Why Run() returned.
enum class RunEnd {
  kStopped,         // Stop() was called (e.g. on a signal)
  kPeerLeft,        // single connection: the one peer said BYE
  kPeerLost,        // single connection: the one peer expired
  kAcceptTimeout,   // single-connection server: no client within timeouts.accept
  kSessionTimeout,  // timeouts.session elapsed
  kUnreachable,     // a server behind a broker lost it and could not register again
                    // within timeouts.reregister (set; by default it keeps trying)
  kDenied,          // ... and the broker refused its new registration (DENY, CURVE)
};
std::string_view RunEndName(RunEnd end);

// The answer to one REQUEST, given later and from any thread: what a handler
// takes (IncomingRequest::Defer) when the work runs elsewhere, e.g. on every rank
// of a parallel server (procmod/parallel.h). Move-only. Send() it once; one that is
// destroyed unsent answers ERROR 500, so a client never waits for a reply nobody
// will give. A reply to a peer that is gone is dropped.
class DeferredReply {
 public:
  DeferredReply() = default;
  DeferredReply(DeferredReply&& other) noexcept;
  DeferredReply& operator=(DeferredReply&& other) noexcept;
  DeferredReply(const DeferredReply&) = delete;
  DeferredReply& operator=(const DeferredReply&) = delete;
  ~DeferredReply();

  bool pending() const { return request_id_ != 0; }
  // Queues the REPLY for the I/O thread; later calls do nothing.
  void Send(Reply reply);

 private:
  friend struct IncomingRequest;
  DeferredReply(Connection to, uint64_t request_id) : to_(std::move(to)), request_id_(request_id) {}

  Connection to_;
  uint64_t request_id_ = 0;  // 0: sent, moved from, or never deferred
};

// A REQUEST that reached this process, handed to the handler registered for its
// method. The handler may move the payload out.
struct IncomingRequest {
  Connection from;
  std::string method;
  std::string args;  // one msgpack-encoded map, or empty
  Frames payload;
  uint64_t id = 0;  // the REQUEST's id, unique per peer

  // Answers later: what the handler returns is then ignored, and the REPLY goes out
  // when the DeferredReply is sent (or destroyed). Once per request.
  DeferredReply Defer() {
    deferred = true;
    return DeferredReply(from, id);
  }
  bool deferred = false;
};

using RequestHandler = std::function<Reply(IncomingRequest& request)>;
using ConnectedCallback = std::function<void(const Connection& peer)>;
using DisconnectCallback = std::function<void(const Connection& peer, const Disconnect& how)>;
// DisconnectCallback without the peer's words, as it was before they were passed on;
// kept so that callbacks written for it still compile.
using DisconnectedCallback = std::function<void(const Connection& peer, DisconnectReason reason)>;
using DataCallback =
    std::function<void(const Connection& peer, std::string_view channel, Frames payload)>;
// A session's link was lost and the session waits up to `grace` for it to come
// back (options.resume). Nothing is lost meanwhile: sends are kept and go out on
// resume, requests in flight stay pending.
using SuspendedCallback =
    std::function<void(const Connection& peer, std::chrono::milliseconds grace)>;
// A lost session being brought back (options.reconnect), or a broker registration
// (broker mode): attempt `attempt` at `url` failed because of `why` (refused,
// DENY 404/409/503, no WELCOME); the next comes after the backoff.
using ReconnectingCallback =
    std::function<void(const std::string& url, int attempt, const Status& why)>;

class ProcessModule {
 public:
  // Creates the process module (rule S1). kFailedPrecondition if one exists;
  // kInvalidArgument if `options` are inconsistent.
  static Result<ProcessModule*> Initialize(Options options);
  // The process module; kFailedPrecondition before Initialize().
  static Result<ProcessModule*> Get();
  // Sends BYE to every peer, closes every socket with bounded linger and ends the
  // I/O thread; returns within about a second even when peers are unreachable.
  // Afterwards Initialize() may be called again. No-op without a module.
  static void Finalize();
  // The PMP protocol version this library speaks, "MAJOR.MINOR" (docs/PROTOCOL.md).
  static std::string_view ProtocolVersion();

  ProcessModule(const ProcessModule&) = delete;
  ProcessModule& operator=(const ProcessModule&) = delete;
  ~ProcessModule();

  const Options& options() const;

  // Rule M0: only before Start(); afterwards kFailedPrecondition.
  Status SetSupportMultipleConnections(bool enabled);
  bool SupportMultipleConnections() const;

  // Binds, connects or waits as the mode says (see the file comment). Returns once
  // that is done, or with why not: kUnavailable (could not bind; a client's dial was
  // refused: nothing listens there), kDeadlineExceeded (timeouts.accept /
  // timeouts.connect; a server's dial keeps trying through refusals), a DENY's Status
  // (kPermissionDenied for 403, ...), kInvalidArgument for a peer of the wrong role.
  // Calling it twice is kFailedPrecondition.
  Status Start();

  // The endpoint the accepting socket is bound to, with the real port when
  // options.listen asked for port 0. Empty when this side does not bind.
  std::string ListenEndpoint() const;
  // Every endpoint the accepting socket is bound to, as bound: options.listen's
  // first, then options.extra_listen's in order. Empty when this side does not bind.
  std::vector<std::string> ListenEndpoints() const;

  // The admin endpoint as bound (docs/PROTOCOL.md §13), or "" when there is none.
  std::string AdminEndpoint() const;

  // Accepting side, at any time: whether new peers are admitted (false: every new
  // HELLO gets DENY 409 "further connections are disabled"), and the connect-id new
  // HELLOs must carry. Peers already admitted stay either way.
  void SetAcceptingConnections(bool accepting);
  void SetConnectId(uint64_t connect_id);

  // CURVE, accepting side: re-reads security.curve.authorized_keys_dir (what
  // procmod-server does on SIGHUP). New keys are admitted from the next handshake
  // on, removed ones refused; admitted peers stay. On a bad file the old list stays
  // and the error is returned; kFailedPrecondition when this process checks no keys.
  Status ReloadAuthorizedKeys();

  // Accepting side: the server ends `remaining` from now (ParaView's
  // --timeout-command; procmod-server calls it with what lifetime_command printed).
  // The sooner of this and timeouts.session is the end: new clients read it in
  // WELCOME (`expires_in_ms`), admitted ones get DATA on channel "server" with
  // {"expires_in_ms": N} as it crosses options.lifetime_warnings and when it comes;
  // then Run() returns kSessionTimeout. Call again whenever the estimate changes.
  void SetLifetime(std::chrono::milliseconds remaining);

  // Connects to the accepting side at `url` and returns once admitted (or why not:
  // as Start(), so kUnavailable at once when nothing listens at `url`).
  // `expected_role`, when not empty, is the role the peer must say it has.
  // Forward client in multi mode; also allowed after Start() in single mode.
  Result<Connection> ConnectToRemote(const std::string& url, std::string_view expected_role = {});
  // The same, with the remote's own CURVE key (RemoteOptions). A key that is not one
  // is kInvalidArgument before anything is dialed.
  Result<Connection> ConnectToRemote(const std::string& url, const RemoteOptions& remote);

  // Reverse client in multi mode (rule M3): admits servers that connect, waiting up
  // to `timeout` for the first; returns how many it admitted (0 on timeout).
  Result<int> MonitorConnections(std::chrono::milliseconds timeout);

  // Snapshots of every admitted peer, oldest first.
  std::vector<PeerInfo> Connections() const;
  // A handle to the admitted peer with `session`, or kNotFound.
  Result<Connection> FindConnection(const std::string& session) const;

  // Blocks until the module's job is over (see RunEnd): for a single-connection
  // server, until its client goes; otherwise until Stop() or timeouts.session. A
  // server behind a broker registers again whenever it loses the broker, and ends
  // (kUnreachable, kDenied) only when that fails.
  RunEnd Run();
  // Makes Run() return kStopped, and a Start() or ConnectToRemote() still waiting
  // return kAborted. Safe from any thread; not from a signal handler (set a flag
  // there, or use a self-pipe, and call Stop() from a thread).
  void Stop();

  // Handlers and callbacks may be set at any time. Called from any thread but the
  // I/O thread, the setter returns once it is in place: every message that arrives
  // after the call reaches it. From a callback (on the I/O thread) it takes effect
  // once that callback returns. A handler for an existing method replaces it.
  void RegisterHandler(std::string method, RequestHandler handler);
  void OnConnected(ConnectedCallback callback);
  // Called once per admitted peer whose session ended, however it ended. The two
  // forms replace each other. A lambda picks its form by its second parameter's
  // type, so a generic lambda (`auto`) must name it.
  void OnDisconnected(DisconnectCallback callback);
  void OnDisconnected(DisconnectedCallback callback);
  void OnData(DataCallback callback);
  // Session resume (options.resume, both peers procmod 0.1 with protocol 1.2): the
  // link of an admitted session was lost (silence for heartbeat interval x
  // liveness). OnDisconnected is not called unless the session is not resumed
  // within the grace period; OnResumed is called when it is, after which every
  // message sent either way meanwhile arrives, once and in order.
  void OnSuspended(SuspendedCallback callback);
  void OnResumed(ConnectedCallback callback);
  // Every failed attempt of a reconnect (options.reconnect) or of registering again
  // with a broker, so an application can say "server down, retrying (attempt 3)".
  // OnDisconnected told it of the loss first; OnConnected tells it of the return.
  void OnReconnecting(ReconnectingCallback callback);

 private:
  ProcessModule() = default;
  Status StartWithBroker(const Options& options, bool multi);

  std::shared_ptr<IoLoop> loop_;  // set once by Initialize(); owns every socket

  mutable std::mutex mu_;  // guards the two below
  bool started_ = false;
  bool multi_ = false;
};

}  // namespace procmod

#endif  // PROCMOD_PROCESS_MODULE_H_
