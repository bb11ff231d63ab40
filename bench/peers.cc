#include "peers.h"

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <thread>

#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "bench_util.h"
#include "bulk.h"
#include "procmod/logging.h"
#include "procmod/process_module.h"
#include "protocol/codec.h"  // procmod_internal: PMP/1 frames by hand for hb-clients

namespace procmod::bench {
namespace {

// --flag value pairs and bare --flags.
class Flags {
 public:
  explicit Flags(const std::vector<std::string>& args) {
    for (size_t i = 0; i < args.size(); ++i) {
      if (args[i].rfind("--", 0) != 0) continue;
      if (i + 1 < args.size() && args[i + 1].rfind("--", 0) != 0) {
        values_[args[i]] = args[i + 1];
        ++i;
      } else {
        values_[args[i]] = "";
      }
    }
  }
  std::string Get(const std::string& key, const std::string& fallback = {}) const {
    auto it = values_.find(key);
    return it == values_.end() ? fallback : it->second;
  }
  int64_t Int(const std::string& key, int64_t fallback) const {
    auto it = values_.find(key);
    return it == values_.end() ? fallback : std::stoll(it->second);
  }
  bool Has(const std::string& key) const { return values_.contains(key); }

 private:
  std::map<std::string, std::string> values_;
};

void Say(const std::string& line) {
  std::fputs((line + "\n").c_str(), stdout);
  std::fflush(stdout);
}

// Ends the process when stdin reaches EOF (the driver closed it or is gone), from a
// thread of its own that touches no socket, so the role's loop stays a plain
// blocking recv. SIGTERM keeps its default action (the process ends).
void ExitOnStdinEof() {
  std::thread([] {
    char buffer[256];
    for (;;) {
      const ssize_t n = read(0, buffer, sizeof buffer);
      if (n == 0 || (n < 0 && errno != EINTR)) _exit(0);
    }
  }).detach();
}

// ----------------------------------------------------------------------------
// raw-echo, raw-sink: the libzmq baselines
// ----------------------------------------------------------------------------

int RawEcho(const Flags& flags) {
  zmq::context_t context(1);
  zmq::socket_t router(context, zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  // libzmq's default listen backlog is 100; --backlog shows what a bigger one changes.
  if (flags.Has("--backlog")) {
    router.set(zmq::sockopt::backlog, static_cast<int>(flags.Int("--backlog", 100)));
  }
  // --zmtp-heartbeat MS: ZMTP heartbeats as the first design had procmod set them
  // (interval, timeout and TTL interval x 3), to show what they cost at many
  // connections (why sockets.cc sets none).
  if (const int64_t ivl = flags.Int("--zmtp-heartbeat", 0); ivl > 0) {
    router.set(zmq::sockopt::heartbeat_ivl, static_cast<int>(ivl));
    router.set(zmq::sockopt::heartbeat_timeout, static_cast<int>(ivl * 3));
    router.set(zmq::sockopt::heartbeat_ttl, static_cast<int>(ivl * 3));
  }
  router.bind(flags.Get("--bind", "tcp://127.0.0.1:0"));
  Say("ready " + router.get(zmq::sockopt::last_endpoint));
  std::vector<zmq::message_t> frames;
  for (;;) {
    frames.clear();
    if (!zmq::recv_multipart(router, std::back_inserter(frames))) continue;
    zmq::send_multipart(router, frames);
  }
}

int RawSink(const Flags& flags) {
  zmq::context_t context(1);
  zmq::socket_t router(context, zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  router.bind(flags.Get("--bind", "tcp://127.0.0.1:0"));
  Say("ready " + router.get(zmq::sockopt::last_endpoint));
  uint64_t count = 0;
  std::vector<zmq::message_t> frames;
  for (;;) {
    frames.clear();
    if (!zmq::recv_multipart(router, std::back_inserter(frames))) continue;
    if (frames.size() == 2 && frames[1].to_string_view() == "END") {
      const std::string answer = std::to_string(count);
      router.send(frames[0], zmq::send_flags::sndmore);
      router.send(zmq::buffer(answer), zmq::send_flags::none);
      continue;
    }
    ++count;
  }
}

// raw-relay: the floor of any relay, one raw ROUTER on one thread and no protocol. The
// first peer that sends the single frame "SERVER" is the server (prints "server
// registered"); [client, payload...] from any other peer goes to the server as
// [server, client, payload...], and [server, client, payload...] from the server back
// to that client as [client, payload...]. Client messages before the server registered
// are dropped.
int RawRelay(const Flags& flags) {
  ExitOnStdinEof();
  zmq::context_t context(1);
  zmq::socket_t router(context, zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  router.bind(flags.Get("--bind", "tcp://127.0.0.1:0"));
  Say("ready " + router.get(zmq::sockopt::last_endpoint));
  std::string server;  // the server's routing id; empty until it registered
  std::vector<zmq::message_t> frames;
  for (;;) {
    frames.clear();
    if (!zmq::recv_multipart(router, std::back_inserter(frames)) || frames.size() < 2) continue;
    const std::string_view from = frames[0].to_string_view();
    if (server.empty()) {
      if (frames.size() == 2 && frames[1].to_string_view() == "SERVER") {
        server = from;
        Say("server registered");
      }
      continue;
    }
    if (from == server) {
      // [server, client, payload...] -> [client, payload...]
      if (frames.size() < 3) continue;
      for (size_t i = 1; i < frames.size(); ++i) {
        router.send(frames[i],
                    i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
      }
    } else {
      // [client, payload...] -> [server, client, payload...]
      router.send(zmq::buffer(server), zmq::send_flags::sndmore);
      zmq::send_multipart(router, frames);
    }
  }
}

// raw-relay-echo: the server behind raw-relay, a raw DEALER that registers with
// "SERVER" and sends every message back as it came ([client, payload...]).
int RawRelayEcho(const Flags& flags) {
  ExitOnStdinEof();
  const std::string endpoint = flags.Get("--connect");
  zmq::context_t context(1);
  zmq::socket_t dealer(context, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::linger, 0);
  dealer.connect(endpoint);
  dealer.send(zmq::str_buffer("SERVER"), zmq::send_flags::none);
  Say("ready " + endpoint);
  std::vector<zmq::message_t> frames;
  for (;;) {
    frames.clear();
    if (!zmq::recv_multipart(dealer, std::back_inserter(frames))) continue;
    zmq::send_multipart(dealer, frames);
  }
}

// raw-pmp-echo: PMP/1 spoken by hand on one thread, no process module: WELCOME to
// every HELLO, REPLY (payload moved back) to every REQUEST, PING to every PING. The
// driver's module connects to it to time procmod's client side on its own.
int RawPmpEcho(const Flags& flags) {
  zmq::context_t context(1);
  zmq::socket_t router(context, zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  router.bind(flags.Get("--bind", "tcp://127.0.0.1:0"));
  Say("ready " + router.get(zmq::sockopt::last_endpoint));
  pmp::Decoder decoder;
  std::vector<zmq::message_t> frames;
  uint64_t sessions = 0;
  for (;;) {
    frames.clear();
    if (!zmq::recv_multipart(router, std::back_inserter(frames)) || frames.size() < 2) continue;
    Result<pmp::Message> message = decoder.Decode(frames, 1);
    if (!message.ok()) continue;
    std::vector<zmq::message_t> out;
    switch (message->command()) {
      case pmp::Command::kHello: {
        pmp::Welcome welcome;
        welcome.session = "raw-pmp-" + std::to_string(++sessions);
        welcome.role = "server";
        welcome.name = "raw-pmp-echo";
        welcome.version = std::string(pmp::kProtocolVersion);
        welcome.heartbeat_ms = 1000;
        welcome.liveness = 3;
        out = pmp::Encode(welcome);
        break;
      }
      case pmp::Command::kRequest: {
        const auto& request = std::get<pmp::Request>(message->header);
        out = pmp::Encode(pmp::Reply{request.id, 0, {}, {}, {}}, std::move(message->payload));
        break;
      }
      case pmp::Command::kPing:
        out = pmp::Encode(pmp::Ping{static_cast<uint64_t>(MonotonicNs() / 1000)});
        break;
      default:
        continue;
    }
    router.send(frames[0], zmq::send_flags::sndmore);
    zmq::send_multipart(router, out);
  }
}

// ----------------------------------------------------------------------------
// pm-server, pm-client: the process module on its public API
// ----------------------------------------------------------------------------

int PmServer(const Flags& flags) {
  (void)ConfigureLogging(LogOptions{flags.Get("--log-level", "warn"), "text"});
  Options options;
  options.name = "procmod-bench-server";
  options.role = Role::kServer;
  options.listen = flags.Get("--listen", "tcp://127.0.0.1:0");
  options.multiple_connections = flags.Has("--multi");
  options.heartbeat.interval = milliseconds(flags.Int("--interval-ms", 1000));
  options.heartbeat.liveness = static_cast<uint32_t>(flags.Int("--liveness", 3));
  options.limits.max_connections = static_cast<size_t>(flags.Int("--max", 1024));
  if (flags.Has("--resume-grace-ms")) {
    options.resume.grace = milliseconds(flags.Int("--resume-grace-ms", 60000));
  }
  options.admin.endpoint.clear();
  Result<ProcessModule*> module = ProcessModule::Initialize(options);
  if (!module.ok()) {
    std::fprintf(stderr, "pm-server: %s\n", module.status().ToString().c_str());
    return 2;
  }
  // Handlers and callbacks run on the I/O thread only: `count` needs no lock.
  uint64_t count = 0;
  (*module)->RegisterHandler(
      "ping", [](IncomingRequest& r) { return Reply{.payload = std::move(r.payload)}; });
  (*module)->RegisterHandler("count", [&count](IncomingRequest&) {
    Frames payload;
    const std::string text = std::to_string(count);
    payload.emplace_back(text.data(), text.size());
    return Reply{.payload = std::move(payload)};
  });
  (*module)->OnData([&count](const Connection&, std::string_view, Frames) { ++count; });
  (*module)->OnDisconnected([](const Connection& peer, DisconnectReason reason) {
    Say("gone " + peer.session() + " " + std::string(DisconnectReasonName(reason)) + " " +
        std::to_string(MonotonicNs()));
  });
  if (Status s = (*module)->Start(); !s.ok()) {
    std::fprintf(stderr, "pm-server: %s\n", s.ToString().c_str());
    return 4;
  }
  Say("ready " + (*module)->ListenEndpoint());
  (*module)->Run();  // multi: until killed; single: until its client leaves
  ProcessModule::Finalize();
  return 0;
}

int PmClient(const Flags& flags) {
  (void)ConfigureLogging(LogOptions{"warn", "text"});
  Options options;
  options.name = "procmod-bench-client";
  options.role = Role::kClient;
  options.server_url = flags.Get("--connect");
  Result<ProcessModule*> module = ProcessModule::Initialize(options);
  if (!module.ok()) return 2;
  if (Status s = (*module)->Start(); !s.ok()) {
    std::fprintf(stderr, "pm-client: %s\n", s.ToString().c_str());
    return 4;
  }
  std::vector<PeerInfo> peers = (*module)->Connections();
  Say("connected " + (peers.empty() ? std::string("?") : peers.front().session));
  for (;;) pause();
}

// rtt-probe: round trips from a process of its own, for perf stat / callgrind:
//   procmod-bench rtt-probe --connect URL --mode pm|raw [--n N] [--size B] [--method M]
// pm: a client module, Request("ping") (or M, e.g. parallel.echo to a parallel
// server) to a procmod server; raw: a DEALER to raw-echo.
int RttProbe(const Flags& flags) {
  const std::string url = flags.Get("--connect");
  const int n = static_cast<int>(flags.Int("--n", 10000));
  const std::string payload(static_cast<size_t>(flags.Int("--size", 64)), 'x');
  const std::string method = flags.Get("--method", "ping");
  std::vector<double> samples;
  samples.reserve(static_cast<size_t>(n));
  if (flags.Get("--mode", "pm") == "raw") {
    zmq::context_t context(1);
    zmq::socket_t dealer(context, zmq::socket_type::dealer);
    dealer.set(zmq::sockopt::linger, 0);
    dealer.connect(url);
    for (int i = 0; i < n; ++i) {
      const auto t0 = SteadyClock::now();
      dealer.send(zmq::message_t(payload.data(), payload.size()), zmq::send_flags::none);
      zmq::message_t reply;
      if (!dealer.recv(reply)) return 1;
      samples.push_back(std::chrono::duration<double, std::micro>(SteadyClock::now() - t0).count());
    }
  } else {
    (void)ConfigureLogging(LogOptions{"warn", "text"});
    Options options;
    options.name = "procmod-bench-probe";
    options.role = Role::kClient;
    options.server_url = url;
    Result<ProcessModule*> module = ProcessModule::Initialize(options);
    if (!module.ok() || !(*module)->Start().ok()) return 4;
    Result<Connection> server = (*module)->FindConnection((*module)->Connections().at(0).session);
    if (!server.ok()) return 4;
    for (int i = 0; i < n; ++i) {
      Frames frames;
      frames.emplace_back(payload.data(), payload.size());
      const auto t0 = SteadyClock::now();
      Result<Reply> reply = server->Request(method, std::move(frames)).get();
      if (!reply.ok()) return 1;
      samples.push_back(std::chrono::duration<double, std::micro>(SteadyClock::now() - t0).count());
    }
    (void)server->Close();
    ProcessModule::Finalize();
  }
  Say("p50 " + std::to_string(Median(samples)) + " us, p99 " +
      std::to_string(Percentile(samples, 99)) + " us over " + std::to_string(n));
  return 0;
}

// send-probe: Connection::Send() N times from a process of its own, then REQUEST
// "count" (pm-server answers it); for perf stat and callgrind:
//   procmod-bench send-probe --connect URL [--n N] [--size B] [--window W]
//                            [--resume-grace-ms MS]   (0: session resume off)
//   procmod-bench send-probe --mode raw --connect URL [--n N] [--size B]   (to raw-sink)
int SendProbe(const Flags& flags) {
  (void)ConfigureLogging(LogOptions{"warn", "text"});
  const uint64_t n = static_cast<uint64_t>(flags.Int("--n", 100000));
  const uint64_t window = static_cast<uint64_t>(flags.Int("--window", 0));
  const std::string payload(static_cast<size_t>(flags.Int("--size", 64)), 'x');
  if (flags.Get("--mode", "pm") == "raw") {
    // The data case's raw side: a DEALER to raw-sink, the payload as one frame, END.
    zmq::context_t context(1);
    zmq::socket_t dealer(context, zmq::socket_type::dealer);
    dealer.set(zmq::sockopt::linger, 0);
    dealer.connect(flags.Get("--connect"));
    auto count = [&]() -> uint64_t {
      dealer.send(zmq::str_buffer("END"), zmq::send_flags::none);
      zmq::message_t reply;
      if (!dealer.recv(reply)) return 0;
      return std::stoull(reply.to_string());
    };
    const uint64_t before = count();
    const auto t0 = SteadyClock::now();
    for (uint64_t i = 0; i < n; ++i) {
      dealer.send(zmq::message_t(payload.data(), payload.size()), zmq::send_flags::none);
    }
    const uint64_t delivered = count() - before;
    const double seconds = std::chrono::duration<double>(SteadyClock::now() - t0).count();
    Say("delivered " + std::to_string(delivered) + "/" + std::to_string(n) + " in " +
        std::to_string(seconds) + " s: " + std::to_string(delivered / seconds) + " msg/s");
    return 0;
  }
  Options options;
  options.name = "procmod-bench-probe";
  options.role = Role::kClient;
  options.server_url = flags.Get("--connect");
  if (flags.Has("--resume-grace-ms")) {
    options.resume.grace = milliseconds(flags.Int("--resume-grace-ms", 60000));
  }
  Result<ProcessModule*> module = ProcessModule::Initialize(options);
  if (!module.ok() || !(*module)->Start().ok()) return 4;
  Result<Connection> server = (*module)->FindConnection((*module)->Connections().at(0).session);
  if (!server.ok()) return 4;
  auto count = [&]() -> uint64_t {
    for (;;) {
      Result<Reply> reply = server->Request("count").get();
      if (reply.ok()) return std::stoull(reply->payload.at(0).to_string());
      if (!reply.status().IsResourceExhausted()) return 0;
      usleep(200);
    }
  };
  const uint64_t before = count();
  const auto t0 = SteadyClock::now();
  for (uint64_t i = 0; i < n; ++i) {
    Frames frames;
    frames.emplace_back(payload.data(), payload.size());
    (void)server->Send(std::move(frames));
    if (window > 0 && (i + 1) % window == 0) count();
  }
  const uint64_t delivered = count() - before;
  const double seconds = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  Say("delivered " + std::to_string(delivered) + "/" + std::to_string(n) + " in " +
      std::to_string(seconds) + " s: " + std::to_string(delivered / seconds) + " msg/s");
  (void)server->Close();
  ProcessModule::Finalize();
  return 0;
}

// pm-probe: a client module in a process of its own that the driver steers over
// stdin, so two of them can differ in a module-wide option (resume.grace) and still
// be timed in alternating blocks, like the driver's own probes:
//   procmod-bench pm-probe --rtt URL --data URL [--resume-grace-ms MS]
// Commands, one line each, each answered with one line:
//   rtt N SIZE    N Request("ping") round trips on --rtt: "rtt US US ..." (µs each)
//   send N SIZE   N Send() on --data, then REQUEST "count" (a pm-server): "send RATE
//                 DELIVERED IN" (msg/s delivered, and the messages the probe received
//                 from that peer meanwhile: the count REPLYs plus any PING, e.g. the
//                 acknowledgements of a resumable session, one per 10,000 DATA)
//   stats         "stats OUT BYTES_OUT IN" of the --rtt connection (PeerInfo)
int PmProbe(const Flags& flags) {
  (void)ConfigureLogging(LogOptions{"warn", "text"});
  Options options;
  options.name = "procmod-bench-probe";
  options.role = Role::kClient;
  options.multiple_connections = true;
  options.timeouts.connect = std::chrono::seconds(10);
  if (flags.Has("--resume-grace-ms")) {
    options.resume.grace = milliseconds(flags.Int("--resume-grace-ms", 60000));
  }
  Result<ProcessModule*> module = ProcessModule::Initialize(options);
  if (!module.ok() || !(*module)->Start().ok()) return 4;
  Result<Connection> rtt = (*module)->ConnectToRemote(flags.Get("--rtt"));
  Result<Connection> data = (*module)->ConnectToRemote(flags.Get("--data"));
  if (!rtt.ok() || !data.ok()) {
    std::fprintf(stderr, "pm-probe: %s\n",
                 (rtt.ok() ? data.status() : rtt.status()).ToString().c_str());
    return 4;
  }
  auto count = [&]() -> uint64_t {
    for (;;) {
      Result<Reply> reply = data->Request("count", {}, std::chrono::seconds(120)).get();
      if (reply.ok()) return std::stoull(reply->payload.at(0).to_string());
      if (!reply.status().IsResourceExhausted()) {
        throw std::runtime_error("count: " + reply.status().ToString());
      }
      usleep(200);
    }
  };
  count();
  Say("ready " + rtt->session() + " " + data->session());
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string command;
    uint64_t n = 0;
    size_t size = 64;
    in >> command >> n >> size;
    const std::string payload(size, 'x');
    if (command == "rtt") {
      std::string out = "rtt";
      out.reserve(n * 8 + 4);
      char sample[32];
      for (uint64_t i = 0; i < n; ++i) {
        Frames frames;
        frames.emplace_back(payload.data(), payload.size());
        const auto t0 = SteadyClock::now();
        Result<Reply> reply = rtt->Request("ping", std::move(frames)).get();
        const double us =
            std::chrono::duration<double, std::micro>(SteadyClock::now() - t0).count();
        if (!reply.ok() || reply->payload.size() != 1 || reply->payload[0].size() != size) {
          throw std::runtime_error("ping: " + reply.status().ToString());
        }
        std::snprintf(sample, sizeof sample, " %.2f", us);
        out += sample;
      }
      Say(out);
    } else if (command == "send") {
      const uint64_t in_before = data->Stats().ok() ? data->Stats()->msgs_in : 0;
      const uint64_t before = count();
      const auto t0 = SteadyClock::now();
      for (uint64_t i = 0; i < n; ++i) {
        Frames frames;
        frames.emplace_back(payload.data(), payload.size());
        if (Status s = data->Send(std::move(frames)); !s.ok()) {
          throw std::runtime_error("Send: " + s.ToString());
        }
      }
      const uint64_t delivered = count() - before;
      const double seconds = std::chrono::duration<double>(SteadyClock::now() - t0).count();
      const uint64_t in_after = data->Stats().ok() ? data->Stats()->msgs_in : 0;
      Say("send " + std::to_string(static_cast<double>(delivered) / seconds) + " " +
          std::to_string(delivered) + " " + std::to_string(in_after - in_before));
    } else if (command == "stats") {
      Result<PeerInfo> info = rtt->Stats();
      if (!info.ok()) throw std::runtime_error("Stats: " + info.status().ToString());
      Say("stats " + std::to_string(info->msgs_out) + " " + std::to_string(info->bytes_out) + " " +
          std::to_string(info->msgs_in));
    } else {
      Say("error unknown command " + command);
    }
  }
  (void)rtt->Close();
  (void)data->Close();
  ProcessModule::Finalize();
  return 0;
}

// ----------------------------------------------------------------------------
// hb-clients: many sessions for little CPU
// ----------------------------------------------------------------------------

bool StdinHasLine(int timeout_ms) {
  pollfd p{0, POLLIN, 0};
  return poll(&p, 1, timeout_ms) > 0;
}

int HbClients(const Flags& flags) {
  const std::string endpoint = flags.Get("--connect");
  const size_t n = static_cast<size_t>(flags.Int("--n", 1000));
  const bool pmp = flags.Get("--proto", "pmp") == "pmp";
  const int64_t interval_ns = flags.Int("--interval-ms", 1000) * 1000000;
  const int64_t timeout_ns = flags.Int("--timeout-ms", 60000) * 1000000;
  // At most this many sockets connected but not yet answered; 0: all at once.
  const size_t window = static_cast<size_t>(flags.Int("--window", 0));

  zmq::context_t context(1);
  context.set(zmq::ctxopt::max_sockets, static_cast<int>(n + 64));
  std::vector<zmq::socket_t> sockets;
  sockets.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    sockets.emplace_back(context, zmq::socket_type::dealer);
    sockets.back().set(zmq::sockopt::linger, 0);
  }
  // The same bytes either way: PMP/1 HELLO and PING envelopes. The raw ROUTER
  // echoes them; a procmod server answers HELLO with WELCOME and PINGs on its own.
  pmp::Hello hello;
  hello.role = "client";
  hello.name = "procmod-bench-hb";
  hello.version = std::string(pmp::kProtocolVersion);
  hello.software = "procmod-bench";
  hello.heartbeat_ms = static_cast<uint64_t>(interval_ns / 1000000);
  zmq::message_t hello_frame = pmp::EncodeEnvelope(hello);

  Say("ready " + std::to_string(n));
  std::string line;
  if (!std::getline(std::cin, line) || line != "go") return 1;

  std::vector<int64_t> last_sent(n, 0);
  std::vector<bool> answered(n, false);
  size_t admitted = 0, connected = 0;
  uint64_t errors = 0, byes = 0, denied = 0, data = 0, pings_in = 0, pings_out = 0, send_fails = 0,
           other = 0;
  const int64_t start = MonotonicNs();
  int64_t last_admission = start;

  auto connect_more = [&] {
    while (connected < n && (window == 0 || connected - admitted < window)) {
      zmq::socket_t& socket = sockets[connected];
      socket.connect(endpoint);
      zmq::message_t copy;
      copy.copy(hello_frame);
      if (!socket.send(copy, zmq::send_flags::dontwait)) ++send_fails;
      last_sent[connected] = MonotonicNs();
      ++connected;
    }
  };

  // Reads everything waiting on every connected socket; how many messages.
  auto sweep = [&]() {
    size_t received = 0;
    for (size_t i = 0; i < connected; ++i) {
      for (;;) {
        zmq::message_t first;
        if (!sockets[i].recv(first, zmq::recv_flags::dontwait)) break;
        ++received;
        while (first.more()) {  // the rest of a multipart message is already here
          zmq::message_t part;
          if (!sockets[i].recv(part, zmq::recv_flags::dontwait) || !part.more()) break;
        }
        uint8_t command = 0;
        if (first.size() >= 5) command = static_cast<const uint8_t*>(first.data())[4];
        bool first_answer = !pmp;  // raw: the echo of HELLO is its answer
        switch (static_cast<pmp::Command>(command)) {
          case pmp::Command::kWelcome:
            first_answer = true;
            break;
          case pmp::Command::kDeny:
            ++denied;
            break;
          case pmp::Command::kError:
            ++errors;
            break;
          case pmp::Command::kBye:
            ++byes;
            break;
          case pmp::Command::kData:
            ++data;
            break;
          case pmp::Command::kPing:
            ++pings_in;
            break;
          case pmp::Command::kHello:
            break;  // raw: our own HELLO, echoed
          default:
            ++other;
            break;
        }
        if (first_answer && !answered[i]) {
          answered[i] = true;
          ++admitted;
          last_admission = MonotonicNs();
        }
      }
    }
    return received;
  };

  // PING every answered socket that sent nothing for an interval (PMP/1 §11).
  int64_t next_heartbeat = 0;
  auto heartbeat = [&](int64_t now) {
    if (now < next_heartbeat) return;
    next_heartbeat = now + 10000000;  // every 10 ms is plenty for a 1 s interval
    for (size_t i = 0; i < connected; ++i) {
      if (!answered[i] || now - last_sent[i] < interval_ns) continue;
      zmq::message_t ping = pmp::EncodeEnvelope(pmp::Ping{static_cast<uint64_t>(now / 1000)});
      if (sockets[i].send(ping, zmq::send_flags::dontwait)) {
        ++pings_out;
      } else {
        ++send_fails;
      }
      last_sent[i] = now;
    }
  };

  while (admitted < n) {
    const int64_t now = MonotonicNs();
    if (now - start > timeout_ns) break;
    connect_more();
    const size_t received = sweep();
    heartbeat(MonotonicNs());
    if (received == 0) usleep(window == 0 ? 1000 : 100);
  }
  Say("admitted " + std::to_string(admitted) + " " + std::to_string(start) + " " +
      std::to_string(last_admission));

  // Idle: keep every session alive and read what comes, until "stop" (or EOF).
  for (;;) {
    sweep();
    heartbeat(MonotonicNs());
    if (StdinHasLine(10)) break;
  }
  Say("stats answered=" + std::to_string(admitted) + " denied=" + std::to_string(denied) +
      " errors=" + std::to_string(errors) + " byes=" + std::to_string(byes) +
      " data=" + std::to_string(data) + " pings_in=" + std::to_string(pings_in) +
      " pings_out=" + std::to_string(pings_out) + " send_fails=" + std::to_string(send_fails) +
      " other=" + std::to_string(other));
  return 0;
}

}  // namespace

int RunPeerRole(const std::string& role, const std::vector<std::string>& args) {
  const Flags flags(args);
  if (role == "raw-echo") return RawEcho(flags);
  if (role == "raw-sink") return RawSink(flags);
  if (role == "raw-pmp-echo") return RawPmpEcho(flags);
  if (role == "raw-relay") return RawRelay(flags);
  if (role == "raw-relay-echo") return RawRelayEcho(flags);
  if (role == "pm-server") return PmServer(flags);
  if (role == "pm-client") return PmClient(flags);
  if (role == "hb-clients") return HbClients(flags);
  if (role == "rtt-probe") return RttProbe(flags);
  if (role == "send-probe") return SendProbe(flags);
  if (role == "pm-probe") return PmProbe(flags);
  if (role == "bulk-sink" || role == "bulk-probe") return RunBulkRole(role, args);
  return -1;
}

}  // namespace procmod::bench
