// procmod/options.h
//
// Options is everything a process module needs to know before Start(): the same
// fields as the YAML configuration keys (docs/CONFIGURATION.md), so a
// daemon fills it from a file and flags and an application fills it in code.
//
//   procmod::Options options;
//   options.name = "viz-1";
//   options.role = procmod::Role::kServer;
//   options.listen = "tcp://127.0.0.1:0";   // port 0: any free port
//   options.heartbeat.interval = std::chrono::milliseconds(500);
//   auto module = procmod::ProcessModule::Initialize(options);
#ifndef PROCMOD_OPTIONS_H_
#define PROCMOD_OPTIONS_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace procmod {

// What this process is. A client talks to servers; the three server roles are
// ParaView's pvserver (kServer), pvdataserver and pvrenderserver.
enum class Role { kClient, kServer, kDataServer, kRenderServer };

// Who binds. Forward: the server binds, the client connects. Reverse: the client
// binds, the server connects. Broker: both dial a procmod-broker.
enum class Mode { kForward, kReverse, kBroker };

std::string_view RoleName(Role role);  // "client", "server", "data-server", ...
std::string_view ModeName(Mode mode);  // "forward", "reverse", "broker"
std::optional<Role> ParseRole(std::string_view text);
std::optional<Mode> ParseMode(std::string_view text);

struct HeartbeatOptions {
  // A side sends PING after this long without sending anything. The accepting side's
  // value is what both sides use. Default: 1 s.
  std::chrono::milliseconds interval{1000};
  // A peer is gone after interval * liveness of silence. Default: 3.
  uint32_t liveness = 3;
};

struct TimeoutOptions {
  // Forward single server: how long Run() waits for its first client; reverse client:
  // how long Start() waits for its server(s). 0 = no limit. Default: 0.
  std::chrono::milliseconds accept{0};
  // Connecting side: how long Start()/ConnectToRemote() keep retrying. A client's
  // dial that is refused (nothing listens) fails at once instead; a server's keeps
  // trying. 0 = no limit. Default: 60 s.
  std::chrono::milliseconds connect{60000};
  // Behind a broker: how long a server that lost its broker tries to register again
  // (with backoff, 1 s doubling to 32 s) before Run() ends kUnreachable. A server
  // that outlives its broker's restart must not give up on it, so: 0 = for ever.
  // Default: 0.
  std::chrono::milliseconds reregister{0};
  // Connecting side: how long to wait for WELCOME or DENY after HELLO. Default: 5 s.
  std::chrono::milliseconds handshake{5000};
  // Server: Run() ends after this long in all. 0 = no limit. Default: 0.
  std::chrono::milliseconds session{0};
  // Connection::Send to a peer we dialed waits this long at most for room when
  // limits.send_queue messages are already waiting. 0 = as long as the peer lives.
  // Default: 5 s.
  std::chrono::milliseconds send{5000};
};

struct LimitOptions {
  size_t max_connections = 1024;               // multi mode: beyond it, DENY 503
  size_t max_message_size = 64 * 1024 * 1024;  // bytes per message; more gets ERROR 413
  int send_queue = 1000;                       // messages queued per peer (ZMQ_SNDHWM)
  // Accepting side: messages a peer may have waiting unread (the acceptor's
  // ZMQ_RCVHWM). Lower (e.g. 100) on servers exposed to floods of connections.
  int receive_queue = 1000;
};

// Sessions that survive a dropped link (PMP/1.2, docs/PROTOCOL.md): when the peer
// goes silent, a session both sides agreed to resume is suspended instead of ended,
// and the connecting side dials again and picks it up where it stopped. Both sides
// must speak 1.2; with an older peer, or grace 0 on either side, a lost link ends
// the session as before.
struct ResumeOptions {
  // How long a session outlives its link: a suspended session not resumed within
  // this long ends. The accepting side's value is what both sides use; each side
  // offers resume only when its own is above 0. 0 turns resume off. Default: 60 s.
  std::chrono::milliseconds grace{60000};
  // Bytes of unacknowledged messages kept per session to send again after a resume.
  // On a live link a message that does not fit goes without a replay copy, and a
  // resume that would need it ends the session ("cannot resend"); while suspended,
  // a session that needs more ends ("resume buffer full"). Default: 64 MiB.
  uint64_t buffer = 64ull * 1024 * 1024;
};

struct AdminOptions {
  // Where the admin ROUTER binds (connections.list, process.info, ...; docs/PROTOCOL.md §13).
  // Only accepting sides bind one. Empty: none. procmod-server's configuration
  // defaults it to ipc:///tmp/procmod-<name>.admin.
  std::string endpoint;
};

struct LogOptions {
  std::string level = "info";   // trace | debug | info | warn | error | off
  std::string format = "text";  // text | json
};

struct CurveOptions {
  std::string secret_key_file;      // this side's secret key (Z85, 40 chars)
  std::string authorized_keys_dir;  // accepting side: folder of *.pub allowed peers
  std::string server_public_key;    // connecting side: the acceptor's public key
  // Render-client mode: the render server's public key when it has a key pair of its
  // own. Empty: server_public_key serves both servers. (A multi client names each
  // server's key in ConnectToRemote(), RemoteOptions::server_public_key.)
  std::string render_server_public_key;
};

struct SecurityOptions {
  CurveOptions curve;
};

struct Options {
  // Shown to peers and by the monitor. Default: "procmod".
  std::string name = "procmod";
  Role role = Role::kServer;
  Mode mode = Mode::kForward;
  // SupportMultipleConnections; may also be set with
  // ProcessModule::SetSupportMultipleConnections() before Start(). Default: false.
  bool multiple_connections = false;
  // Forward server and reverse client: where to bind. Port 0 picks a free port
  // (ProcessModule::ListenEndpoint() tells which). Default: tcp://127.0.0.1:11111.
  std::string listen = "tcp://127.0.0.1:11111";
  // Forward server and reverse client: more endpoints the same accepting socket
  // binds besides `listen`. A peer may dial any of them; all are one acceptor, with
  // one admission policy (ProcessModule::ListenEndpoints() tells them as bound).
  // Reverse render-client mode binds the render server's here (cdsrsrc://DS/RS with
  // two ports), so that server reaches this process directly. Default: none.
  std::vector<std::string> extra_listen;
  // Reverse server: the client to connect to.
  std::string client_url;
  // Forward client: the server to connect to in Start() (the data server in
  // render-client mode). Unused in multi mode: call ConnectToRemote().
  std::string server_url;
  // Forward client in render-client mode: the render server.
  std::string render_server_url;
  // Client: connect to (forward) or wait for (reverse) a data server and a render
  // server instead of one combined server. Default: false.
  bool render_client = false;
  // Broker mode (procmod-broker): the broker and the service name.
  std::string broker_url;
  std::string service;
  // Must match on both sides (ParaView's --connect-id). 0 = none. Default: 0.
  uint64_t connect_id = 0;
  // Connecting side: after the peer expires, answers ERROR 404 (it forgot our
  // session, e.g. it restarted), or a broker says BYE "server lost" (its server
  // crashed), HELLO again on a new socket with backoff (1 s doubling to 32 s,
  // jitter) until admitted, retrying refusals and DENY 404/409/503 likewise; never
  // after DENY 403/426 or the peer's own BYE. Default: false (the session just ends).
  // A server's registration with its broker is always brought back, whatever ended
  // it (docs/BROKER.md, "When the broker goes").
  bool reconnect = false;
  // Accepting side: admit new peers at all. False starts with further connections
  // disabled (every new HELLO gets DENY 409). Default: true.
  bool accept_connections = true;
  // Accepting side: once bound, write a connection file here (JSON, mode 0600: the
  // real endpoint, name, role, ...; procmod/connection_file.h), removed at exit.
  // Empty: none. Default: "".
  std::string connection_file;
  // Server lifetime (ParaView's --timeout-command): procmod-server runs this shell
  // command every lifetime_command_interval; its stdout is the minutes left (e.g.
  // from the batch system). Empty: none. The library side is
  // ProcessModule::SetLifetime().
  std::string lifetime_command;
  std::chrono::milliseconds lifetime_command_interval{60000};
  // How long before the end of the server's lifetime (lifetime_command or
  // timeouts.session) its clients get DATA on channel "server". Default: 5 min, 1 min.
  std::vector<std::chrono::milliseconds> lifetime_warnings{std::chrono::minutes(5),
                                                           std::chrono::minutes(1)};
  HeartbeatOptions heartbeat;
  TimeoutOptions timeouts;
  LimitOptions limits;
  ResumeOptions resume;
  AdminOptions admin;
  LogOptions log;
  SecurityOptions security;
  // How long closing a socket may wait to flush BYE and queued messages. Bounded so
  // shutdown never hangs. Default: 200 ms.
  std::chrono::milliseconds linger{200};
  // The number of processes of the parallel job this process is rank 0 of
  // (procmod/parallel.h). Not a configuration key: procmod-server sets it from
  // mpiexec's job. Shown as `ranks` in process.info and the connection file.
  // Default: 1.
  int ranks = 1;
};

}  // namespace procmod

#endif  // PROCMOD_OPTIONS_H_
