#include "commands.h"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>

#include "cli_support.h"
#include "interrupt.h"
#include "keygen.h"
#include "ping_stats.h"
#include "procmod/client.h"
#include "procmod/config.h"  // FormatDuration
#include "procmod/connection_file.h"
#include "procmod/logging.h"
#include "wait_notice.h"

namespace procmod::cli {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// stdout is a pipe under scripts and tests: flush so each line shows as it happens.
void PrintLine(const std::string& line) {
  std::fputs(line.c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

int Fail(const Failure& failure) {
  std::fprintf(stderr, "procmod: %s\n", failure.message.c_str());
  return failure.exit_code;
}

// The library logs admissions and retries through spdlog; the CLI keeps stderr for
// its one failure line unless asked for more.
void SetUpLogging(const GlobalFlags& global) {
  LogOptions log;
  log.level = global.verbose ? "debug" : "off";
  (void)ConfigureLogging(log);  // both values are valid
}

ClientOptions MakeOptions(const GlobalFlags& global) {
  ClientOptions options;
  options.module.name = global.name;
  options.module.connect_id = global.connect_id;
  options.module.timeouts.connect = global.timeout;
  options.module.security.curve = global.curve;
  return options;
}

// A connected client, or the exit code of why not (its line already printed).
struct Opened {
  std::unique_ptr<Client> client;
  int exit_code = kExitOk;
};

// A server being restarted refuses the connection for a moment (nothing listens), or
// answers ERROR 404 to a session it forgot. With --reconnect those are "not yet".
// A single-client server may still hold the session of the connection it lost (409)
// until that expires.
bool WorthRetrying(const Status& s) {
  return s.IsUnavailable() || s.pmp_code() == 404 || s.pmp_code() == 409;
}

// Client::Connect, and with --reconnect again through refusals, with backoff (100 ms
// doubling to 2 s), until global.timeout (0: no limit) or Ctrl-C.
Result<std::unique_ptr<Client>> ConnectRetrying(const std::string& url, const GlobalFlags& global) {
  const Clock::time_point deadline = Clock::now() + global.timeout;
  milliseconds backoff{100};
  for (;;) {
    Result<std::unique_ptr<Client>> client = Client::Connect(url, MakeOptions(global));
    if (client.ok() || !global.reconnect || !WorthRetrying(client.status())) return client;
    const Clock::time_point next = Clock::now() + backoff;
    if (global.timeout.count() > 0 && next >= deadline) {
      return DeadlineExceededError("no server at " + url + " within " +
                                   FormatDuration(global.timeout) +
                                   " (last: " + std::string(client.status().message()) + ")");
    }
    if (!SleepUntil(next)) return AbortedError("interrupted");
    backoff = std::min(backoff * 2, milliseconds(2000));
  }
}

Opened Open(const std::string& url, const GlobalFlags& global) {
  if (Status s = CheckUrl(url, UrlUse::kConnect); !s.ok()) {
    return {nullptr, Fail({kExitUsage, std::string(s.message())})};
  }
  SetUpLogging(global);
  Result<std::unique_ptr<Client>> client = [&] {
    tool::WaitNotice notice("procmod", "no answer yet from " + url, global.timeout);
    return ConnectRetrying(url, global);
  }();
  if (!client.ok()) {
    return {nullptr,
            Fail(DescribeConnectFailure(client.status(), url, UrlUse::kConnect, global.timeout))};
  }
  return {std::move(*client), kExitOk};
}

// The WELCOME as the library keeps it: name, role, session, version, software.
void PrintPeer(const Connection& peer) {
  Result<PeerInfo> info = peer.Stats();
  PrintLine("  name:     " + peer.name());
  PrintLine("  role:     " + peer.role());
  PrintLine("  session:  " + peer.session());
  if (!info.ok()) return;  // it left already; what the handle knows is printed
  PrintLine("  version:  " + info->version);
  PrintLine("  software: " + (info->software.empty() ? "(not given)" : info->software));
}

// BYE to the server, and to the render server in render-client mode.
void SayBye(const Connection& peer, const Connection& render = Connection()) {
  (void)peer.Close("bye");  // fails only when the peer is gone: nothing left to say
  if (render.valid()) (void)render.Close("bye");
  PrintLine("said BYE");
}

// ---------------------------------------------------------------------------------
// ping
// ---------------------------------------------------------------------------------

// Why the server went away, from OnDisconnected. A failed call wakes its caller
// before that callback has run, hence the wait.
class DisconnectWatch {
 public:
  // Has `client` record its server's end here; the watch must outlive the client.
  void Watch(Client& client) {
    client.OnDisconnected([this](const Connection&, const Disconnect& how) { Record(how); });
  }
  void Reset() {
    std::lock_guard<std::mutex> lock(mu_);
    how_.reset();
  }
  std::optional<Disconnect> Wait(milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, timeout, [this] { return how_.has_value(); });
    return how_;
  }

 private:
  void Record(const Disconnect& how) {
    std::lock_guard<std::mutex> lock(mu_);
    how_ = how;
    cv_.notify_all();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<Disconnect> how_;
};

// How long a failed call waits for OnDisconnected to say why (DisconnectWatch).
constexpr milliseconds kLossReportWait{500};

Frames MakePayload(size_t size) {
  Frames payload;
  zmq::message_t frame(size);
  auto* bytes = static_cast<unsigned char*>(frame.data());
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<unsigned char>(i);
  payload.push_back(std::move(frame));
  return payload;
}

bool EchoMatches(const Frames& echo, size_t size) {
  if (echo.size() != 1 || echo[0].size() != size) return false;
  const auto* bytes = static_cast<const unsigned char*>(echo[0].data());
  for (size_t i = 0; i < size; ++i) {
    if (bytes[i] != static_cast<unsigned char>(i)) return false;
  }
  return true;
}

class Pinger {
 public:
  Pinger(std::unique_ptr<Client>& client, const GlobalFlags& global, const PingFlags& flags,
         DisconnectWatch& watch)
      : client_(client), server_(client->server()), global_(global), flags_(flags), watch_(watch) {}

  int Run() {
    PrintLine("PING " + flags_.url + " (" + server_.name() + "): " + std::to_string(flags_.size) +
              " payload bytes");
    Clock::time_point next = Clock::now();
    for (uint64_t seq = 1; flags_.count == 0 || seq <= flags_.count; ++seq) {
      if (!SleepUntil(next)) break;
      next = Clock::now() + flags_.interval;
      if (!PingOnce(seq)) break;
    }
    std::fputs(stats_.Summary(flags_.url).c_str(), stdout);
    std::fflush(stdout);
    return ExitCode();
  }

 private:
  // One request and its line; false when pinging must stop.
  bool PingOnce(uint64_t seq) {
    const Clock::time_point start = Clock::now();
    ReplyFuture future = server_.Request("ping", MakePayload(flags_.size), flags_.wait);
    if (!WaitReady(future)) return false;  // Ctrl-C: this one counts as never sent
    Result<Reply> reply = future.get();
    const auto rtt = Clock::now() - start;
    if (reply.ok()) return Replied(seq, rtt, *reply);
    return Failed(seq, reply.status());
  }

  // A request that got no reply: lost, or the end of pinging (false).
  bool Failed(uint64_t seq, const Status& why) {
    const std::string request = "request seq=" + std::to_string(seq);
    if (why.IsDeadlineExceeded()) {
      stats_.AddLost();
      PrintLine(request + " timed out after " + FormatDuration(flags_.wait));
      return true;
    }
    // A DEALER whose server vanished without BYE refuses to queue: the session ends
    // only when the heartbeat expires, so until then this counts as a loss.
    if (why.IsResourceExhausted() && why.pmp_code() == 0) {
      stats_.AddLost();
      PrintLine(request + " failed: " + std::string(why.message()));
      return true;
    }
    if (global_.reconnect && (why.IsUnavailable() || why.IsAborted())) {
      stats_.AddLost();
      return Reconnect(why);
    }
    error_ = why;
    return false;
  }

  // --reconnect: the server is gone; say why, dial until it is back (or Ctrl-C, or
  // --connect-timeout), say after how long, and go on with the next sequence number.
  bool Reconnect(const Status& why) {
    const Clock::time_point lost_at = Clock::now();
    PrintLine("lost " + flags_.url + ": " + DescribeLoss(watch_.Wait(kLossReportWait), why) +
              "; reconnecting");
    client_.reset();  // one module per process: the old one goes first
    watch_.Reset();
    Result<std::unique_ptr<Client>> client = ConnectRetrying(flags_.url, global_);
    if (!client.ok()) {
      if (!client.status().IsAborted()) error_ = client.status();  // Ctrl-C: just stop
      return false;
    }
    client_ = std::move(*client);
    watch_.Watch(*client_);
    server_ = client_->server();
    const double gap = std::chrono::duration<double>(Clock::now() - lost_at).count();
    PrintLine("back: " + flags_.url + " (" + server_.name() + ", session " + server_.session() +
              ") after " + FormatMs(gap * 1000) + " ms");
    return true;
  }

  bool Replied(uint64_t seq, Clock::duration rtt, const Reply& reply) {
    std::string line =
        "reply from " + flags_.url + " (" + server_.name() + "): seq=" + std::to_string(seq) +
        " time=" + FormatMs(std::chrono::duration<double, std::milli>(rtt).count()) + " ms";
    if (EchoMatches(reply.payload, flags_.size)) {
      stats_.AddReply(rtt);
    } else {
      stats_.AddLost();  // a wrong echo is no proof the path works
      line += ", but the payload came back changed";
    }
    PrintLine(line);
    return true;
  }

  int ExitCode() {
    if (error_.ok()) return stats_.received() == stats_.sent() ? kExitOk : kExitFailed;
    if (error_.pmp_code() != 0) {
      return Fail({kExitDenied, flags_.url + " answered ping with " +
                                    std::to_string(error_.pmp_code()) + ": " +
                                    std::string(error_.message())});
    }
    // The only other ends of a request: the server left, or we are shutting down.
    return Fail({kExitPeerLost,
                 "lost " + flags_.url + ": " + DescribeLoss(watch_.Wait(kLossReportWait), error_)});
  }

  std::unique_ptr<Client>& client_;
  Connection server_;
  const GlobalFlags& global_;
  const PingFlags& flags_;
  DisconnectWatch& watch_;
  PingStats stats_;
  Status error_;  // why pinging stopped early, unless Ctrl-C or the count did
};

// A server writes its connection file once it accepts, so a client started with it
// (a batch job's, or `server & procmod ping --connection-file F`) waits for the file
// as it would wait for the server: up to --connect-timeout. A folder that does not
// exist cannot be waited for: that path is wrong.
int WaitForFile(const std::string& path, milliseconds timeout) {
  namespace fs = std::filesystem;
  std::error_code error;
  if (fs::exists(path, error)) return kExitOk;
  const fs::path folder = fs::path(path).parent_path();
  if (!folder.empty() && !fs::is_directory(folder, error)) {
    return Fail(
        {kExitUsage, "cannot read connection file " + path + ": no folder " + folder.string()});
  }
  tool::WaitNotice notice("procmod", "waiting for " + path + " (written once the server accepts)",
                          timeout);
  const Clock::time_point deadline = Clock::now() + timeout;
  while (!fs::exists(path, error)) {
    if (timeout.count() > 0 && Clock::now() >= deadline) {
      return Fail({kExitUnreachable, "no connection file " + path + " within " +
                                         FormatDuration(timeout) + " (is the server running?)"});
    }
    std::this_thread::sleep_for(milliseconds(50));  // a poll with a deadline: no inotify here
  }
  return kExitOk;
}

}  // namespace

int UseConnectionFile(const std::string& path, std::string& url, GlobalFlags& global) {
  if (int rc = WaitForFile(path, global.timeout); rc != kExitOk) return rc;
  Result<ConnectionInfo> info = ReadConnectionFile(path);
  if (!info.ok()) return Fail({kExitUsage, std::string(info.status().message())});
  url = info->endpoint;
  // The file is how a server on a port nobody chose tells its clients everything
  // needed to reach it; an explicit flag still wins.
  if (!info->public_key.empty() && !global.curve.secret_key_file.empty() &&
      global.curve.server_public_key.empty()) {
    global.curve.server_public_key = info->public_key;
  }
  if (global.connect_id == 0) global.connect_id = info->connect_id;
  return kExitOk;
}

int Ping(const GlobalFlags& global, const PingFlags& flags) {
  DisconnectWatch watch;  // before the client: its callback may run until ~Client
  Opened opened = Open(flags.url, global);
  if (!opened.client) return opened.exit_code;
  watch.Watch(*opened.client);
  // From here on Ctrl-C ends the run with a summary; while connecting it just quits.
  InstallInterruptHandler();
  return Pinger(opened.client, global, flags, watch).Run();
}

int Connect(const GlobalFlags& global, const std::string& url) {
  Opened opened = Open(url, global);
  if (!opened.client) return opened.exit_code;
  const Connection server = opened.client->server();
  const Connection render = opened.client->render_server();  // cdsrs:// only
  PrintLine("connected to " + url);
  PrintPeer(server);
  if (render.valid()) PrintPeer(render);  // its role line tells it apart
  SayBye(server, render);
  return kExitOk;
}

int Wait(const GlobalFlags& global, const std::string& listen_url) {
  if (Status s = CheckUrl(listen_url, UrlUse::kListen); !s.ok()) {
    return Fail({kExitUsage, std::string(s.message())});
  }
  SetUpLogging(global);
  // cdsrsrc://: a data server and a render server, each on its own endpoint.
  const bool pair = listen_url.starts_with("cdsrsrc://");
  std::string endpoint = listen_url;  // the bound one, port 0 resolved, once known
  int bound = 0;
  Result<std::unique_ptr<Client>> client = [&] {
    tool::WaitNotice notice("procmod", "no server has dialed in yet", global.timeout);
    return Client::WaitForServer(listen_url, MakeOptions(global),
                                 [&endpoint, &bound, pair](const std::string& at) {
                                   if (++bound == 1) endpoint = at;
                                   const char* whom = !pair        ? ""
                                                      : bound == 1 ? " for the data server"
                                                                   : " for the render server";
                                   PrintLine("listening on " + at + whom);
                                 });
  }();
  if (!client.ok()) {
    // The library's line says which of the two did not come.
    if (pair && client.status().IsDeadlineExceeded()) {
      return Fail({kExitUnreachable, std::string(client.status().message())});
    }
    return Fail(DescribeConnectFailure(client.status(), endpoint, UrlUse::kListen, global.timeout));
  }
  if (pair) {
    const Connection data = (*client)->server();
    const Connection render = (*client)->render_server();
    PrintLine("data server connected from " + data.address());
    PrintPeer(data);
    PrintLine("render server connected from " + render.address());
    PrintPeer(render);
    SayBye(data, render);
    return kExitOk;
  }
  // A render server is kept apart from the others by the façade.
  const Connection server =
      (*client)->server().valid() ? (*client)->server() : (*client)->render_server();
  PrintLine("server connected from " + server.address());
  PrintPeer(server);
  SayBye(server);
  return kExitOk;
}

int Send(const GlobalFlags& global, const SendFlags& flags) {
  DisconnectWatch watch;  // before the client: its callback may run until ~Client
  Opened opened = Open(flags.url, global);
  if (!opened.client) return opened.exit_code;
  watch.Watch(*opened.client);
  const Connection server = opened.client->server();
  if (Status s = server.Send(flags.text, flags.channel); !s.ok()) {
    // Gone (kUnavailable): the server may have said why. A full queue did not end it.
    const std::optional<Disconnect> how =
        s.IsUnavailable() ? watch.Wait(kLossReportWait) : std::nullopt;
    return Fail({kExitPeerLost, "could not send to " + flags.url + ": " + DescribeLoss(how, s)});
  }
  PrintLine("sent " + std::to_string(flags.text.size()) + " bytes" +
            (flags.channel.empty() ? "" : " on channel " + flags.channel) + " to " + flags.url);
  // Queued after the DATA, so the server gets both, in order.
  SayBye(server, opened.client->render_server());
  return kExitOk;
}

int Keygen(const KeygenFlags& flags) {
  Result<KeyFiles> files = WriteKeyPair(flags.out_dir, flags.name, flags.force);
  if (!files.ok()) return Fail({kExitUsage, std::string(files.status().message())});
  PrintLine("wrote " + files->secret_path + " (secret key, mode 0600: keep it there)");
  PrintLine("wrote " + files->public_path + " (public key: " + files->public_key + ")");
  return kExitOk;
}

}  // namespace procmod::cli
