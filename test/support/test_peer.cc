// procmod_test_peer: a tiny program built ONLY on procmod's public headers, used by
// the end-to-end tests as "the other side" in its own process (S1: one module per
// process). It also shows what an application needs to write.
//
//   procmod_test_peer server  forward|reverse single|multi URL [CONNECT_ID]
//   procmod_test_peer client  forward|reverse single|multi URL [CONNECT_ID [hold]]
//
// server: serves "ping" (echoes its payload, as procmod-server does) and prints
//   "READY <endpoint>" once it
//   accepts (forward) or is connected (reverse); then Run(); prints "END <reason>"
//   and exits 0 (peer left / stopped), 3 (peer lost), 4 (no peer), 5 (denied).
// client: connects (forward) or waits for a server (reverse), sends REQUEST ping
//   "hello", prints "REPLY <payload>", closes with BYE and exits 0; or prints
//   "ERROR <status>" and exits 4 (unreachable) or 5 (denied). With "hold" it prints
//   "HOLDING" after the reply and stays connected until its server goes.
#include <procmod/process_module.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

int ExitCodeFor(const procmod::Status& s) {
  if (s.IsPermissionDenied() || s.IsFailedPrecondition() || s.IsInvalidArgument()) {
    return 5;
  }
  return 4;
}

int ExitCodeFor(procmod::RunEnd end) {
  switch (end) {
    case procmod::RunEnd::kPeerLost:
      return 3;
    case procmod::RunEnd::kAcceptTimeout:
      return 4;
    default:
      return 0;
  }
}

int Fail(const procmod::Status& s) {
  std::printf("ERROR %s\n", s.ToString().c_str());
  std::fflush(stdout);
  return ExitCodeFor(s);
}

int RunServer(procmod::ProcessModule& module) {
  module.RegisterHandler("ping", [](procmod::IncomingRequest& r) {
    return procmod::Reply{.payload = std::move(r.payload)};
  });
  if (procmod::Status s = module.Start(); !s.ok()) return Fail(s);
  std::printf("READY %s\n", module.ListenEndpoint().c_str());
  std::fflush(stdout);
  procmod::RunEnd end = module.Run();
  std::printf("END %s\n", std::string(procmod::RunEndName(end)).c_str());
  std::fflush(stdout);
  return ExitCodeFor(end);
}

int RunClient(procmod::ProcessModule& module, bool multi, bool reverse, const std::string& url,
              bool hold) {
  if (procmod::Status s = module.Start(); !s.ok()) return Fail(s);
  if (reverse) {
    std::printf("READY %s\n", module.ListenEndpoint().c_str());
    std::fflush(stdout);
    if (multi) {
      procmod::Result<int> n = module.MonitorConnections(std::chrono::seconds(10));
      if (!n.ok()) return Fail(n.status());
      if (*n == 0) return Fail(procmod::DeadlineExceededError("no server connected"));
    }
  } else if (multi) {
    procmod::Result<procmod::Connection> c = module.ConnectToRemote(url);
    if (!c.ok()) return Fail(c.status());
  }
  std::vector<procmod::PeerInfo> peers = module.Connections();
  if (peers.empty()) return Fail(procmod::UnavailableError("no server"));
  procmod::Result<procmod::Connection> server = module.FindConnection(peers[0].session);
  if (!server.ok()) return Fail(server.status());
  procmod::Frames payload;
  payload.emplace_back("hello", 5);
  procmod::Result<procmod::Reply> reply = server->Request("ping", std::move(payload)).get();
  if (!reply.ok()) return Fail(reply.status());
  std::printf("REPLY %s\n", reply->payload.empty() ? "" : reply->payload[0].to_string().c_str());
  std::fflush(stdout);
  if (hold) {
    std::printf("HOLDING\n");
    std::fflush(stdout);
    return ExitCodeFor(module.Run());
  }
  (void)server->Close("done");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s server|client forward|reverse single|multi URL [ID]\n",
                 argv[0]);
    return 2;
  }
  const std::string role = argv[1], mode = argv[2], multi = argv[3], url = argv[4];
  procmod::Options options;
  options.name = "test-peer-" + role;
  options.role = role == "server" ? procmod::Role::kServer : procmod::Role::kClient;
  options.mode = mode == "reverse" ? procmod::Mode::kReverse : procmod::Mode::kForward;
  options.multiple_connections = multi == "multi";
  options.connect_id = argc > 5 ? std::strtoull(argv[5], nullptr, 10) : 0;
  options.heartbeat.interval = std::chrono::milliseconds(200);
  options.timeouts.connect = std::chrono::seconds(10);
  options.timeouts.accept = std::chrono::seconds(10);
  const bool binds =
      (options.mode == procmod::Mode::kForward) == (options.role == procmod::Role::kServer);
  if (binds) {
    options.listen = url;
  } else if (options.role == procmod::Role::kServer) {
    options.client_url = url;
  } else {
    options.server_url = url;
  }

  procmod::Result<procmod::ProcessModule*> module = procmod::ProcessModule::Initialize(options);
  if (!module.ok()) return Fail(module.status());
  const int code = options.role == procmod::Role::kServer
                       ? RunServer(**module)
                       : RunClient(**module, options.multiple_connections,
                                   options.mode == procmod::Mode::kReverse, url,
                                   argc > 6 && std::string(argv[6]) == "hold");
  procmod::ProcessModule::Finalize();
  return code;
}
