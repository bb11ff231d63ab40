// The bulk case: what ParaView sends most (rendered images, geometry), payloads of
// 1, 16 and 256 MiB, one-way and as request and reply over tcp, procmod against
// raw libzmq in the same run, with each side's peak RSS (docs/BENCHMARKS.md, "bulk").
//
// Four processes per size: a sender (bulk-probe) and a receiver (bulk-sink) for
// procmod and for raw libzmq, senders pinned to one CPU and receivers to another as
// in the resume case. Each sender owns one buffer of the payload's size and hands it
// to ZeroMQ without a copy (a message_t over it with no free function), so what the
// processes' RSS grows by is what the library and libzmq allocate, nothing the
// benchmark does: one payload received is one payload of RSS, and a copy anywhere
// would show as another.
#include "bulk.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <utility>
#include <vector>

#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "procmod/logging.h"
#include "procmod/process_module.h"

namespace procmod::bench {
namespace {

constexpr size_t kMiB = size_t{1} << 20;
// Above the largest payload: limits.max_message_size is 64 MiB by default, and a
// ParaView deployment that moves 256 MiB images raises it the same way.
constexpr size_t kMaxMessage = 512 * kMiB;
constexpr std::chrono::seconds kTransferTimeout{120};

void Say(const std::string& line) {
  std::fputs((line + "\n").c_str(), stdout);
  std::fflush(stdout);
}

// "--flag value" pairs.
std::map<std::string, std::string> ParseFlags(const std::vector<std::string>& args) {
  std::map<std::string, std::string> flags;
  for (size_t i = 0; i + 1 < args.size(); i += 2) flags[args[i]] = args[i + 1];
  return flags;
}

std::string Get(const std::map<std::string, std::string>& flags, const std::string& key) {
  auto it = flags.find(key);
  if (it == flags.end()) throw std::runtime_error(key + " is required");
  return it->second;
}

std::string CountText(uint64_t messages, uint64_t bytes) {
  return std::to_string(messages) + " " + std::to_string(bytes);
}

std::pair<uint64_t, uint64_t> ParseCount(const std::string& text) {
  std::istringstream in(text);
  uint64_t messages = 0, bytes = 0;
  in >> messages >> bytes;
  return {messages, bytes};
}

// What both sides' modules share: room for the largest payload. The heartbeat is
// the default (1 s x 3), though 256 MiB took over 3 s to cross on a loaded VM even
// for raw libzmq: the bytes of a message on its way count as life (PROTOCOL.md §11).
Options BulkOptions(const char* name, Role role) {
  Options options;
  options.name = name;
  options.role = role;
  options.limits.max_message_size = kMaxMessage;
  return options;
}

// ----------------------------------------------------------------------------
// bulk-sink
// ----------------------------------------------------------------------------

int PmSink(const std::string& listen) {
  (void)ConfigureLogging(LogOptions{"warn", "text"});
  Options options = BulkOptions("procmod-bench-bulk-sink", Role::kServer);
  options.listen = listen;
  options.multiple_connections = true;
  options.admin.endpoint.clear();
  Result<ProcessModule*> module = ProcessModule::Initialize(options);
  if (!module.ok()) {
    std::fprintf(stderr, "bulk-sink: %s\n", module.status().ToString().c_str());
    return 2;
  }
  // Handlers and callbacks run on the I/O thread only: no lock.
  uint64_t messages = 0, bytes = 0;
  (*module)->RegisterHandler(
      "echo", [](IncomingRequest& r) { return Reply{.payload = std::move(r.payload)}; });
  (*module)->RegisterHandler("count", [&](IncomingRequest&) {
    Frames payload;
    const std::string text = CountText(messages, bytes);
    payload.emplace_back(text.data(), text.size());
    return Reply{.payload = std::move(payload)};
  });
  (*module)->OnData([&](const Connection&, std::string_view, Frames payload) {
    ++messages;
    for (const zmq::message_t& frame : payload) bytes += frame.size();
  });
  if (Status s = (*module)->Start(); !s.ok()) {
    std::fprintf(stderr, "bulk-sink: %s\n", s.ToString().c_str());
    return 4;
  }
  Say("ready " + (*module)->ListenEndpoint());
  (*module)->Run();
  ProcessModule::Finalize();
  return 0;
}

int RawSink(const std::string& listen) {
  zmq::context_t context(1);
  zmq::socket_t router(context, zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  router.bind(listen);
  Say("ready " + router.get(zmq::sockopt::last_endpoint));
  uint64_t messages = 0, bytes = 0;
  std::vector<zmq::message_t> frames;
  for (;;) {
    frames.clear();
    if (!zmq::recv_multipart(router, std::back_inserter(frames)) || frames.size() < 2) continue;
    if (frames.size() == 2 && frames[1].to_string_view() == "END") {
      const std::string answer = CountText(messages, bytes);
      router.send(frames[0], zmq::send_flags::sndmore);
      router.send(zmq::buffer(answer), zmq::send_flags::none);
    } else if (frames.size() == 3 && frames[1].to_string_view() == "E") {
      router.send(frames[0], zmq::send_flags::sndmore);
      router.send(frames[2], zmq::send_flags::none);  // moved back, as the pm handler does
    } else {
      ++messages;
      bytes += frames[1].size();
    }
  }
}

// ----------------------------------------------------------------------------
// bulk-probe
// ----------------------------------------------------------------------------

// The sender's two forms: what a run does, either way.
class Sender {
 public:
  virtual ~Sender() = default;
  virtual void Send(zmq::message_t payload) = 0;
  // The sink's "MESSAGES BYTES", after everything sent before.
  virtual std::pair<uint64_t, uint64_t> Count() = 0;
  // One request of `payload`; the size of the echo.
  virtual size_t Echo(zmq::message_t payload) = 0;
};

class PmSender : public Sender {
 public:
  explicit PmSender(const std::string& url) {
    (void)ConfigureLogging(LogOptions{"warn", "text"});
    Options options = BulkOptions("procmod-bench-bulk-probe", Role::kClient);
    options.server_url = url;
    Result<ProcessModule*> module = ProcessModule::Initialize(options);
    if (!module.ok()) throw std::runtime_error(module.status().ToString());
    if (Status s = (*module)->Start(); !s.ok()) throw std::runtime_error(s.ToString());
    Result<Connection> server = (*module)->FindConnection((*module)->Connections().at(0).session);
    if (!server.ok()) throw std::runtime_error(server.status().ToString());
    server_ = *server;
  }
  ~PmSender() override {
    (void)server_.Close();
    ProcessModule::Finalize();
  }
  void Send(zmq::message_t payload) override {
    Frames frames;
    frames.push_back(std::move(payload));
    if (Status s = server_.Send(std::move(frames)); !s.ok()) {
      throw std::runtime_error("Send: " + s.ToString());
    }
  }
  std::pair<uint64_t, uint64_t> Count() override {
    Result<Reply> reply = server_.Request("count", {}, kTransferTimeout).get();
    if (!reply.ok() || reply->payload.empty()) {
      throw std::runtime_error("count: " + reply.status().ToString());
    }
    return ParseCount(reply->payload[0].to_string());
  }
  size_t Echo(zmq::message_t payload) override {
    Frames frames;
    frames.push_back(std::move(payload));
    Result<Reply> reply = server_.Request("echo", std::move(frames), kTransferTimeout).get();
    if (!reply.ok()) throw std::runtime_error("echo: " + reply.status().ToString());
    return reply->payload.size() == 1 ? reply->payload[0].size() : 0;
  }

 private:
  Connection server_;
};

class RawSender : public Sender {
 public:
  explicit RawSender(const std::string& endpoint) {
    dealer_.set(zmq::sockopt::linger, 0);
    dealer_.connect(endpoint);
  }
  void Send(zmq::message_t payload) override { dealer_.send(payload, zmq::send_flags::none); }
  std::pair<uint64_t, uint64_t> Count() override {
    dealer_.send(zmq::str_buffer("END"), zmq::send_flags::none);
    zmq::message_t reply;
    if (!dealer_.recv(reply)) throw std::runtime_error("raw count failed");
    return ParseCount(reply.to_string());
  }
  size_t Echo(zmq::message_t payload) override {
    dealer_.send(zmq::str_buffer("E"), zmq::send_flags::sndmore);
    dealer_.send(payload, zmq::send_flags::none);
    zmq::message_t reply;
    if (!dealer_.recv(reply)) throw std::runtime_error("raw echo failed");
    return reply.size();
  }

 private:
  zmq::context_t context_{1};
  zmq::socket_t dealer_{context_, zmq::socket_type::dealer};
};

int Probe(const std::map<std::string, std::string>& flags) {
  const size_t size = std::stoull(Get(flags, "--size"));
  // The application's own buffer, written once (its pages are in the baseline RSS)
  // and lent to ZeroMQ by every message: no free function makes a constant message
  // that libzmq never copies or frees, and it outlives them all.
  auto buffer = std::make_unique_for_overwrite<char[]>(size);
  for (size_t i = 0; i < size; ++i) buffer[i] = static_cast<char>(i * 131 + 7);
  auto payload = [&] { return zmq::message_t(buffer.get(), size, nullptr, nullptr); };
  std::unique_ptr<Sender> sender;
  if (Get(flags, "--mode") == "raw") {
    sender = std::make_unique<RawSender>(Get(flags, "--connect"));
  } else {
    sender = std::make_unique<PmSender>(Get(flags, "--connect"));
  }
  sender->Count();  // connected, and the sink answers
  Say("ready " + std::to_string(size));
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string command;
    uint64_t n = 0;
    in >> command >> n;
    try {
      if (command == "send") {
        const auto before = sender->Count();
        const auto t0 = SteadyClock::now();
        for (uint64_t i = 0; i < n; ++i) sender->Send(payload());
        const auto after = sender->Count();
        const double seconds = std::chrono::duration<double>(SteadyClock::now() - t0).count();
        if (after.first - before.first != n || after.second - before.second != n * size) {
          throw std::runtime_error("delivered " + std::to_string(after.first - before.first) +
                                   " messages, " + std::to_string(after.second - before.second) +
                                   " bytes of " + std::to_string(n) + " x " + std::to_string(size));
        }
        Say("send " + std::to_string(seconds));
      } else if (command == "rr") {
        const auto t0 = SteadyClock::now();
        for (uint64_t i = 0; i < n; ++i) {
          const size_t echoed = sender->Echo(payload());
          if (echoed != size) throw std::runtime_error("echo of " + std::to_string(echoed));
        }
        const double seconds = std::chrono::duration<double>(SteadyClock::now() - t0).count();
        Say("rr " + std::to_string(seconds));
      } else {
        Say("error unknown command " + command);
      }
    } catch (const std::exception& e) {
      Say(std::string("error ") + e.what());
    }
  }
  return 0;
}

// ----------------------------------------------------------------------------
// The driver's half
// ----------------------------------------------------------------------------

struct Size {
  size_t bytes;
  const char* label;
  uint64_t one_way;  // messages per one-way run
  uint64_t rr;       // requests per request/reply run
  int reps;
};

std::string MegaBytes(double per_second) { return Fmt(per_second / 1e6) + " MB/s"; }

}  // namespace

int RunBulkRole(const std::string& role, const std::vector<std::string>& args) {
  const auto flags = ParseFlags(args);
  if (role == "bulk-sink") {
    const std::string listen = Get(flags, "--listen");
    return Get(flags, "--mode") == "raw" ? RawSink(listen) : PmSink(listen);
  }
  if (role == "bulk-probe") return Probe(flags);
  return -1;
}

void BulkCase(const CaseContext& context) {
  const std::vector<int> cpus = UsableCpus();
  const char* pin_env = std::getenv("PROCMOD_BENCH_PIN");
  const bool pin = cpus.size() >= 2 && !(pin_env && std::string(pin_env) == "0");
  const int sender_cpu = pin ? cpus[0] : -1;
  const int receiver_cpu = pin ? cpus[1] : -1;
  // 256 MiB each way per run at 1 and 16 MiB: enough that the two count REQUESTs
  // around a one-way run are a small part of it. 256 MiB messages cost seconds on a
  // VM (a page fault per 4 KiB of each receiving buffer, every time: glibc maps a
  // buffer that big afresh): one per run, five runs, as their rates vary by a fifth.
  const std::vector<Size> sizes = context.quick
                                      ? std::vector<Size>{{kMiB, "1 MiB", 64, 32, 3},
                                                          {16 * kMiB, "16 MiB", 4, 2, 2},
                                                          {256 * kMiB, "256 MiB", 1, 1, 1}}
                                      : std::vector<Size>{{kMiB, "1 MiB", 256, 128, 5},
                                                          {16 * kMiB, "16 MiB", 16, 8, 5},
                                                          {256 * kMiB, "256 MiB", 1, 1, 5}};
  const std::chrono::milliseconds answer_timeout(kTransferTimeout);
  std::string counts;
  int failed = 0;
  for (const Size& size : sizes) {
    // A size that fails (a peer gone, a session expired) leaves the others' rows.
    try {
      struct Side {
        std::unique_ptr<Child> sink;
        std::unique_ptr<Child> probe;
        int64_t sink_base_kib = 0;
        int64_t probe_base_kib = 0;
        std::vector<double> one_way;  // MB/s of each run
        std::vector<double> rr;
        double sender_cpu = 0, receiver_cpu = 0;  // seconds, over the timed runs
        double moved = 0;                         // payload bytes, over the timed runs
      };
      auto start = [&](const std::string& mode) {
        Side side;
        std::string endpoint;
        side.sink =
            context.start_peer("bulk-sink", {"--listen", "tcp://127.0.0.1:0", "--mode", mode},
                               &endpoint, receiver_cpu);
        side.probe = context.start_peer(
            "bulk-probe",
            {"--connect", endpoint, "--mode", mode, "--size", std::to_string(size.bytes)}, nullptr,
            sender_cpu);
        // Connected, the buffer written: what a transfer adds comes on top of this.
        side.sink_base_kib = RssKiB(side.sink->pid());
        side.probe_base_kib = RssKiB(side.probe->pid());
        return side;
      };
      Side pm = start("pm");
      Side raw = start("raw");
      auto ask = [&](Side& side, const std::string& command) {
        const std::string prefix = command.substr(0, command.find(' ')) + " ";
        if (!side.probe->WriteLine(command)) {
          throw std::runtime_error("bulk-probe is gone; see " + context.log("bulk-probe"));
        }
        std::optional<std::string> line = side.probe->ReadLine(answer_timeout);
        if (!line || line->rfind(prefix, 0) != 0) {
          throw std::runtime_error("bulk-probe " + std::string(size.label) + ": '" + command +
                                   "' answered '" + line.value_or("nothing") + "'; see " +
                                   context.log("bulk-probe"));
        }
        return std::stod(line->substr(prefix.size()));
      };
      auto run = [&](Side& side, bool timed) {
        const double bytes = static_cast<double>(size.bytes);
        const double sender0 = CpuSeconds(side.probe->pid());
        const double receiver0 = CpuSeconds(side.sink->pid());
        const double one_way = ask(side, "send " + std::to_string(size.one_way));
        const double rr = ask(side, "rr " + std::to_string(size.rr));
        if (!timed) return;
        side.one_way.push_back(static_cast<double>(size.one_way) * bytes / one_way);
        side.rr.push_back(static_cast<double>(size.rr) * bytes / rr);
        side.sender_cpu += CpuSeconds(side.probe->pid()) - sender0;
        side.receiver_cpu += CpuSeconds(side.sink->pid()) - receiver0;
        side.moved += static_cast<double>(size.one_way + 2 * size.rr) * bytes;
      };
      if (size.bytes < 256 * kMiB) {  // warm-up: connections, page tables, TCP windows
        run(pm, false);
        run(raw, false);
      }
      for (int r = 0; r < size.reps; ++r) {
        // procmod first, then raw first: neither always follows the other.
        Side& first = r % 2 == 0 ? pm : raw;
        Side& second = r % 2 == 0 ? raw : pm;
        run(first, true);
        run(second, true);
      }
      auto rate_row = [&](const std::string& name, const std::vector<double>& a,
                          const std::vector<double>& b) {
        Row row;
        row.name = name;
        row.pm = Median(a);
        row.raw = Median(b);
        row.pm_text = MegaBytes(row.pm);
        row.raw_text = MegaBytes(row.raw);
        row.better = Better::kHigher;
        row.target = 0.95;
        context.add(row);
      };
      rate_row(std::string("bulk one-way ") + size.label + " tcp, Send() in a loop", pm.one_way,
               raw.one_way);
      rate_row(std::string("bulk request/reply ") + size.label + " tcp (echoed)", pm.rr, raw.rr);
      // CPU per GiB moved (a request/reply moves its payload twice), each side: where
      // a rate falls short, whether it is procmod's CPU or the transfer's.
      auto cpu_text = [](const Side& side) {
        const double gib = side.moved / static_cast<double>(kMiB * 1024);
        char out[64];
        std::snprintf(out, sizeof out, "sender %.2f s, receiver %.2f s",
                      side.sender_cpu / gib, side.receiver_cpu / gib);
        return std::string(out);
      };
      Row cpu_row;
      cpu_row.name = std::string("  bulk ") + size.label + " CPU per GiB moved";
      const double pm_gib = pm.moved / static_cast<double>(kMiB * 1024);
      const double raw_gib = raw.moved / static_cast<double>(kMiB * 1024);
      cpu_row.pm = (pm.sender_cpu + pm.receiver_cpu) / pm_gib;
      cpu_row.raw = (raw.sender_cpu + raw.receiver_cpu) / raw_gib;
      cpu_row.pm_text = cpu_text(pm);
      cpu_row.raw_text = cpu_text(raw);
      context.add(cpu_row);
      // Peak RSS above the baseline, in payloads: a copy of each payload in flight on
      // one side would add one there.
      auto payloads = [&](const Child& child, int64_t base_kib) {
        const int64_t peak_kib = PeakRssKiB(child.pid());
        return static_cast<double>(std::max<int64_t>(peak_kib - base_kib, 0)) * 1024.0 /
               static_cast<double>(size.bytes);
      };
      const double pm_send = payloads(*pm.probe, pm.probe_base_kib);
      const double pm_recv = payloads(*pm.sink, pm.sink_base_kib);
      const double raw_send = payloads(*raw.probe, raw.probe_base_kib);
      const double raw_recv = payloads(*raw.sink, raw.sink_base_kib);
      auto text = [](double send, double recv) {
        char out[64];
        std::snprintf(out, sizeof out, "sender +%.1f, receiver +%.1f", send, recv);
        return std::string(out);
      };
      Row row;
      row.name = std::string("  bulk ") + size.label + " peak RSS above baseline, in payloads";
      row.pm = pm_send + pm_recv;
      row.raw = raw_send + raw_recv;
      row.pm_text = text(pm_send, pm_recv);
      row.raw_text = text(raw_send, raw_recv);
      context.add(row);
      counts += std::string(counts.empty() ? "" : "; ") + size.label + ": " +
                std::to_string(size.reps) + " x (" + std::to_string(size.one_way) + " one-way, " +
                std::to_string(size.rr) + " request/reply)";
    } catch (const std::exception& e) {
      ++failed;
      Row row;
      row.name = std::string("bulk ") + size.label;
      row.skipped = std::string("FAILED: ") + e.what();
      context.add(row);
    }
  }
  context.note("bulk: medians of alternating procmod/raw runs, " + counts +
               "; MB/s of payload (a request/reply moves it both ways); each sender lends "
               "ZeroMQ one buffer of its own (no copy); " +
               (pin ? "senders pinned to CPU " + std::to_string(sender_cpu) +
                          ", receivers to CPU " + std::to_string(receiver_cpu)
                    : std::string("not pinned")));
  if (failed > 0)
    throw std::runtime_error(std::to_string(failed) + " size(s) failed: see their rows");
}

}  // namespace procmod::bench
