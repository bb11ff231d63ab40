// procmod/client.h
//
// Client is what an application links to talk to a procmod server: a small façade
// over the process module for the common cases: connect to a server by URL (forward),
// wait for a server to dial in (reverse), or connect a render-client pair (a data
// server and a render server). URLs may be ParaView's too (cs://, csrc://, cdsrs://,
// cdsrsrc://; docs/CLI.md). It owns the process's one ProcessModule (S1) for its
// lifetime, so a process has at most one Client and no other module.
//
//   procmod::ClientOptions options;
//   options.module.reconnect = true;               // come back after a server restart
//   auto client = procmod::Client::Connect("tcp://127.0.0.1:11111", options);
//   if (!client.ok()) { std::cerr << client.status().ToString() << "\n"; return 1; }
//   (*client)->OnData([](const procmod::Connection&, std::string_view channel,
//                        procmod::Frames payload) { /* on the I/O thread */ });
//   procmod::Result<procmod::Reply> pong = (*client)->Request("ping").get();
//   (*client)->Send("hello", "broadcast");
//
// Thread-safe. Callbacks run on the module's I/O thread; keep them short.
#ifndef PROCMOD_CLIENT_H_
#define PROCMOD_CLIENT_H_

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
#include "procmod/process_module.h"
#include "procmod/result.h"

namespace procmod {

// What ClientOptions::module starts as: Options' defaults except name
// "procmod-client", role client and timeouts.connect 10 s (an application waits for
// its server less long than a daemon for its peer).
Options ClientModuleDefaults();

struct ClientOptions {
  // Everything the process module takes (procmod/options.h), one source of truth:
  // name (shown by the server's monitor), connect_id (must match the server's),
  // reconnect (the opt-in reconnect policy: after the server expires or answers
  // ERROR 404, HELLO again with backoff until admitted; never after DENY 403, 409 or
  // 426, nor after the server's BYE), security.curve (docs/SECURITY.md; for
  // WaitForServer also authorized_keys_dir), heartbeat, limits, linger. Two fields
  // mean a little more here: timeouts.connect is also how long WaitForServer() waits
  // for its server(s) (0 = no limit), and timeouts.handshake how long one handshake
  // may take. The Client sets role, mode, the URLs, listen, extra_listen,
  // render_client and multiple_connections itself, from the call made.
  Options module = ClientModuleDefaults();
  // Default timeout of Request().
  std::chrono::milliseconds request_timeout{5000};
  // Ask the server (procmod-server) for collaboration news after every connect and
  // reconnect: DATA on channel "collab" (joins, leaves, master changes) then reaches
  // OnData. Off by default, as on the server: news costs a message per client.
  bool collab_news = false;
};

class Client {
 public:
  // Forward: connects to the server at `url` and returns once admitted. `url` is
  // tcp://HOST:PORT, ipc://PATH, broker+tcp://HOST:PORT/SERVICE, ParaView's
  // cs://HOST[:PORT] (port 11111 unless given), or cdsrs://DSHOST[:PORT]/RSHOST[:PORT]
  // (render-client mode, as ConnectRenderPair; ports 11111 and 22221 unless given).
  // A reverse URL (csrc://, cdsrsrc://) is kInvalidArgument: WaitForServer takes it.
  static Result<std::unique_ptr<Client>> Connect(const std::string& url,
                                                 ClientOptions options = {});
  // pvpython's Connect(): `data_url` alone is the server as above (a combined one,
  // or a cdsrs:// pair); with `render_url`, they are the data server and the render
  // server (ConnectRenderPair). `timeout` replaces options.module.timeouts.connect.
  static Result<std::unique_ptr<Client>> Connect(const std::string& data_url,
                                                 const std::string& render_url,
                                                 std::chrono::milliseconds timeout,
                                                 ClientOptions options = {});
  // Render-client mode: connects to a data server and a render server; each must say
  // it is of that type. Each URL is tcp://, ipc:// or cs:// (whose default port is
  // 11111 here too: give a render server's port, ParaView's is 22221).
  static Result<std::unique_ptr<Client>> ConnectRenderPair(const std::string& data_url,
                                                           const std::string& render_url,
                                                           ClientOptions options = {});
  // Reverse: binds `listen_url` and waits up to options.module.timeouts.connect for a
  // server to dial in. `listen_url` is tcp://HOST:PORT (port 0: any free port),
  // ipc://PATH, csrc://[HOST][:PORT] or, for a data server and a render server
  // (render-client mode), cdsrsrc://[DSHOST][:PORT]/[RSHOST][:PORT]; an empty HOST
  // there is every interface. Two different endpoints in cdsrsrc:// are both bound
  // by the module's one accepting socket (Options::extra_listen), so each server
  // dials this process directly. `on_listening`, when given, gets the bound endpoint
  // (port 0 resolved) before the wait starts; for cdsrsrc:// it is called twice, with
  // the data server's endpoint and then the render server's.
  static Result<std::unique_ptr<Client>> WaitForServer(
      const std::string& listen_url, ClientOptions options = {},
      std::function<void(const std::string& endpoint)> on_listening = {});
  // pvpython's ReverseConnect(port): as WaitForServer("csrc://:PORT"), so it listens
  // on EVERY interface (tcp://*:PORT), as ParaView does. To listen on one address
  // (e.g. 127.0.0.1), use WaitForServer. `timeout` replaces
  // options.module.timeouts.connect.
  static Result<std::unique_ptr<Client>> ReverseConnect(int port, std::chrono::milliseconds timeout,
                                                        ClientOptions options = {});

  ~Client();  // BYE to the server(s); finalizes the module
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // The server (the data server in render-client mode), and the render server.
  // After a reconnect these name the new session.
  Connection server() const;
  Connection render_server() const;

  // REQUEST to the server: the same call, with the same future, as
  // Connection::Request (server().Request(...)), except that a `timeout` of 0 means
  // options.request_timeout. Not connected to a server: the future holds
  // kUnavailable.
  ReplyFuture Request(std::string method, Frames payload = {},
                      std::chrono::milliseconds timeout = std::chrono::milliseconds(0),
                      std::string args = {});
  // DATA to the server.
  Status Send(std::string_view bytes, std::string_view channel = {});
  Status Send(Frames payload, std::string_view channel = {});

  // DATA from the server(s). Channel "server" (the server's lifetime warnings) goes
  // to OnServerExpiring instead.
  void OnData(DataCallback callback);
  // The server's lifetime (ParaView's --timeout, --timeout-command): called with the
  // time left when the server warns (5 min and 1 min before its end by default) and
  // with 0 when its time is up, just before its BYE. On the I/O thread.
  void OnServerExpiring(std::function<void(std::chrono::milliseconds left)> callback);
  // The server's session ended; `how.message` holds its words when it said BYE
  // ("closed by the administrator", "shutdown", a broker's "server left"). With
  // options.module.reconnect, also called for each loss the policy then recovers
  // from. The second form, without the words, is kept for callbacks written for it.
  void OnDisconnected(DisconnectCallback callback);
  void OnDisconnected(DisconnectedCallback callback);
  // Called on every admission, the first and each reconnect.
  void OnConnected(ConnectedCallback callback);
  // Session resume (options.module.resume): the link to the server was lost and the
  // session waits up to `grace` for it; then it resumes (nothing lost either way)
  // or ends (OnDisconnected). A resume is not a reconnect: OnConnected is not called.
  void OnSuspended(SuspendedCallback callback);
  void OnResumed(ConnectedCallback callback);
  // options.module.reconnect: each failed attempt to bring the session back (refused,
  // DENY 404/409/503, no WELCOME), with its number; OnDisconnected told of the loss,
  // OnConnected tells of the return. On the I/O thread.
  void OnReconnecting(ReconnectingCallback callback);

  // The part of the process module an application may use beside the façade: wait
  // for it to end, stop it, look at it, serve requests the server sends. It leaves
  // out what would break the façade: the module's OnConnected and OnData callbacks
  // (through which the Client tracks its server across reconnects and routes the
  // lifetime warnings; use the Client's own On* above), who is admitted
  // (SetAcceptingConnections, SetConnectId: the Client keeps to its one server, or
  // its pair), and further dials (ConnectToRemote would be taken for the server).
  // ProcessModule::Get() still reaches the whole module: leave those alone there too.
  class ModuleView {
   public:
    const Options& options() const { return module_->options(); }
    std::string ListenEndpoint() const { return module_->ListenEndpoint(); }
    std::vector<std::string> ListenEndpoints() const { return module_->ListenEndpoints(); }
    std::string AdminEndpoint() const { return module_->AdminEndpoint(); }
    std::vector<PeerInfo> Connections() const { return module_->Connections(); }
    Result<Connection> FindConnection(const std::string& session) const {
      return module_->FindConnection(session);
    }
    // Handlers are keyed by method; the façade registers none.
    void RegisterHandler(std::string method, RequestHandler handler) {
      module_->RegisterHandler(std::move(method), std::move(handler));
    }
    RunEnd Run() { return module_->Run(); }
    void Stop() { module_->Stop(); }

   private:
    friend class Client;
    explicit ModuleView(ProcessModule* module) : module_(module) {}
    ProcessModule* module_;
  };
  ModuleView module() { return ModuleView(module_); }

 private:
  Client(ProcessModule* module, ClientOptions options);

  static Result<std::unique_ptr<Client>> Create(Options module_options, ClientOptions options);
  // WaitForServer's cases: one server on `listen_url`; a data server and a render
  // server (cdsrsrc://) on two endpoints, which may be the same.
  static Result<std::unique_ptr<Client>> WaitForOne(
      const std::string& listen_url, ClientOptions options,
      const std::function<void(const std::string&)>& on_listening);
  static Result<std::unique_ptr<Client>> WaitForRenderPair(
      const std::string& data_listen, const std::string& render_listen, ClientOptions options,
      const std::function<void(const std::string&)>& on_listening);
  void Track(const Connection& peer);

  ProcessModule* module_;
  const ClientOptions options_;

  // DATA from the module: lifetime warnings to on_expiring_, the rest to on_data_.
  void Dispatch(const Connection& from, std::string_view channel, Frames payload);

  mutable std::mutex mu_;  // guards the five below
  Connection server_;
  Connection render_server_;
  ConnectedCallback on_connected_;
  DataCallback on_data_;
  std::function<void(std::chrono::milliseconds)> on_expiring_;
};

}  // namespace procmod

#endif  // PROCMOD_CLIENT_H_
