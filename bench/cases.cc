#include "cases.h"

#include <signal.h>
#include <sys/eventfd.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <utility>

#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "bench_util.h"
#include "bulk.h"
#include "parallel.h"
#include "procmod/logging.h"
#include "procmod/process_module.h"
#include "protocol/codec.h"
#include "table.h"

namespace procmod::bench {
namespace {

constexpr milliseconds kStartTimeout{15000};

// ----------------------------------------------------------------------------
// The table
// ----------------------------------------------------------------------------

// Row and Better: table.h.

std::string WithUnit(double value, const std::string& unit) {
  return Fmt(value) + (unit.empty() ? "" : " " + unit);
}

std::string Rate(double per_second) {
  if (per_second >= 1e6) return Fmt(per_second / 1e6) + " M";
  if (per_second >= 1e3) return Fmt(per_second / 1e3) + " k";
  return Fmt(per_second) + " ";
}

struct Settings {
  bool quick = false;
  std::string server_bin;
  std::string broker_bin;
  std::string mpi_baseline;
  std::string tmp;
  std::set<std::string> only;
};

enum class ServerKind { kRaw, kRawBigBacklog, kDaemon, kBare };
struct ScaleResult;

// Where the rtt, data and broker cases run: the driver's threads (its client module,
// its raw DEALERs) on one CPU, every peer process on the other. Left to the
// scheduler, a case's busy threads landed on the two cores differently from run to
// run (the two ends of a round trip on one core or on two; a DATA run's five busy
// threads split 3:2 or 4:1), which moved the ratios between runs by more than the
// targets' margins. Pinned, the same threads share a CPU in every block of every run.
// PROCMOD_BENCH_PIN=0 leaves them to the scheduler.
struct Placement {
  bool pinned = false;
  int driver_cpu = -1;
  int peer_cpu = -1;
  std::vector<int> all;  // the driver's CPUs before the case, given back after it

  std::string Describe() const {
    return pinned ? "the driver pinned to CPU " + std::to_string(driver_cpu) +
                        ", its peer processes to CPU " + std::to_string(peer_cpu)
                  : std::string("not pinned");
  }
};

Placement PlanPlacement() {
  Placement p;
  p.all = UsableCpus();
  const char* env = std::getenv("PROCMOD_BENCH_PIN");
  p.pinned = p.all.size() >= 2 && !(env && std::string(env) == "0");
  if (p.pinned) {
    p.driver_cpu = p.all[0];
    p.peer_cpu = p.all[1];
  }
  return p;
}

// Every thread of the driver (the module's I/O thread and libzmq's included) on the
// driver's CPU while it lives; threads started meanwhile inherit it.
class DriverPin {
 public:
  explicit DriverPin(const Placement& placement) : placement_(placement) {
    if (placement_.pinned) PinThreads(getpid(), {placement_.driver_cpu});
  }
  ~DriverPin() {
    if (placement_.pinned) PinThreads(getpid(), placement_.all);
  }
  DriverPin(const DriverPin&) = delete;
  DriverPin& operator=(const DriverPin&) = delete;

 private:
  const Placement& placement_;
};

// One timed path of an interleave: `run` makes one round trip and returns it in µs;
// the CPU of `peers` (the processes that answer it) is counted over its blocks.
struct Probe {
  std::function<double()> run;
  std::vector<pid_t> peers;
};

// What Interleave measured, per probe: the samples in block order, and the CPU per
// sample of the driver process and of each of the probe's peers.
struct Interleaved {
  std::vector<std::vector<double>> samples;
  std::vector<double> driver_cpu_us;
  std::vector<std::vector<double>> peer_cpu_us;
  size_t block = 0;
};

// Sorted values as "median M (IQR a-b, range c-d, N)", ratios with an "x".
std::string SpreadText(std::vector<double> v) {
  if (v.empty()) return "-";
  std::sort(v.begin(), v.end());
  return "median " + Fmt(Median(v)) + "x (IQR " + Fmt(Percentile(v, 25)) + "x-" +
         Fmt(Percentile(v, 75)) + "x, range " + Fmt(v.front()) + "x-" + Fmt(v.back()) + "x, " +
         std::to_string(v.size()) + ")";
}

class Driver {
 public:
  explicit Driver(Settings settings) : s_(std::move(settings)), self_(SelfExe()) {}

  int Run();

 private:
  // Cases.
  void RoundTrip();
  void Throughput();
  void Broker();
  void SessionSetup();
  void AdmissionRate();
  void Scale();
  void Expiry();
  void Resume();
  void Bulk();
  void Parallel();
  ScaleResult Sessions(ServerKind kind, size_t n, size_t window, bool idle);

  bool Wanted(const std::string& name) const { return s_.only.empty() || s_.only.contains(name); }

  // Processes.
  std::string Log(const std::string& name) const { return s_.tmp + "/" + name + ".log"; }
  // `cpu` >= 0: pinned to that CPU (Child).
  std::unique_ptr<Child> StartPeer(const std::string& role, std::vector<std::string> flags,
                                   std::string* endpoint, int cpu = -1);
  std::unique_ptr<Child> StartServer(std::vector<std::string> flags, std::string* endpoint,
                                     const std::string& ready_prefix = "procmod-server: ready on ",
                                     int cpu = -1);

  // Measurements.
  Connection Connect(const std::string& url);
  double PmRoundTrip(const Connection& c, const std::string& payload);
  double RawRoundTrip(zmq::socket_t& dealer, const std::string& payload);
  void RoundTripRows(const std::string& label, const Connection& c, zmq::socket_t& dealer,
                     pid_t pm_peer, pid_t raw_peer, size_t size, bool targeted);
  Interleaved Interleave(const std::vector<Probe>& probes, bool targeted);
  void SpreadNote(const std::string& label, const Interleaved& run, size_t pm, size_t raw);
  void CpuRow(const std::string& name, double pm_us, double raw_us);
  void LatencyRow(const std::string& name, const std::vector<double>& pm,
                  const std::vector<double>& raw, double percent, double target);
  void HopFloor();

  // What a case kept in a file of its own (bulk.cc, parallel.cc) needs of the driver.
  CaseContext Context();
  void Add(Row row) { rows_.push_back(std::move(row)); }
  void Note(const std::string& note) { notes_.push_back(note); }
  void PrintHeader();
  void PrintTable();

  Settings s_;
  std::string self_;
  ProcessModule* module_ = nullptr;
  zmq::context_t raw_context_{1};
  std::vector<Row> rows_;
  std::vector<std::string> notes_;
  std::mt19937 random_{std::random_device{}()};
  Placement placement_;

  // OnDisconnected of the driver's module, by session: when and why.
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::pair<int64_t, DisconnectReason>> gone_;
};

// ----------------------------------------------------------------------------
// Processes
// ----------------------------------------------------------------------------

std::unique_ptr<Child> Driver::StartPeer(const std::string& role, std::vector<std::string> flags,
                                         std::string* endpoint, int cpu) {
  flags.insert(flags.begin(), {self_, role});
  auto child = std::make_unique<Child>(std::move(flags), Log(role), cpu);
  std::optional<std::string> ready = child->WaitForLine("ready ", kStartTimeout);
  if (!ready) {
    const std::optional<int> status = child->Wait(milliseconds(0));
    throw std::runtime_error(
        role + " did not start (" +
        (status ? "exit status " + std::to_string(*status) : std::string("still running")) +
        "); see " + Log(role));
  }
  if (endpoint) *endpoint = *ready;
  return child;
}

std::unique_ptr<Child> Driver::StartServer(std::vector<std::string> flags, std::string* endpoint,
                                           const std::string& ready_prefix, int cpu) {
  flags.insert(flags.begin(), s_.server_bin);
  auto child = std::make_unique<Child>(std::move(flags), Log("procmod-server"), cpu);
  std::optional<std::string> ready = child->WaitForLine(ready_prefix, kStartTimeout);
  if (!ready) {
    const std::optional<int> status = child->Wait(milliseconds(0));
    throw std::runtime_error(
        "procmod-server did not start (" +
        (status ? "exit status " + std::to_string(*status) : std::string("still running")) +
        "); see " + Log("procmod-server"));
  }
  if (endpoint) *endpoint = *ready;
  return child;
}

Connection Driver::Connect(const std::string& url) {
  Result<Connection> c = module_->ConnectToRemote(url);
  if (!c.ok()) throw std::runtime_error("ConnectToRemote(" + url + "): " + c.status().ToString());
  return *c;
}

// ----------------------------------------------------------------------------
// Round trip
// ----------------------------------------------------------------------------

double Driver::PmRoundTrip(const Connection& c, const std::string& payload) {
  Frames frames;
  frames.emplace_back(payload.data(), payload.size());
  const auto t0 = SteadyClock::now();
  Result<Reply> reply = c.Request("ping", std::move(frames)).get();
  const auto t1 = SteadyClock::now();
  if (!reply.ok() || reply->payload.size() != 1 || reply->payload[0].size() != payload.size()) {
    throw std::runtime_error("ping failed: " + reply.status().ToString());
  }
  return std::chrono::duration<double, std::micro>(t1 - t0).count();
}

double Driver::RawRoundTrip(zmq::socket_t& dealer, const std::string& payload) {
  const auto t0 = SteadyClock::now();
  dealer.send(zmq::message_t(payload.data(), payload.size()), zmq::send_flags::none);
  zmq::message_t reply;
  if (!dealer.recv(reply)) throw std::runtime_error("raw recv failed");
  const auto t1 = SteadyClock::now();
  if (reply.size() != payload.size()) throw std::runtime_error("raw echo size differs");
  return std::chrono::duration<double, std::micro>(t1 - t0).count();
}

// Runs every probe in alternating blocks (forward in even rounds, backward in odd
// ones, so none always follows another), so all of them see the same background
// load. `targeted`: the rows with a target get more rounds than the others.
Interleaved Driver::Interleave(const std::vector<Probe>& probes, bool targeted) {
  const int warmup = s_.quick ? 300 : 2000;
  const int rounds = s_.quick ? (targeted ? 6 : 3) : (targeted ? 30 : 10);
  const int block = s_.quick ? 300 : 500;
  for (int i = 0; i < warmup; ++i) {
    for (const Probe& probe : probes) probe.run();
  }
  Interleaved out;
  out.block = static_cast<size_t>(block);
  out.samples.resize(probes.size());
  std::vector<int64_t> driver_ns(probes.size(), 0);
  std::vector<std::vector<int64_t>> peer_ns(probes.size());
  for (size_t p = 0; p < probes.size(); ++p) {
    out.samples[p].reserve(static_cast<size_t>(rounds * block));
    peer_ns[p].assign(probes[p].peers.size(), 0);
  }
  const pid_t self = getpid();
  for (int r = 0; r < rounds; ++r) {
    for (size_t k = 0; k < probes.size(); ++k) {
      const size_t p = r % 2 == 0 ? k : probes.size() - 1 - k;
      const Probe& probe = probes[p];
      std::vector<int64_t> peer0;
      for (pid_t peer : probe.peers) peer0.push_back(ThreadCpuNs(peer));
      const int64_t driver0 = ThreadCpuNs(self);
      for (int i = 0; i < block; ++i) out.samples[p].push_back(probe.run());
      driver_ns[p] += ThreadCpuNs(self) - driver0;
      for (size_t j = 0; j < probe.peers.size(); ++j) {
        peer_ns[p][j] += ThreadCpuNs(probe.peers[j]) - peer0[j];
      }
    }
  }
  const double per = static_cast<double>(rounds) * block * 1e3;  // ns -> µs per sample
  for (size_t p = 0; p < probes.size(); ++p) {
    out.driver_cpu_us.push_back(static_cast<double>(driver_ns[p]) / per);
    out.peer_cpu_us.emplace_back();
    for (int64_t ns : peer_ns[p]) out.peer_cpu_us.back().push_back(static_cast<double>(ns) / per);
  }
  return out;
}

// The p50 and p99 ratios of probe `pm` to probe `raw` in each round's pair of blocks,
// as a note: how much the ratio of the whole run can be trusted.
void Driver::SpreadNote(const std::string& label, const Interleaved& run, size_t pm, size_t raw) {
  std::vector<double> p50, p99;
  const auto& a = run.samples[pm];
  const auto& b = run.samples[raw];
  for (size_t start = 0; start + run.block <= a.size() && start + run.block <= b.size();
       start += run.block) {
    const auto slice = [&](const std::vector<double>& v) {
      return std::vector<double>(v.begin() + static_cast<long>(start),
                                 v.begin() + static_cast<long>(start + run.block));
    };
    p50.push_back(Median(slice(a)) / Median(slice(b)));
    p99.push_back(Percentile(slice(a), 99) / Percentile(slice(b), 99));
  }
  Note(label + ": per pair of blocks of " + std::to_string(run.block) + ", p50 ratio " +
       SpreadText(p50) + ", p99 ratio " + SpreadText(p99) + "; " + placement_.Describe());
}

// CPU per message or round trip (µs), procmod against raw: no target, the reason
// behind a ratio. /proc schedstat, so it holds every thread of the process.
void Driver::CpuRow(const std::string& name, double pm_us, double raw_us) {
  Row row;
  row.name = name;
  row.pm = pm_us;
  row.raw = raw_us;
  row.pm_text = WithUnit(pm_us, "us CPU");
  row.raw_text = WithUnit(raw_us, "us CPU");
  Add(row);
}

void Driver::LatencyRow(const std::string& name, const std::vector<double>& pm,
                        const std::vector<double>& raw, double percent, double target) {
  Row row;
  row.name = name;
  row.pm = Percentile(pm, percent);
  row.raw = raw.empty() ? 0 : Percentile(raw, percent);
  row.pm_text = WithUnit(row.pm, "us");
  row.raw_text = raw.empty() ? "-" : WithUnit(row.raw, "us");
  row.better = target > 0 ? Better::kLower : Better::kInfo;
  row.target = target;
  Add(row);
}

// The targeted round trip: p50 and p99 against raw, the spread of the per-block
// ratios, and the CPU each side spent per round trip.
constexpr double kRoundTripTarget = 1.15;

void Driver::RoundTripRows(const std::string& label, const Connection& c, zmq::socket_t& dealer,
                           pid_t pm_peer, pid_t raw_peer, size_t size, bool targeted) {
  const std::string payload(size, 'x');
  const Interleaved run = Interleave({{[&] { return PmRoundTrip(c, payload); }, {pm_peer}},
                                      {[&] { return RawRoundTrip(dealer, payload); }, {raw_peer}}},
                                     targeted);
  const double target = targeted ? kRoundTripTarget : 0;
  LatencyRow(label + " p50", run.samples[0], run.samples[1], 50, target);
  LatencyRow(label + " p99", run.samples[0], run.samples[1], 99, target);
  if (targeted) {
    SpreadNote(label, run, 0, 1);
    CpuRow("  " + label + ": CPU per round trip, driver (module / raw DEALER)",
           run.driver_cpu_us[0], run.driver_cpu_us[1]);
    CpuRow("  " + label + ": CPU per round trip, server (procmod-server / raw-echo)",
           run.peer_cpu_us[0][0], run.peer_cpu_us[1][0]);
  }
}

// One raw round trip that must come back within `timeout`: proves a path is up before
// it is timed (RawRoundTrip would wait forever for a message that was dropped).
void FirstRawRoundTrip(zmq::socket_t& dealer, const std::string& what, milliseconds timeout) {
  dealer.send(zmq::str_buffer("hello"), zmq::send_flags::none);
  zmq::pollitem_t item{dealer.handle(), 0, ZMQ_POLLIN, 0};
  zmq::message_t reply;
  if (zmq::poll(&item, 1, timeout) <= 0 || !dealer.recv(reply, zmq::recv_flags::dontwait) ||
      reply.to_string_view() != "hello") {
    throw std::runtime_error(what + ": no echo within " + std::to_string(timeout.count()) + " ms");
  }
}

// A raw DEALER speaking PMP/1 by hand: HELLO, then REQUEST "ping" / REPLY.
class RawPmpClient {
 public:
  RawPmpClient(zmq::context_t& context, const std::string& endpoint)
      : socket_(context, zmq::socket_type::dealer) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.connect(endpoint);
    pmp::Hello hello;
    hello.role = "client";
    hello.name = "procmod-bench-raw-pmp";
    hello.version = std::string(pmp::kProtocolVersion);
    hello.heartbeat_ms = 1000;
    socket_.send(pmp::EncodeEnvelope(hello), zmq::send_flags::none);
    if (Receive() != pmp::Command::kWelcome) throw std::runtime_error("raw PMP client: no WELCOME");
  }
  double RoundTrip(const std::string& payload) {
    const auto t0 = SteadyClock::now();
    socket_.send(pmp::EncodeEnvelope(pmp::Request{++id_, "ping", {}, {}}),
                 zmq::send_flags::sndmore);
    socket_.send(zmq::message_t(payload.data(), payload.size()), zmq::send_flags::none);
    while (Receive() != pmp::Command::kReply) {
    }
    const auto t1 = SteadyClock::now();
    return std::chrono::duration<double, std::micro>(t1 - t0).count();
  }

 private:
  pmp::Command Receive() {
    frames_.clear();
    if (!zmq::recv_multipart(socket_, std::back_inserter(frames_)) || frames_[0].size() < 5) {
      throw std::runtime_error("raw PMP client: receive failed");
    }
    return static_cast<pmp::Command>(static_cast<const uint8_t*>(frames_[0].data())[4]);
  }
  zmq::socket_t socket_;
  std::vector<zmq::message_t> frames_;
  uint64_t id_ = 0;
};

void Driver::RoundTrip() {
  DriverPin pin(placement_);
  const int cpu = placement_.peer_cpu;
  HopFloor();
  for (const std::string transport : {"tcp", "ipc"}) {
    const bool tcp = transport == "tcp";
    std::string pm_endpoint, raw_endpoint;
    auto server =
        StartServer({"--listen", tcp ? "tcp://127.0.0.1:0" : "ipc://" + s_.tmp + "/rtt-pm.ipc",
                     "--admin", "none", "--name", "bench-rtt"},
                    &pm_endpoint, "procmod-server: ready on ", cpu);
    auto echo = StartPeer(
        "raw-echo", {"--bind", tcp ? "tcp://127.0.0.1:0" : "ipc://" + s_.tmp + "/rtt-raw.ipc"},
        &raw_endpoint, cpu);
    Connection c = Connect(pm_endpoint);
    zmq::socket_t dealer(raw_context_, zmq::socket_type::dealer);
    dealer.set(zmq::sockopt::linger, 0);
    dealer.connect(raw_endpoint);
    const std::string label = "round trip 64 B " + transport;
    if (tcp) {
      // 64 B over tcp with its two halves on their own: procmod's server side (a raw
      // DEALER speaking PMP/1 to a second procmod-server) and its client side (this
      // module against a raw ROUTER speaking PMP/1).
      std::string server_only_endpoint, client_only_endpoint;
      auto server_only =
          StartServer({"--listen", "tcp://127.0.0.1:0", "--admin", "none", "--name", "bench-rtt-2"},
                      &server_only_endpoint, "procmod-server: ready on ", cpu);
      auto pmp_echo =
          StartPeer("raw-pmp-echo", {"--bind", "tcp://127.0.0.1:0"}, &client_only_endpoint, cpu);
      RawPmpClient raw_pmp(raw_context_, server_only_endpoint);
      Connection to_raw_pmp = Connect(client_only_endpoint);
      const std::string payload(64, 'x');
      const Interleaved run =
          Interleave({{[&] { return PmRoundTrip(c, payload); }, {server->pid()}},
                      {[&] { return RawRoundTrip(dealer, payload); }, {echo->pid()}},
                      {[&] { return raw_pmp.RoundTrip(payload); }, {server_only->pid()}},
                      {[&] { return PmRoundTrip(to_raw_pmp, payload); }, {pmp_echo->pid()}}},
                     true);
      LatencyRow(label + " p50", run.samples[0], run.samples[1], 50, kRoundTripTarget);
      LatencyRow(label + " p99", run.samples[0], run.samples[1], 99, kRoundTripTarget);
      SpreadNote(label, run, 0, 1);
      LatencyRow("  part: raw PMP/1 DEALER -> procmod-server (server side only) p50",
                 run.samples[2], run.samples[1], 50, 0);
      LatencyRow("  part: procmod client -> raw PMP/1 ROUTER (client side only) p50",
                 run.samples[3], run.samples[1], 50, 0);
      CpuRow("  " + label + ": CPU per round trip, driver (module / raw DEALER)",
             run.driver_cpu_us[0], run.driver_cpu_us[1]);
      CpuRow("  " + label + ": CPU per round trip, server (procmod-server / raw-echo)",
             run.peer_cpu_us[0][0], run.peer_cpu_us[1][0]);
      (void)to_raw_pmp.Close();
    } else {
      RoundTripRows(label, c, dealer, server->pid(), echo->pid(), 64, true);
    }
    RoundTripRows("round trip 4 KiB " + transport, c, dealer, server->pid(), echo->pid(), 4096,
                  false);
    (void)c.Close();
  }
}

// The two thread hops a Request() adds, measured without procmod: a thread blocked in
// zmq::poll on an eventfd (as the I/O thread is) woken by a write, and a thread blocked
// in future::get() woken by set_value. Then the same two hops through the module:
// ProcessModule::Connections() posts a closure and waits for its result. Each hop
// comes after 50 us of idleness, as in a round trip, where the woken thread has been
// asleep for most of a network round trip (a sleeping vCPU wakes far slower than a
// busy one).
void Driver::HopFloor() {
  const int n = s_.quick ? 1000 : 5000;
  constexpr microseconds kIdle{50};
  std::vector<double> to_io, to_app, module_call;
  to_io.reserve(static_cast<size_t>(n));
  to_app.reserve(static_cast<size_t>(n));
  {
    const int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    std::atomic<std::promise<void>*> slot{nullptr};
    std::atomic<int64_t> sent_at{0}, set_at{0};
    std::thread io([&] {
      for (int i = 0; i < n; ++i) {
        zmq_pollitem_t item{nullptr, fd, ZMQ_POLLIN, 0};
        while (zmq::poll(&item, 1, std::chrono::milliseconds(-1)) <= 0) {
        }
        const int64_t woke = MonotonicNs();
        uint64_t count = 0;
        [[maybe_unused]] ssize_t r = read(fd, &count, sizeof count);
        to_io.push_back(static_cast<double>(woke - sent_at.load()) / 1e3);
        std::promise<void>* promise = slot.exchange(nullptr);
        std::this_thread::sleep_for(kIdle);
        set_at.store(MonotonicNs());
        promise->set_value();
      }
    });
    for (int i = 0; i < n; ++i) {
      std::promise<void> promise;
      std::future<void> future = promise.get_future();
      slot.store(&promise);
      std::this_thread::sleep_for(kIdle);
      sent_at.store(MonotonicNs());
      const uint64_t one = 1;
      [[maybe_unused]] ssize_t w = write(fd, &one, sizeof one);
      future.get();
      const int64_t back = MonotonicNs();
      to_app.push_back(static_cast<double>(back - set_at.load()) / 1e3);
    }
    io.join();
    close(fd);
  }
  for (int i = 0; i < n; ++i) {
    std::this_thread::sleep_for(kIdle);
    const auto t0 = SteadyClock::now();
    (void)module_->Connections();
    module_call.push_back(
        std::chrono::duration<double, std::micro>(SteadyClock::now() - t0).count());
  }
  LatencyRow("thread hop (no procmod), idle thread: eventfd write -> zmq::poll returns p50", to_io,
             {}, 50, 0);
  LatencyRow("thread hop (no procmod), idle thread: set_value -> future::get returns p50", to_app,
             {}, 50, 0);
  LatencyRow("ProcessModule::Connections() on an idle module (both hops) p50", module_call, {}, 50,
             0);
}

// ----------------------------------------------------------------------------
// One-way DATA throughput
// ----------------------------------------------------------------------------

uint64_t PmCount(const Connection& c) {
  // A REQUEST queues behind the DATA sent before it (the link's outbox), so the count
  // covers them all. Retried on kResourceExhausted, which a full outbox would give.
  Result<Reply> reply = c.Request("count", {}, std::chrono::seconds(120)).get();
  for (int tries = 0; !reply.ok() && reply.status().IsResourceExhausted() && tries < 100000;
       ++tries) {
    SleepFor(microseconds(200));
    reply = c.Request("count", {}, std::chrono::seconds(120)).get();
  }
  if (!reply.ok() || reply->payload.empty()) {
    throw std::runtime_error("count failed: " + reply.status().ToString());
  }
  return std::stoull(reply->payload[0].to_string());
}

uint64_t RawCount(zmq::socket_t& dealer) {
  dealer.send(zmq::str_buffer("END"), zmq::send_flags::none);
  zmq::message_t reply;
  if (!dealer.recv(reply)) throw std::runtime_error("raw count failed");
  return std::stoull(reply.to_string());
}

void Driver::Throughput() {
  DriverPin pin(placement_);
  const int cpu = placement_.peer_cpu;
  std::string pm_endpoint, raw_endpoint;
  auto sink =
      StartPeer("pm-server", {"--listen", "tcp://127.0.0.1:0", "--multi"}, &pm_endpoint, cpu);
  auto raw_sink = StartPeer("raw-sink", {"--bind", "tcp://127.0.0.1:0"}, &raw_endpoint, cpu);
  Connection c = Connect(pm_endpoint);
  zmq::socket_t dealer(raw_context_, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::linger, 0);
  dealer.connect(raw_endpoint);
  RawCount(dealer);

  // Many short runs of the targeted size rather than a few long ones: each adjacent
  // pair (procmod, raw; the next pair raw first) gives a ratio of its own, and the
  // spread of those says how far one run's ratio can be trusted (the note).
  struct Size {
    size_t bytes;
    const char* label;
    uint64_t messages;
    uint64_t quick_messages;
    int reps;
    double target;
  };
  const Size sizes[] = {{64, "64 B", 200000, 50000, 15, 0.6},
                        {1024, "1 KiB", 100000, 20000, 5, 0},
                        {65536, "64 KiB", 10000, 2000, 5, 0.9}};
  constexpr uint64_t kWindow = 500;
  constexpr int kWindowedReps = 5;  // the paced row has no target: fewer runs
  const pid_t self = getpid();
  for (const Size& size : sizes) {
    const std::string payload(size.bytes, 'x');
    const uint64_t n = s_.quick ? size.quick_messages : size.messages;
    const int reps = s_.quick ? 3 : size.reps;
    // CPU of the sending (driver) and receiving process over a run, in ns.
    struct Cpu {
      int64_t sender = 0;
      int64_t receiver = 0;
      uint64_t messages = 0;
    };
    // window 0: Send() as fast as it returns (it waits for room itself: the send
    // window, lib/src/session/send_window.h). Otherwise a "count" REQUEST after every `window`
    // messages, waited for, as an application that paces itself would.
    auto pm_run = [&](uint64_t count, uint64_t window, double* dropped_fraction, Cpu* cpu_used) {
      const uint64_t before = PmCount(c);
      const uint64_t dropped_before = c.Stats().ok() ? c.Stats()->dropped : 0;
      const int64_t sender0 = ThreadCpuNs(self), receiver0 = ThreadCpuNs(sink->pid());
      const auto t0 = SteadyClock::now();
      for (uint64_t i = 0; i < count; ++i) {
        Frames frames;
        frames.emplace_back(payload.data(), payload.size());
        if (Status s = c.Send(std::move(frames)); !s.ok()) {
          throw std::runtime_error("Send: " + s.ToString());
        }
        if (window > 0 && (i + 1) % window == 0) PmCount(c);
      }
      const uint64_t delivered = PmCount(c) - before;
      const auto t1 = SteadyClock::now();
      if (cpu_used) {
        cpu_used->sender += ThreadCpuNs(self) - sender0;
        cpu_used->receiver += ThreadCpuNs(sink->pid()) - receiver0;
        cpu_used->messages += delivered;
      }
      const uint64_t dropped_after = c.Stats().ok() ? c.Stats()->dropped : 0;
      if (dropped_fraction) {
        *dropped_fraction =
            static_cast<double>(dropped_after - dropped_before) / static_cast<double>(count);
      }
      return static_cast<double>(delivered) / std::chrono::duration<double>(t1 - t0).count();
    };
    auto raw_run = [&](uint64_t count, Cpu* cpu_used) {
      const uint64_t before = RawCount(dealer);
      const int64_t sender0 = ThreadCpuNs(self), receiver0 = ThreadCpuNs(raw_sink->pid());
      const auto t0 = SteadyClock::now();
      for (uint64_t i = 0; i < count; ++i) {
        dealer.send(zmq::message_t(payload.data(), payload.size()), zmq::send_flags::none);
      }
      const uint64_t delivered = RawCount(dealer) - before;
      const auto t1 = SteadyClock::now();
      if (cpu_used) {
        cpu_used->sender += ThreadCpuNs(self) - sender0;
        cpu_used->receiver += ThreadCpuNs(raw_sink->pid()) - receiver0;
        cpu_used->messages += delivered;
      }
      return static_cast<double>(delivered) / std::chrono::duration<double>(t1 - t0).count();
    };
    pm_run(n / 5, 0, nullptr, nullptr);  // warm-up
    raw_run(n / 5, nullptr);
    std::vector<double> pm, pm_windowed, raw, paired;
    double worst_drop = 0, worst_windowed_drop = 0;
    Cpu pm_cpu, raw_cpu;
    for (int r = 0; r < reps; ++r) {
      double dropped = 0;
      if (r % 2 == 0) {
        pm.push_back(pm_run(n, 0, &dropped, &pm_cpu));
        raw.push_back(raw_run(n, &raw_cpu));
      } else {
        raw.push_back(raw_run(n, &raw_cpu));
        pm.push_back(pm_run(n, 0, &dropped, &pm_cpu));
      }
      paired.push_back(pm.back() / raw.back());
      worst_drop = std::max(worst_drop, dropped);
      if (r < kWindowedReps) {
        pm_windowed.push_back(pm_run(n, kWindow, &dropped, nullptr));
        worst_windowed_drop = std::max(worst_windowed_drop, dropped);
      }
    }
    const double mb = static_cast<double>(size.bytes) / 1e6;
    auto add = [&](const std::string& name, double pm_rate, double target, double drop) {
      Row row;
      row.name = name;
      row.pm = pm_rate;
      row.raw = Median(raw);
      row.pm_text = Rate(row.pm) + "msg/s, " + WithUnit(row.pm * mb, "MB/s");
      row.raw_text = Rate(row.raw) + "msg/s, " + WithUnit(row.raw * mb, "MB/s");
      row.better = target > 0 ? Better::kHigher : Better::kInfo;
      row.target = target;
      Add(row);
      if (drop > 0) {
        Note(name + ": " + Fmt(drop * 100) +
             " % of the messages Send() accepted were dropped (PeerInfo::dropped); a "
             "dialed peer should lose none: only delivered ones count");
      }
    };
    const std::string name = std::string("DATA one-way ") + size.label + " tcp, Send() in a loop";
    add(name, Median(pm), size.target, worst_drop);
    add(std::string("DATA one-way ") + size.label + " tcp, count REQUEST every " +
            std::to_string(kWindow) + " (no loss)",
        Median(pm_windowed), 0, worst_windowed_drop);
    auto spread = [](std::vector<double> v) {
      std::sort(v.begin(), v.end());
      return Rate(v.front()) + "-" + Rate(v.back()) + "msg/s";
    };
    Note(name + ": " + std::to_string(reps) + " alternating pairs of runs of " + std::to_string(n) +
         "; procmod " + spread(pm) + ", raw " + spread(raw) + "; procmod/raw of each pair " +
         SpreadText(paired) + "; " + placement_.Describe());
    if (size.target > 0 && pm_cpu.messages > 0 && raw_cpu.messages > 0) {
      // With every thread busy, a run is bound by the CPU a message costs: on the
      // busier CPU when pinned, over both cores when not.
      const auto per = [](int64_t ns, uint64_t messages) {
        return static_cast<double>(ns) / 1e3 / static_cast<double>(messages);
      };
      const std::string prefix = std::string("  DATA ") + size.label + ": CPU per message, ";
      CpuRow(prefix + "sender (module / raw DEALER)", per(pm_cpu.sender, pm_cpu.messages),
             per(raw_cpu.sender, raw_cpu.messages));
      CpuRow(prefix + "receiver (pm-server / raw-sink)", per(pm_cpu.receiver, pm_cpu.messages),
             per(raw_cpu.receiver, raw_cpu.messages));
    }
  }
  (void)c.Close();
}

// ----------------------------------------------------------------------------
// Broker relay
// ----------------------------------------------------------------------------

void Driver::Broker() {
  if (s_.broker_bin.empty() || access(s_.broker_bin.c_str(), X_OK) != 0) {
    Row row;
    row.name = "broker relay round trip 64 B tcp (vs the raw relay) p50";
    row.skipped = "procmod-broker is not built (target procmod-broker)";
    Add(row);
    return;
  }
  DriverPin pin(placement_);
  const int cpu = placement_.peer_cpu;
  std::string broker_endpoint, raw_endpoint;
  auto broker = std::make_unique<Child>(
      std::vector<std::string>{s_.broker_bin, "--port", "0", "--admin", "none"},
      Log("procmod-broker"), cpu);
  std::optional<std::string> ready =
      broker->WaitForLine("procmod-broker: ready on ", kStartTimeout);
  if (!ready)
    throw std::runtime_error("procmod-broker did not start; see " + Log("procmod-broker"));
  broker_endpoint = *ready;
  auto server = StartServer({"--broker-url", broker_endpoint, "--service", "bench", "--admin",
                             "none", "--name", "bench-relay"},
                            nullptr, "procmod-server: registered as ", cpu);
  auto echo = StartPeer("raw-echo", {"--bind", "tcp://127.0.0.1:0"}, &raw_endpoint, cpu);
  Connection c = Connect("broker+" + broker_endpoint + "/bench");
  zmq::socket_t dealer(raw_context_, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::linger, 0);
  dealer.connect(raw_endpoint);

  // The same path with no protocol: a raw DEALER -> raw-relay (one raw ROUTER on one
  // thread) -> raw-relay-echo (a raw DEALER). It is the baseline of the target: what
  // procmod adds to a relay. All three paths are timed in one interleave, so procmod's
  // relay, the raw relay and the direct round trip see the same background load. Each
  // relay and the process behind it share the peers' CPU, as procmod's do.
  std::string relay_endpoint;
  auto relay = StartPeer("raw-relay", {"--bind", "tcp://127.0.0.1:0"}, &relay_endpoint, cpu);
  auto relay_echo = StartPeer("raw-relay-echo", {"--connect", relay_endpoint}, nullptr, cpu);
  // The relay drops what a client sends before its server registered: wait for that.
  if (!relay->WaitForLine("server registered", kStartTimeout)) {
    throw std::runtime_error("raw-relay-echo did not register; see " + Log("raw-relay"));
  }
  zmq::socket_t relay_dealer(raw_context_, zmq::socket_type::dealer);
  relay_dealer.set(zmq::sockopt::linger, 0);
  relay_dealer.connect(relay_endpoint);
  FirstRawRoundTrip(relay_dealer, "raw-relay", kStartTimeout);

  const std::string payload(64, 'x');
  const Interleaved run = Interleave(
      {{[&] { return PmRoundTrip(c, payload); }, {broker->pid(), server->pid()}},
       {[&] { return RawRoundTrip(relay_dealer, payload); }, {relay->pid(), relay_echo->pid()}},
       {[&] { return RawRoundTrip(dealer, payload); }, {echo->pid()}}},
      true);
  const std::vector<double>& pm_relay = run.samples[0];
  const std::vector<double>& raw_relay = run.samples[1];
  const std::vector<double>& direct = run.samples[2];
  const auto rows = [&](const std::string& label, const std::vector<double>& measured,
                        const std::vector<double>& against, double target) {
    LatencyRow(label + " p50", measured, against, 50, target);
    LatencyRow(label + " p99", measured, against, 99, target);
  };
  rows("broker relay round trip 64 B tcp (vs the raw relay)", pm_relay, raw_relay, 1.15);
  SpreadNote("broker relay round trip 64 B tcp (vs the raw relay)", run, 0, 1);
  rows("  broker relay round trip 64 B tcp (vs direct raw)", pm_relay, direct, 0);
  rows(
      "  raw relay round trip 64 B tcp (raw DEALER -> raw ROUTER relay -> raw DEALER echo, vs "
      "direct raw)",
      raw_relay, direct, 0);
  CpuRow("  broker relay 64 B: CPU per round trip, driver (module / raw DEALER)",
         run.driver_cpu_us[0], run.driver_cpu_us[1]);
  CpuRow("  broker relay 64 B: CPU per round trip, relay (procmod-broker / raw-relay)",
         run.peer_cpu_us[0][0], run.peer_cpu_us[1][0]);
  CpuRow("  broker relay 64 B: CPU per round trip, server (procmod-server / raw-relay-echo)",
         run.peer_cpu_us[0][1], run.peer_cpu_us[1][1]);
  (void)c.Close();
}

// ----------------------------------------------------------------------------
// Session setup
// ----------------------------------------------------------------------------

zmq::message_t HelloFrame(const std::string& name) {
  pmp::Hello hello;
  hello.role = "client";
  hello.name = name;
  hello.version = std::string(pmp::kProtocolVersion);
  hello.software = "procmod-bench";
  hello.heartbeat_ms = 1000;
  return pmp::EncodeEnvelope(hello);
}

void Driver::SessionSetup() {
  std::string pm_endpoint, raw_endpoint;
  auto server = StartServer({"--listen", "tcp://127.0.0.1:0", "--multi-clients", "--admin", "none",
                             "--name", "bench-setup"},
                            &pm_endpoint);
  auto echo = StartPeer("raw-echo", {"--bind", "tcp://127.0.0.1:0"}, &raw_endpoint);
  const int count = s_.quick ? 40 : 300;
  std::vector<double> pm, raw;
  for (int i = 0; i < count; ++i) {
    {
      const auto t0 = SteadyClock::now();
      Connection c = Connect(pm_endpoint);
      const auto t1 = SteadyClock::now();
      pm.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
      (void)c.Close();
    }
    {
      const auto t0 = SteadyClock::now();
      zmq::socket_t dealer(raw_context_, zmq::socket_type::dealer);
      dealer.set(zmq::sockopt::linger, 0);
      dealer.connect(raw_endpoint);
      zmq::message_t hello = HelloFrame("procmod-bench");
      dealer.send(hello, zmq::send_flags::none);
      zmq::message_t reply;
      if (!dealer.recv(reply)) throw std::runtime_error("raw hello failed");
      const auto t1 = SteadyClock::now();
      raw.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    }
  }
  for (double percent : {50.0, 99.0}) {
    Row row;
    row.name = std::string("session setup HELLO->WELCOME tcp (ConnectToRemote) ") +
               (percent == 50 ? "p50" : "p99");
    row.pm = Percentile(pm, percent);
    row.raw = Percentile(raw, percent);
    row.pm_text = WithUnit(row.pm, "us");
    row.raw_text = WithUnit(row.raw, "us");
    Add(row);
  }
}

// ----------------------------------------------------------------------------
// Scale: many idle sessions
// ----------------------------------------------------------------------------

struct ScaleResult {
  size_t sessions = 0;
  size_t answered = 0;
  double answer_s = 0;     // from the first connect until the last first answer
  double cpu_percent = 0;  // of one core, over the idle window
  double rss_per_session_kib = 0;
  std::string client_stats;  // what the clients counted
};

// `n` sessions of raw DEALERs (hb-clients, 2,500 per process) against one server of
// `kind`: the time until each has its first answer and, with `idle`, the server's CPU
// and RSS while they idle at a 1 s heartbeat.
ScaleResult Driver::Sessions(ServerKind kind, size_t n, size_t window, bool idle) {
  const double window_s = s_.quick ? 1.5 : 10.0;
  const milliseconds settle(s_.quick ? 500 : 3000);
  const int64_t admit_timeout_ms = s_.quick ? 10000 : 45000;
  const std::string config = s_.tmp + "/scale.yaml";
  std::ofstream(config) << "heartbeat: {interval: 1s, liveness: 3}\n"
                           "limits: {max_connections: 20000}\n";
  ScaleResult result;
  result.sessions = n;
  std::string endpoint;
  std::unique_ptr<Child> server;
  switch (kind) {
    case ServerKind::kRaw:
      server = StartPeer("raw-echo", {"--bind", "tcp://127.0.0.1:0"}, &endpoint);
      break;
    case ServerKind::kRawBigBacklog:
      server =
          StartPeer("raw-echo", {"--bind", "tcp://127.0.0.1:0", "--backlog", "8192"}, &endpoint);
      break;
    case ServerKind::kDaemon:
      server = StartServer({"--config", config, "--multi-clients", "--listen", "tcp://127.0.0.1:0",
                            "--admin", "none", "--name", "bench-scale"},
                           &endpoint);
      break;
    case ServerKind::kBare:
      server = StartPeer(
          "pm-server",
          {"--listen", "tcp://127.0.0.1:0", "--multi", "--max", "20000", "--interval-ms", "1000"},
          &endpoint);
      break;
  }
  SleepFor(milliseconds(300));
  const int64_t rss0 = RssKiB(server->pid());
  const size_t per_process = 2500;
  const size_t processes = (n + per_process - 1) / per_process;
  std::vector<std::unique_ptr<Child>> clients;
  for (size_t p = 0; p < processes; ++p) {
    const size_t share = n / processes + (p < n % processes ? 1 : 0);
    clients.push_back(
        StartPeer("hb-clients",
                  {"--connect", endpoint, "--n", std::to_string(share), "--proto",
                   kind == ServerKind::kRaw || kind == ServerKind::kRawBigBacklog ? "raw" : "pmp",
                   "--interval-ms", "1000", "--timeout-ms", std::to_string(admit_timeout_ms),
                   "--window", std::to_string(window / processes)},
                  nullptr));
  }
  for (auto& client : clients) client->WriteLine("go");
  int64_t first_start = INT64_MAX, last_answer = 0;
  for (auto& client : clients) {
    std::optional<std::string> line =
        client->WaitForLine("admitted ", milliseconds(admit_timeout_ms + 15000));
    if (!line) throw std::runtime_error("hb-clients did not report; see " + Log("hb-clients"));
    std::istringstream in(*line);
    size_t answered = 0;
    int64_t start = 0, last = 0;
    in >> answered >> start >> last;
    result.answered += answered;
    first_start = std::min(first_start, start);
    last_answer = std::max(last_answer, last);
  }
  result.answer_s = static_cast<double>(last_answer - first_start) / 1e9;
  if (idle) {
    SleepFor(settle);
    const double cpu0 = CpuSeconds(server->pid());
    const auto t0 = SteadyClock::now();
    SleepFor(std::chrono::duration_cast<milliseconds>(std::chrono::duration<double>(window_s)));
    const double cpu1 = CpuSeconds(server->pid());
    const double elapsed = std::chrono::duration<double>(SteadyClock::now() - t0).count();
    const int64_t rss1 = RssKiB(server->pid());
    result.cpu_percent = (cpu1 - cpu0) / elapsed * 100;
    result.rss_per_session_kib = static_cast<double>(rss1 - rss0) / static_cast<double>(n);
  }
  for (auto& client : clients) {
    client->WriteLine("stop");
    if (auto stats = client->WaitForLine("stats ", milliseconds(10000))) {
      result.client_stats += (result.client_stats.empty() ? "" : " | ") + *stats;
    }
  }
  server->Kill();
  for (auto& client : clients) client->Kill();
  return result;
}

std::string KindName(ServerKind kind) {
  switch (kind) {
    case ServerKind::kRaw:
      return "raw ROUTER";
    case ServerKind::kRawBigBacklog:
      return "raw ROUTER (backlog 8192)";
    case ServerKind::kDaemon:
      return "procmod-server";
    case ServerKind::kBare:
      return "bare ProcessModule";
  }
  return "?";
}

void Driver::AdmissionRate() {
  const size_t n = 1000;
  const size_t window = 50;  // below libzmq's listen backlog (ZMQ_BACKLOG 100)
  const ScaleResult raw = Sessions(ServerKind::kRaw, n, window, false);
  for (ServerKind kind : {ServerKind::kDaemon, ServerKind::kBare}) {
    const ScaleResult pm = Sessions(kind, n, window, false);
    Row rate;
    rate.name = "session setup, " + KindName(kind) + ": sessions/s admitted (1000, " +
                std::to_string(window) + " in flight)";
    rate.pm = pm.answer_s > 0 ? static_cast<double>(pm.answered) / pm.answer_s : 0;
    rate.raw = raw.answer_s > 0 ? static_cast<double>(raw.answered) / raw.answer_s : 0;
    rate.pm_text = Rate(rate.pm) + "/s";
    rate.raw_text = Rate(rate.raw) + "/s";
    rate.invalid = pm.answered != n;
    Add(rate);
  }
}

void Driver::Scale() {
  // --quick: the targeted size only.
  const std::vector<size_t> sizes =
      s_.quick ? std::vector<size_t>{5000} : std::vector<size_t>{1000, 5000};
  for (size_t n : sizes) {
    const ScaleResult raw = Sessions(ServerKind::kRaw, n, 0, true);
    Note("scale " + std::to_string(n) + ", raw ROUTER: clients counted: " + raw.client_stats);
    if (!s_.quick) {
      // Both servers listen with libzmq's default backlog (100): all-at-once connects
      // overflow it and wait for SYN retransmits (1 s, 3 s, 7 s, ...). This raw ROUTER
      // with a big backlog shows how much of the time that is.
      const ScaleResult big = Sessions(ServerKind::kRawBigBacklog, n, 0, false);
      Row row;
      row.name = "scale " + std::to_string(n) +
                 ": raw ROUTER, ZMQ_BACKLOG 8192 vs default 100: "
                 "last first answer";
      row.pm = big.answer_s * 1000;
      row.raw = raw.answer_s * 1000;
      row.pm_text =
          WithUnit(row.pm, "ms") +
          (big.answered == n ? ""
                             : " (" + std::to_string(big.answered) + "/" + std::to_string(n) + ")");
      row.raw_text = WithUnit(row.raw, "ms");
      Add(row);
    }
    for (ServerKind kind : {ServerKind::kDaemon, ServerKind::kBare}) {
      const ScaleResult pm = Sessions(kind, n, 0, true);
      const std::string prefix = "scale " + std::to_string(n) + " idle, " + KindName(kind) + ": ";
      const bool targeted = n == 5000;
      const bool complete = pm.answered == n;

      Row cpu;
      cpu.name = prefix + "server CPU";
      cpu.pm = pm.cpu_percent;
      cpu.raw = raw.cpu_percent;
      cpu.pm_text = WithUnit(pm.cpu_percent, "% core");
      cpu.raw_text = WithUnit(raw.cpu_percent, "% core");
      cpu.better = targeted ? Better::kLower : Better::kInfo;
      cpu.target = 1.5;
      cpu.invalid = !complete;
      Add(cpu);

      Row rss;
      rss.name = prefix + "RSS per session";
      rss.pm = pm.rss_per_session_kib;
      rss.raw = raw.rss_per_session_kib;
      rss.pm_text = WithUnit(pm.rss_per_session_kib, "KiB");
      rss.raw_text = WithUnit(raw.rss_per_session_kib, "KiB");
      rss.better = targeted ? Better::kLower : Better::kInfo;
      rss.target = 1.15;
      rss.invalid = !complete;
      Add(rss);

      Row all;
      all.name = prefix + "all connect at once, last first answer";
      all.pm = pm.answer_s * 1000;
      all.raw = raw.answer_s * 1000;
      all.pm_text = complete ? WithUnit(all.pm, "ms")
                             : std::to_string(pm.answered) + "/" + std::to_string(n) +
                                   " answered, last at " + WithUnit(all.pm, "ms");
      all.raw_text = raw.answered == n ? WithUnit(all.raw, "ms")
                                       : std::to_string(raw.answered) + "/" + std::to_string(n) +
                                             ", " + WithUnit(all.raw, "ms");
      all.better = targeted ? Better::kLower : Better::kInfo;
      all.target = 1.0;
      all.invalid = !complete;
      Add(all);
      Note(prefix + "clients counted: " + pm.client_stats);
    }
  }
}

// ----------------------------------------------------------------------------
// Failure detection
// ----------------------------------------------------------------------------

void Driver::Expiry() {
  const int interval_ms = s_.quick ? 300 : 1000;
  const int liveness = 3;
  const int peers = s_.quick ? 3 : 5;
  const double nominal_ms = interval_ms * liveness;
  const double target = (nominal_ms + interval_ms) / nominal_ms;
  const milliseconds wait_limit(static_cast<int64_t>(nominal_ms) + 3 * interval_ms + 5000);
  // Kills are spread over a heartbeat interval, so the samples do not all share one
  // phase of the expiry timer.
  std::uniform_int_distribution<int> phase(0, interval_ms);
  // Resume off: a resumable session whose peer goes silent is suspended when it
  // expires and ends (OnDisconnected, the "gone" line) only a grace period later.
  // Suspension happens at the same moment, so this measures it too.
  const std::vector<std::string> heartbeat = {"--interval-ms",     std::to_string(interval_ms),
                                              "--liveness",        std::to_string(liveness),
                                              "--resume-grace-ms", "0"};

  auto add = [&](const std::string& name, const std::vector<double>& detect_ms, int expected) {
    Row row;
    row.name = name;
    row.pm = detect_ms.empty() ? 0 : *std::max_element(detect_ms.begin(), detect_ms.end());
    row.raw = nominal_ms;
    row.pm_text = "max " + WithUnit(row.pm, "ms") + " (median " + Fmt(Median(detect_ms)) + ", " +
                  std::to_string(detect_ms.size()) + "/" + std::to_string(expected) + ")";
    row.raw_text = std::to_string(interval_ms) + " ms x " + std::to_string(liveness);
    row.better = Better::kLower;
    row.target = target;
    row.invalid = static_cast<int>(detect_ms.size()) != expected;
    Add(row);
  };

  // A: a server (pm-server) expires clients that were SIGKILLed.
  {
    std::string endpoint;
    std::vector<std::string> flags = {"--listen", "tcp://127.0.0.1:0", "--multi"};
    flags.insert(flags.end(), heartbeat.begin(), heartbeat.end());
    auto server = StartPeer("pm-server", flags, &endpoint);
    std::vector<std::unique_ptr<Child>> clients;
    std::vector<std::string> sessions;
    for (int i = 0; i < peers; ++i) {
      clients.push_back(std::make_unique<Child>(
          std::vector<std::string>{self_, "pm-client", "--connect", endpoint}, Log("pm-client")));
      std::optional<std::string> session = clients.back()->WaitForLine("connected ", kStartTimeout);
      if (!session) throw std::runtime_error("pm-client did not connect; see " + Log("pm-client"));
      sessions.push_back(*session);
    }
    SleepFor(milliseconds(2 * interval_ms));  // a few heartbeats go by first
    std::map<std::string, int64_t> killed_at;
    for (int i = 0; i < peers; ++i) {
      SleepFor(milliseconds(phase(random_)));
      killed_at[sessions[static_cast<size_t>(i)]] = MonotonicNs();
      clients[static_cast<size_t>(i)]->Kill();
    }
    std::vector<double> detect_ms;
    const auto deadline = SteadyClock::now() + wait_limit;
    while (static_cast<int>(detect_ms.size()) < peers && SteadyClock::now() < deadline) {
      std::optional<std::string> line = server->WaitForLine(
          "gone ", std::chrono::duration_cast<milliseconds>(deadline - SteadyClock::now()));
      if (!line) break;
      std::istringstream in(*line);
      std::string session, reason;
      int64_t at = 0;
      in >> session >> reason >> at;
      auto it = killed_at.find(session);
      if (it == killed_at.end()) continue;
      if (reason != "expired") {
        Note("expiry A: session " + session + " ended with '" + reason + "', not expired");
        continue;
      }
      detect_ms.push_back(static_cast<double>(at - it->second) / 1e6);
    }
    add("failure detection: server expires a SIGKILLed client", detect_ms, peers);
  }

  // B: the driver's own module (a client) expires servers that were SIGKILLed.
  {
    std::vector<std::unique_ptr<Child>> servers;
    std::vector<std::string> sessions;
    for (int i = 0; i < peers; ++i) {
      std::string endpoint;
      std::vector<std::string> flags = {"--listen", "tcp://127.0.0.1:0"};
      flags.insert(flags.end(), heartbeat.begin(), heartbeat.end());
      servers.push_back(StartPeer("pm-server", flags, &endpoint));
      sessions.push_back(Connect(endpoint).session());
    }
    SleepFor(milliseconds(2 * interval_ms));
    std::map<std::string, int64_t> killed_at;
    for (int i = 0; i < peers; ++i) {
      SleepFor(milliseconds(phase(random_)));
      killed_at[sessions[static_cast<size_t>(i)]] = MonotonicNs();
      servers[static_cast<size_t>(i)]->Kill();
    }
    std::vector<double> detect_ms;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, wait_limit, [&] {
        return std::all_of(sessions.begin(), sessions.end(),
                           [&](const std::string& s) { return gone_.contains(s); });
      });
      for (const std::string& session : sessions) {
        auto it = gone_.find(session);
        if (it == gone_.end()) continue;
        if (it->second.second != DisconnectReason::kExpired) {
          Note("expiry B: session " + session + " ended with '" +
               std::string(DisconnectReasonName(it->second.second)) + "', not expired");
          continue;
        }
        detect_ms.push_back(static_cast<double>(it->second.first - killed_at[session]) / 1e6);
      }
    }
    add("failure detection: client module expires a SIGKILLed server", detect_ms, peers);
  }
}

// ----------------------------------------------------------------------------
// Session resume: on against off
// ----------------------------------------------------------------------------

// The same client twice, in processes of their own (resume.grace is module-wide and
// the driver's module has one): a pm-probe with resume on (the default) against a
// procmod-server and a pm-server with theirs on, and a pm-probe with
// resume.grace 0 against a procmod-server (`resume: {grace: 0s}`) and a pm-server
// (--resume-grace-ms 0) with theirs off. They and a raw DEALER take turns, in
// blocks, as in the other cases.
void Driver::Resume() {
  const std::string off_config = s_.tmp + "/resume-off.yaml";
  std::ofstream(off_config) << "resume: {grace: 0s}\n";
  struct Side {
    std::unique_ptr<Child> server;  // procmod-server, forward, single client
    std::unique_ptr<Child> sink;    // pm-server: counts DATA
    std::unique_ptr<Child> probe;   // pm-probe: the client module
  };
  // Senders on one CPU, receivers on the other: where the scheduler put six busy
  // threads on two cores used to move a run's rate by 2x, and so the ratio of two
  // runs by as much (BENCHMARKS.md). Pinned, each side's threads take turns on their
  // own core, and a run is bound by one side's CPU per message, as on a real link.
  // PROCMOD_BENCH_PIN=0 leaves them to the scheduler.
  const std::vector<int> cpus = UsableCpus();
  const char* pin_env = std::getenv("PROCMOD_BENCH_PIN");
  const bool pin = cpus.size() >= 2 && !(pin_env && std::string(pin_env) == "0");
  const int sender_cpu = pin ? cpus[0] : -1;
  const int receiver_cpu = pin ? cpus[1] : -1;
  auto start_side = [&](bool on) {
    Side side;
    std::string server_endpoint, sink_endpoint;
    std::vector<std::string> server_flags = {
        "--listen", "tcp://127.0.0.1:0",
        "--admin",  "none",
        "--name",   on ? "bench-resume-on" : "bench-resume-off"};
    std::vector<std::string> sink_flags = {"--listen", "tcp://127.0.0.1:0", "--multi"};
    std::vector<std::string> probe_flags;
    if (!on) {
      server_flags.insert(server_flags.end(), {"--config", off_config});
      sink_flags.insert(sink_flags.end(), {"--resume-grace-ms", "0"});
    }
    side.server =
        StartServer(server_flags, &server_endpoint, "procmod-server: ready on ", receiver_cpu);
    side.sink = StartPeer("pm-server", sink_flags, &sink_endpoint, receiver_cpu);
    probe_flags = {"--rtt", server_endpoint, "--data", sink_endpoint};
    if (!on) probe_flags.insert(probe_flags.end(), {"--resume-grace-ms", "0"});
    side.probe = StartPeer("pm-probe", probe_flags, nullptr, sender_cpu);
    return side;
  };
  Side on = start_side(true);
  Side off = start_side(false);
  std::string raw_endpoint, raw_sink_endpoint;
  auto echo = StartPeer("raw-echo", {"--bind", "tcp://127.0.0.1:0"}, &raw_endpoint);
  auto raw_sink = StartPeer("raw-sink", {"--bind", "tcp://127.0.0.1:0"}, &raw_sink_endpoint);
  zmq::socket_t dealer(raw_context_, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::linger, 0);
  dealer.connect(raw_endpoint);
  zmq::socket_t sink_dealer(raw_context_, zmq::socket_type::dealer);
  sink_dealer.set(zmq::sockopt::linger, 0);
  sink_dealer.connect(raw_sink_endpoint);
  RawCount(sink_dealer);

  const milliseconds answer_timeout(120000);
  auto ask = [&](Child& probe, const std::string& command, const std::string& prefix) {
    if (!probe.WriteLine(command)) {
      throw std::runtime_error("pm-probe is gone; see " + Log("pm-probe"));
    }
    std::optional<std::string> line = probe.WaitForLine(prefix, answer_timeout);
    if (!line) {
      throw std::runtime_error("pm-probe did not answer '" + command + "'; see " + Log("pm-probe"));
    }
    return *line;
  };
  auto stats = [&](Child& probe) {
    std::istringstream in(ask(probe, "stats", "stats "));
    uint64_t out = 0, bytes = 0, received = 0;
    in >> out >> bytes >> received;
    return std::array<uint64_t, 3>{out, bytes, received};
  };

  // Round trip, 64 B over tcp: blocks of `block` from each in turn.
  const std::string payload(64, 'x');
  const int warmup = s_.quick ? 300 : 1000;
  const int rounds = s_.quick ? 4 : 10;
  const int block = s_.quick ? 500 : 1000;
  auto pm_block = [&](Child& probe, int n, std::vector<double>* samples) {
    std::istringstream in(ask(probe, "rtt " + std::to_string(n) + " 64", "rtt "));
    for (double us; in >> us;) {
      if (samples) samples->push_back(us);
    }
  };
  auto raw_block = [&](int n, std::vector<double>* samples) {
    for (int i = 0; i < n; ++i) {
      const double us = RawRoundTrip(dealer, payload);
      if (samples) samples->push_back(us);
    }
  };
  pm_block(*on.probe, warmup, nullptr);
  pm_block(*off.probe, warmup, nullptr);
  raw_block(warmup, nullptr);
  const auto on_before = stats(*on.probe), off_before = stats(*off.probe);
  std::vector<double> rtt_on, rtt_off, rtt_raw;
  for (int r = 0; r < rounds; ++r) {
    // on, off, raw; then off, on, raw: neither always follows the other.
    Child& first = r % 2 == 0 ? *on.probe : *off.probe;
    Child& second = r % 2 == 0 ? *off.probe : *on.probe;
    pm_block(first, block, &first == on.probe.get() ? &rtt_on : &rtt_off);
    pm_block(second, block, &second == on.probe.get() ? &rtt_on : &rtt_off);
    raw_block(block, &rtt_raw);
  }
  const auto on_after = stats(*on.probe), off_after = stats(*off.probe);
  const size_t expected = static_cast<size_t>(rounds * block);
  auto on_off_row = [&](const std::string& name, double on_value, double off_value,
                        const std::string& on_text, const std::string& off_text, Better better,
                        double target, bool complete) {
    Row row;
    row.name = name;
    row.pm = on_value;
    row.raw = off_value;
    row.pm_text = "on " + on_text;
    row.raw_text = "off " + off_text;
    row.better = better;
    row.target = target;
    row.invalid = !complete;
    Add(row);
  };
  const bool rtt_complete = rtt_on.size() == expected && rtt_off.size() == expected;
  for (double percent : {50.0, 99.0}) {
    const std::string p = percent == 50 ? "p50" : "p99";
    const double a = Percentile(rtt_on, percent), b = Percentile(rtt_off, percent);
    on_off_row("resume on vs off: round trip 64 B tcp " + p, a, b, WithUnit(a, "us"),
               WithUnit(b, "us"), Better::kLower, 1.05, rtt_complete);
  }
  LatencyRow("  resume on: round trip 64 B tcp p50 (vs raw)", rtt_on, rtt_raw, 50, 0);
  LatencyRow("  resume off: round trip 64 B tcp p50 (vs raw)", rtt_off, rtt_raw, 50, 0);
  // What the wire carried, to show each side did what it says: a REQUEST of a
  // resumable session carries `seq` and `ack` (PeerInfo::bytes_out counts envelopes).
  auto per_request = [](const std::array<uint64_t, 3>& a, const std::array<uint64_t, 3>& b) {
    const uint64_t out = b[0] - a[0];
    return out == 0 ? 0.0 : static_cast<double>(b[1] - a[1]) / static_cast<double>(out);
  };
  // Sorted ratios as "lowest-highest".
  auto range = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? std::string("-") : Fmt(v.front()) + "x-" + Fmt(v.back()) + "x";
  };
  std::vector<double> rtt_paired;
  for (size_t r = 0; r < rtt_on.size() / static_cast<size_t>(block); ++r) {
    const auto slice = [&](const std::vector<double>& v) {
      return std::vector<double>(v.begin() + static_cast<long>(r) * block,
                                 v.begin() + static_cast<long>(r + 1) * block);
    };
    rtt_paired.push_back(Median(slice(rtt_on)) / Median(slice(rtt_off)));
  }
  Note("resume round trip: p50 on/off of each round's two blocks of " + std::to_string(block) +
       ": median " + Fmt(Median(rtt_paired)) + "x (" + range(rtt_paired) + ")");
  Note("resume round trip: " + Fmt(per_request(on_before, on_after)) +
       " bytes per message sent with resume on, " + Fmt(per_request(off_before, off_after)) +
       " with it off (" + std::to_string(rtt_on.size()) + " and " + std::to_string(rtt_off.size()) +
       " round trips)");

  // One-way DATA, 64 B: Send() in a loop, delivered / (first send ... count answered).
  // Many short runs rather than a few long ones: on this VM a run's rate moves by 2x
  // with where the scheduler puts five busy threads on two cores, and each pair of
  // adjacent runs (on, off) gives a ratio of its own (see the note).
  const uint64_t n = s_.quick ? 50000 : 100000;
  const int reps = s_.quick ? 3 : 15;
  // What one side's runs cost: PINGs the sender received (acknowledgements), and the
  // CPU (utime + stime) of the sending and the receiving process.
  struct Tally {
    uint64_t acks = 0;
    double sender_cpu = 0;
    double receiver_cpu = 0;
  };
  auto pm_send = [&](Side& side, uint64_t count, Tally* tally) {
    const double sender0 = CpuSeconds(side.probe->pid());
    const double receiver0 = CpuSeconds(side.sink->pid());
    std::istringstream in(ask(*side.probe, "send " + std::to_string(count) + " 64", "send "));
    double rate = 0;
    uint64_t delivered = 0, received = 0;
    in >> rate >> delivered >> received;
    if (delivered != count) {
      throw std::runtime_error("pm-probe delivered " + std::to_string(delivered) + " of " +
                               std::to_string(count));
    }
    if (tally) {
      // Received meanwhile: the two count REPLYs, and PINGs (acknowledgements).
      tally->acks += received >= 2 ? received - 2 : 0;
      tally->sender_cpu += CpuSeconds(side.probe->pid()) - sender0;
      tally->receiver_cpu += CpuSeconds(side.sink->pid()) - receiver0;
    }
    return rate;
  };
  auto raw_send = [&](uint64_t count) {
    const uint64_t before = RawCount(sink_dealer);
    const auto t0 = SteadyClock::now();
    for (uint64_t i = 0; i < count; ++i) {
      sink_dealer.send(zmq::message_t(payload.data(), payload.size()), zmq::send_flags::none);
    }
    const uint64_t delivered = RawCount(sink_dealer) - before;
    const auto t1 = SteadyClock::now();
    return static_cast<double>(delivered) / std::chrono::duration<double>(t1 - t0).count();
  };
  pm_send(on, n / 10, nullptr);  // warm-up
  pm_send(off, n / 10, nullptr);
  raw_send(n / 10);
  std::vector<double> data_on, data_off, data_raw;
  Tally tally_on, tally_off;
  for (int r = 0; r < reps; ++r) {
    if (r % 2 == 0) {
      data_on.push_back(pm_send(on, n, &tally_on));
      data_off.push_back(pm_send(off, n, &tally_off));
    } else {
      data_off.push_back(pm_send(off, n, &tally_off));
      data_on.push_back(pm_send(on, n, &tally_on));
    }
    data_raw.push_back(raw_send(n));
  }
  const double mb = 64 / 1e6;
  auto rate_text = [&](double rate) {
    return Rate(rate) + "msg/s, " + WithUnit(rate * mb, "MB/s");
  };
  const double on_rate = Median(data_on), off_rate = Median(data_off), raw_rate = Median(data_raw);
  on_off_row("resume on vs off: DATA one-way 64 B tcp, Send() in a loop", on_rate, off_rate,
             rate_text(on_rate), rate_text(off_rate), Better::kHigher, 0.95, true);
  for (const auto& [label, rate] :
       {std::pair<const char*, double>{"  resume on: DATA one-way 64 B tcp (vs raw)", on_rate},
        std::pair<const char*, double>{"  resume off: DATA one-way 64 B tcp (vs raw)", off_rate}}) {
    Row row;
    row.name = label;
    row.pm = rate;
    row.raw = raw_rate;
    row.pm_text = rate_text(rate);
    row.raw_text = rate_text(raw_rate);
    Add(row);
  }
  // Where a message's time goes: with every thread busy on two cores, the rate is
  // about the cores over the CPU a message costs in all threads of both processes.
  const double sent = static_cast<double>(n) * reps;
  for (const auto& [label, on_s, off_s] :
       {std::tuple<const char*, double, double>{
            "  resume on vs off: sending process CPU per DATA (pm-probe)", tally_on.sender_cpu,
            tally_off.sender_cpu},
        std::tuple<const char*, double, double>{
            "  resume on vs off: receiving process CPU per DATA (pm-server)", tally_on.receiver_cpu,
            tally_off.receiver_cpu}}) {
    const double a = on_s / sent * 1e6, b = off_s / sent * 1e6;
    on_off_row(label, a, b, WithUnit(a, "us"), WithUnit(b, "us"), Better::kInfo, 0, true);
  }
  auto spread = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? std::string("-") : Fmt(v.front() / 1e6) + "-" + Fmt(v.back() / 1e6) + " M";
  };
  // The ratio of each pair of adjacent runs: slow changes in the background load,
  // which move both runs of a pair alike, cancel out.
  std::vector<double> paired;
  for (size_t i = 0; i < data_on.size() && i < data_off.size(); ++i) {
    paired.push_back(data_on[i] / data_off[i]);
  }
  Note("resume DATA: " + std::to_string(reps) + " runs of " + std::to_string(n) + " each; on " +
       spread(data_on) + " msg/s, off " + spread(data_off) + " msg/s, raw " + spread(data_raw) +
       " msg/s; on/off of adjacent runs: median " + Fmt(Median(paired)) + "x (" + range(paired) +
       "); the sender received " + Fmt(static_cast<double>(tally_on.acks) / sent * 10000) +
       " PINGs per 10,000 DATA with resume on (acknowledgements), " +
       Fmt(static_cast<double>(tally_off.acks) / sent * 10000) + " with it off; " +
       (pin ? "senders pinned to CPU " + std::to_string(sender_cpu) + ", receivers to CPU " +
                  std::to_string(receiver_cpu)
            : std::string("not pinned")));
}

// ----------------------------------------------------------------------------
// Cases in files of their own: bulk.cc, parallel.cc
// ----------------------------------------------------------------------------

CaseContext Driver::Context() {
  CaseContext context;
  context.quick = s_.quick;
  context.start_peer = [this](const std::string& role, std::vector<std::string> flags,
                              std::string* endpoint,
                              int cpu) { return StartPeer(role, std::move(flags), endpoint, cpu); };
  context.add = [this](Row row) { Add(std::move(row)); };
  context.note = [this](const std::string& note) { Note(note); };
  context.log = [this](const std::string& role) { return Log(role); };
  context.connect = [this](const std::string& url) { return Connect(url); };
  context.server_bin = s_.server_bin;
  context.mpi_baseline = s_.mpi_baseline;
  return context;
}

void Driver::Bulk() { BulkCase(Context()); }

void Driver::Parallel() { ParallelCase(Context()); }

// ----------------------------------------------------------------------------
// Output
// ----------------------------------------------------------------------------

void Driver::PrintHeader() {
  std::string cpu;
  {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("model name", 0) == 0) {
        cpu = line.substr(line.find(':') + 2);
        break;
      }
    }
  }
  utsname u{};
  uname(&u);
  int major = 0, minor = 0, patch = 0;
  zmq_version(&major, &minor, &patch);
  char date[64];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S %Z", std::localtime(&now));
  double load[3] = {0, 0, 0};
  getloadavg(load, 3);
  std::printf("procmod-bench (%s run): procmod %s vs raw cppzmq %d.%d.%d\n",
              s_.quick ? "quick" : "full", PROCMOD_BENCH_VERSION, CPPZMQ_VERSION_MAJOR,
              CPPZMQ_VERSION_MINOR, CPPZMQ_VERSION_PATCH);
  std::printf("date:    %s\n", date);
  std::printf("machine: nproc %ld, %s, %s %s, load average %.2f %.2f %.2f at start\n",
              sysconf(_SC_NPROCESSORS_ONLN), cpu.c_str(), u.sysname, u.release, load[0], load[1],
              load[2]);
  std::printf("libzmq:  %d.%d.%d\n\n", major, minor, patch);
  std::fflush(stdout);
}

void Driver::PrintTable() {
  struct Cells {
    std::string c[6];
  };
  std::vector<Cells> lines;
  lines.push_back({{"case", "procmod", "raw", "ratio", "target", "ok?"}});
  int missed = 0;
  for (const Row& row : rows_) {
    Cells cells;
    cells.c[0] = row.name;
    if (!row.skipped.empty()) {
      cells.c[1] = "skipped";
      cells.c[2] = "-";
      cells.c[3] = "-";
      cells.c[4] = "-";
      cells.c[5] = "skip: " + row.skipped;
      lines.push_back(cells);
      continue;
    }
    cells.c[1] = row.pm_text;
    cells.c[2] = row.raw_text;
    const double ratio = row.raw != 0 ? row.pm / row.raw : 0;
    cells.c[3] = row.raw != 0 ? Fmt(ratio) + "x" : "-";
    switch (row.better) {
      case Better::kLower: {
        cells.c[4] = "<= " + Fmt(row.target) + "x";
        const bool ok = !row.invalid && row.raw != 0 && ratio <= row.target;
        cells.c[5] = ok ? "yes" : "MISSED";
        missed += ok ? 0 : 1;
        break;
      }
      case Better::kHigher: {
        cells.c[4] = ">= " + Fmt(row.target) + "x";
        const bool ok = !row.invalid && row.raw != 0 && ratio >= row.target;
        cells.c[5] = ok ? "yes" : "MISSED";
        missed += ok ? 0 : 1;
        break;
      }
      case Better::kInfo:
        cells.c[4] = "-";
        cells.c[5] = "info";
        break;
    }
    lines.push_back(cells);
  }
  size_t width[6] = {0, 0, 0, 0, 0, 0};
  for (const Cells& cells : lines) {
    for (int i = 0; i < 6; ++i) width[i] = std::max(width[i], cells.c[i].size());
  }
  auto print = [&](const Cells& cells) {
    std::string out = "|";
    for (int i = 0; i < 6; ++i) {
      out += " " + cells.c[i] + std::string(width[i] - cells.c[i].size(), ' ') + " |";
    }
    std::printf("%s\n", out.c_str());
  };
  print(lines[0]);
  std::string rule = "|";
  for (int i = 0; i < 6; ++i) rule += std::string(width[i] + 2, '-') + "|";
  std::printf("%s\n", rule.c_str());
  for (size_t i = 1; i < lines.size(); ++i) print(lines[i]);
  std::printf("\n%d target(s) missed.\n", missed);
  if (!notes_.empty()) {
    std::printf("\nNotes:\n");
    for (const std::string& note : notes_) std::printf("- %s\n", note.c_str());
  }
  std::fflush(stdout);
}

int Driver::Run() {
  PrintHeader();
  (void)ConfigureLogging(LogOptions{"warn", "text"});
  Options options;
  options.name = "procmod-bench";
  options.role = Role::kClient;
  options.multiple_connections = true;
  options.timeouts.connect = std::chrono::seconds(10);
  Result<ProcessModule*> module = ProcessModule::Initialize(options);
  if (!module.ok()) {
    std::fprintf(stderr, "procmod-bench: %s\n", module.status().ToString().c_str());
    return 1;
  }
  module_ = *module;
  placement_ = PlanPlacement();
  module_->OnDisconnected([this](const Connection& peer, DisconnectReason reason) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      gone_[peer.session()] = {MonotonicNs(), reason};
    }
    cv_.notify_all();
  });
  if (Status s = module_->Start(); !s.ok()) {
    std::fprintf(stderr, "procmod-bench: %s\n", s.ToString().c_str());
    return 1;
  }

  struct Case {
    const char* name;
    void (Driver::*run)();
  };
  const Case cases[] = {{"rtt", &Driver::RoundTrip},      {"data", &Driver::Throughput},
                        {"resume", &Driver::Resume},      {"broker", &Driver::Broker},
                        {"setup", &Driver::SessionSetup}, {"setup", &Driver::AdmissionRate},
                        {"scale", &Driver::Scale},        {"expiry", &Driver::Expiry},
                        {"bulk", &Driver::Bulk},          {"parallel", &Driver::Parallel}};
  int failed = 0;
  for (const Case& c : cases) {
    if (!Wanted(c.name)) continue;
    const auto t0 = SteadyClock::now();
    std::fprintf(stderr, "procmod-bench: case %s ...\n", c.name);
    try {
      (this->*c.run)();
    } catch (const std::exception& e) {
      ++failed;
      Row row;
      row.name = std::string("case ") + c.name;
      row.skipped = std::string("FAILED: ") + e.what();
      Add(row);
    }
    std::fprintf(stderr, "procmod-bench: case %s took %.1f s\n", c.name,
                 std::chrono::duration<double>(SteadyClock::now() - t0).count());
  }
  PrintTable();
  ProcessModule::Finalize();
  return failed == 0 ? 0 : 1;
}

}  // namespace

int RunDriver(const std::vector<std::string>& args) {
  signal(SIGPIPE, SIG_IGN);  // a child that died must not take the driver with it
  Settings settings;
  std::unique_ptr<TempDir> own_tmp;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= args.size()) throw std::runtime_error(a + " needs a value");
      return args[++i];
    };
    if (a == "--quick") {
      settings.quick = true;
    } else if (a == "--server") {
      settings.server_bin = value();
    } else if (a == "--broker") {
      settings.broker_bin = value();
    } else if (a == "--mpi-baseline") {
      settings.mpi_baseline = value();
    } else if (a == "--tmp") {
      settings.tmp = value();
    } else if (a == "--only") {
      std::stringstream list(value());
      std::string name;
      while (std::getline(list, name, ',')) settings.only.insert(name);
    } else {
      throw std::runtime_error("unknown flag " + a);
    }
  }
  if (settings.server_bin.empty()) throw std::runtime_error("--server PATH is required");
  if (settings.mpi_baseline.empty()) {
    // Built next to procmod-bench when PROCMOD_MPI is on; the parallel case skips
    // its rows when it is not there.
    settings.mpi_baseline =
        std::filesystem::path(SelfExe()).parent_path().append("procmod-bench-mpi").string();
  }
  if (settings.tmp.empty()) {
    own_tmp = std::make_unique<TempDir>("procmod-bench");
    settings.tmp = own_tmp->path();
  }
  Driver driver(std::move(settings));
  return driver.Run();
}

}  // namespace procmod::bench
