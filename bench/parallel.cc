// The parallel case: the round trip of a parallel request to procmod-server under
// mpiexec on 1, 2 and 4 ranks (docs/BENCHMARKS.md, "parallel").
//
// A REQUEST parallel.echo of one P-byte frame goes from the driver's client module to
// rank 0, which broadcasts it to every rank over MPI, gathers every rank's copy back
// and answers one REPLY of N copies. It cannot be faster than its two parts done by
// hand: a direct round trip to rank 0 with the same bytes (REQUEST ping, answered by
// rank 0 alone, on the same server and connection) and a plain MPI_Bcast +
// MPI_Gather of P bytes among N ranks (procmod-bench-mpi under the same mpiexec, in
// the same run). The row's raw column is their sum, and the target bounds what the
// parallel server adds to it (its MPI thread, the command's framing, polling
// instead of blocking in MPI, the reduction into one REPLY).
#include "parallel.h"

#include <signal.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace procmod::bench {
namespace {

constexpr double kTarget = 1.3;
constexpr std::array<int, 3> kRanks = {1, 2, 4};
// Four oversubscribed ranks start in a few seconds on a loaded VM; give them room.
constexpr milliseconds kStartTimeout{30000};
// A job that was told to end (BYE, or SIGTERM) is gone in about 4 s (SERVER.md).
constexpr milliseconds kJobEnds{10000};
constexpr milliseconds kBaselineTimeout{120000};
constexpr milliseconds kRequestTimeout{10000};

struct Size {
  size_t bytes;
  const char* label;
};
constexpr std::array<Size, 2> kSizes = {{{64, "64 B"}, {64 * 1024, "64 KiB"}}};

// How many round trips: the procmod side in alternating blocks, the baseline in one
// run of as many.
struct Counts {
  int warmup;
  int rounds;
  int block;
  int total() const { return rounds * block; }
};

Counts CountsFor(bool quick) { return quick ? Counts{50, 4, 50} : Counts{300, 10, 200}; }

// mpiexec as CMake found it (MPIEXEC_EXECUTABLE) or on PATH; "" when neither.
std::string FindMpiexec() {
#ifdef PROCMOD_BENCH_MPIEXEC
  if (access(PROCMOD_BENCH_MPIEXEC, X_OK) == 0) return PROCMOD_BENCH_MPIEXEC;
#endif
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const std::string candidate = (dir.empty() ? "." : dir) + "/mpiexec";
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

// PROCMOD_BENCH_MPIEXEC_ARGS: more flags for every mpiexec of the case, split at
// spaces (e.g. "--bind-to none": Open MPI binds each of 1 or 2 ranks to a core of
// its own by default, all of rank 0's threads with it).
std::vector<std::string> ExtraMpiexecArgs() {
  const char* env = std::getenv("PROCMOD_BENCH_MPIEXEC_ARGS");
  std::istringstream in(env ? env : "");
  std::vector<std::string> out;
  for (std::string word; in >> word;) out.push_back(word);
  return out;
}

// `program` under `mpiexec -n ranks --oversubscribe` (the machine may have fewer
// cores than ranks). The variables go through env(1) rather than setenv: the driver
// has threads, and setenv is not safe beside them.
std::vector<std::string> UnderMpiexec(const std::string& mpiexec, int ranks,
                                      const std::vector<std::string>& program) {
  std::vector<std::string> argv = {
      "/usr/bin/env",
      // Open MPI refuses to run as root unless told (containers and CI run as root).
      "OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1",
      // Containers often forbid the cross-memory attach Open MPI copies large
      // messages with; plain copies through shared memory always work.
      "OMPI_MCA_btl_vader_single_copy_mechanism=none", mpiexec, "-n", std::to_string(ranks),
      "--oversubscribe"};
  const std::vector<std::string> extra = ExtraMpiexecArgs();
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.insert(argv.end(), program.begin(), program.end());
  return argv;
}

std::string ExeOf(pid_t pid) {
  std::error_code ec;
  return std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec).string();
}

// mpiexec and the ranks it started. The destructor ends the job whatever happened,
// so no rank outlives the case.
class MpiJob {
 public:
  MpiJob(std::vector<std::string> argv, const std::string& log)
      : child_(std::make_unique<Child>(std::move(argv), log)) {}
  ~MpiJob() { End(milliseconds(0)); }
  MpiJob(const MpiJob&) = delete;
  MpiJob& operator=(const MpiJob&) = delete;

  Child& child() { return *child_; }

  // The ranks as mpiexec's children (Open MPI starts the ranks on its own host
  // itself), remembered so that End can still find them after mpiexec is gone.
  const std::vector<std::pair<pid_t, std::string>>& Ranks() {
    std::error_code ec;
    const std::string tasks = "/proc/" + std::to_string(child_->pid()) + "/task";
    for (const auto& task : std::filesystem::directory_iterator(tasks, ec)) {
      std::ifstream in(task.path() / "children");
      for (pid_t pid = 0; in >> pid;) {
        if (!Known(pid)) ranks_.emplace_back(pid, ExeOf(pid));
      }
    }
    return ranks_;
  }

  // Ends the job: on its own within `grace` (a server whose client said BYE, a
  // baseline that is done), else SIGTERM to mpiexec, which passes it to every rank,
  // else SIGKILL. mpiexec reaps its ranks when it exits; only when it was killed may
  // ranks be left, and those still running the same program are killed by pid (not
  // one that merely got a rank's pid since). Says how the job ended.
  std::string End(milliseconds grace) {
    if (!ended_.empty()) return ended_;
    if (child_->running()) Ranks();
    if (std::optional<int> status = child_->Wait(grace)) {
      return ended_ = "exited " + std::to_string(*status);
    }
    child_->Signal(SIGTERM);
    if (std::optional<int> status = child_->Wait(kJobEnds)) {
      return ended_ = "ended by SIGTERM (exit " + std::to_string(*status) + ")";
    }
    child_->Kill();
    for (const auto& [pid, exe] : ranks_) {
      if (!exe.empty() && ExeOf(pid) == exe) kill(pid, SIGKILL);
    }
    return ended_ = "killed";
  }

 private:
  bool Known(pid_t pid) const {
    for (const auto& rank : ranks_) {
      if (rank.first == pid) return true;
    }
    return false;
  }

  std::unique_ptr<Child> child_;
  std::vector<std::pair<pid_t, std::string>> ranks_;
  std::string ended_;
};

// One REQUEST `method` with `payload` as its one frame; the round trip in µs. Throws
// unless the REPLY holds `copies` frames of the payload's size.
double RoundTrip(const Connection& c, const std::string& method, const std::string& payload,
                 size_t copies) {
  Frames frames;
  frames.emplace_back(payload.data(), payload.size());
  const auto t0 = SteadyClock::now();
  Result<Reply> reply = c.Request(method, std::move(frames), kRequestTimeout).get();
  const auto t1 = SteadyClock::now();
  if (!reply.ok()) throw std::runtime_error(method + " failed: " + reply.status().ToString());
  if (reply->payload.size() != copies) {
    throw std::runtime_error(method + " answered " + std::to_string(reply->payload.size()) +
                             " frames, not " + std::to_string(copies));
  }
  for (const zmq::message_t& frame : reply->payload) {
    if (frame.size() != payload.size())
      throw std::runtime_error(method + ": a frame's size differs");
  }
  return std::chrono::duration<double, std::micro>(t1 - t0).count();
}

// One path's round trips and the CPU every rank spent on them.
struct Path {
  std::vector<double> samples;
  int64_t rank_cpu_ns = 0;
  double CpuPerRoundTrip() const {
    return samples.empty() ? 0 : static_cast<double>(rank_cpu_ns) / 1e3 / samples.size();
  }
};

int64_t RanksCpuNs(const std::vector<std::pair<pid_t, std::string>>& ranks) {
  int64_t total = 0;
  for (const auto& rank : ranks) total += ThreadCpuNs(rank.first);
  return total;
}

// Parallel and direct round trips in alternating blocks (parallel first in even
// rounds, direct first in odd ones), so both see the same background load and
// neither always follows the other: after a parallel request, ranks > 0 spin for
// 2 ms before they nap (mpi_world.h), and the first direct round trips pay for that.
std::pair<Path, Path> TimeBoth(const Connection& c, int ranks, size_t bytes, const Counts& counts,
                               const std::vector<std::pair<pid_t, std::string>>& rank_pids) {
  const std::string payload(bytes, 'x');
  const size_t copies = static_cast<size_t>(ranks);
  auto parallel = [&] { return RoundTrip(c, "parallel.echo", payload, copies); };
  auto direct = [&] { return RoundTrip(c, "ping", payload, 1); };
  for (int i = 0; i < counts.warmup; ++i) {
    parallel();
    direct();
  }
  Path timed[2];
  for (int r = 0; r < counts.rounds; ++r) {
    for (int k = 0; k < 2; ++k) {
      const int which = r % 2 == 0 ? k : 1 - k;
      const int64_t cpu0 = RanksCpuNs(rank_pids);
      for (int i = 0; i < counts.block; ++i) {
        timed[which].samples.push_back(which == 0 ? parallel() : direct());
      }
      timed[which].rank_cpu_ns += RanksCpuNs(rank_pids) - cpu0;
    }
  }
  return {std::move(timed[0]), std::move(timed[1])};
}

struct Baseline {
  double p50 = 0;
  double p99 = 0;
};

// "key=value ..." of procmod-bench-mpi's line.
std::map<std::string, std::string> KeyValues(const std::string& line) {
  std::map<std::string, std::string> out;
  std::istringstream in(line);
  for (std::string word; in >> word;) {
    if (const size_t eq = word.find('='); eq != std::string::npos) {
      out[word.substr(0, eq)] = word.substr(eq + 1);
    }
  }
  return out;
}

// procmod-bench-mpi under mpiexec: P bytes broadcast and gathered `counts.total()`
// times among `ranks` ranks, blocking in MPI or (`poll`) polling as the server does.
Baseline RunBaseline(const CaseContext& context, const std::string& mpiexec, int ranks,
                     size_t bytes, const Counts& counts, bool poll, std::string* ended) {
  const std::string log = context.log("procmod-bench-mpi");
  MpiJob job(
      UnderMpiexec(mpiexec, ranks,
                   {context.mpi_baseline, std::to_string(bytes), std::to_string(counts.total()),
                    std::to_string(counts.warmup), poll ? "poll" : "block"}),
      log);
  std::optional<std::string> line =
      job.child().WaitForLine("procmod-bench-mpi: ", kBaselineTimeout);
  *ended = job.End(kJobEnds);
  if (!line)
    throw std::runtime_error("procmod-bench-mpi printed no figures (" + *ended + "); see " + log);
  const auto values = KeyValues(*line);
  if (!values.contains("p50_us") || !values.contains("p99_us") ||
      values.at("ranks") != std::to_string(ranks)) {
    throw std::runtime_error("procmod-bench-mpi printed '" + *line + "'");
  }
  if (*ended != "exited 0")
    throw std::runtime_error("procmod-bench-mpi " + *ended + "; see " + log);
  return {std::stod(values.at("p50_us")), std::stod(values.at("p99_us"))};
}

// What one rank count measured at one size.
struct Measured {
  Path parallel;
  Path direct;
  Baseline mpi;
  Baseline mpi_polled;  // waiting as the server's ranks do: not in the target
};

std::string Us(double value) { return Fmt(value) + " us"; }

void AddRows(const CaseContext& context, int ranks, const Size& size, const Measured& m) {
  const std::string label = "parallel rtt " + std::to_string(ranks) + " ranks " + size.label;
  for (const double percent : {50.0, 99.0}) {
    const double direct = Percentile(m.direct.samples, percent);
    const double mpi = percent == 50 ? m.mpi.p50 : m.mpi.p99;
    Row row;
    row.name = percent == 50 ? label : "  " + label + " p99";
    row.pm = Percentile(m.parallel.samples, percent);
    row.raw = mpi + direct;
    row.pm_text = Us(row.pm);
    row.raw_text = Us(row.raw) + " (MPI " + Fmt(mpi) + " + ping " + Fmt(direct) + ")";
    row.better = percent == 50 ? Better::kLower : Better::kInfo;
    row.target = percent == 50 ? kTarget : 0;
    context.add(row);
  }
  // Where a miss goes: what the server's way of waiting costs MPI alone, and the CPU
  // all ranks spent per round trip, parallel against ping.
  Row polled;
  polled.name = "  " + label + ": MPI alone p50, polled as the server waits / blocking";
  polled.pm = m.mpi_polled.p50;
  polled.raw = m.mpi.p50;
  polled.pm_text = Us(polled.pm);
  polled.raw_text = Us(polled.raw);
  context.add(polled);
  Row cpu;
  cpu.name = "  " + label + ": CPU of all ranks per round trip (parallel.echo / ping)";
  cpu.pm = m.parallel.CpuPerRoundTrip();
  cpu.raw = m.direct.CpuPerRoundTrip();
  cpu.pm_text = Us(cpu.pm) + " CPU";
  cpu.raw_text = Us(cpu.raw) + " CPU";
  context.add(cpu);
}

// The first token after "ready on ", and the rank count the line ends with (1 when
// it names none).
std::pair<std::string, int> ParseReady(const std::string& rest) {
  std::istringstream in(rest);
  std::string endpoint;
  in >> endpoint;
  int ranks = 1;
  if (const size_t at = rest.find("(ranks: "); at != std::string::npos) {
    ranks = std::atoi(rest.c_str() + at + 8);
  }
  return {endpoint, ranks};
}

// The procmod side for `ranks`: a server under mpiexec, both sizes timed, then the
// client's BYE, which ends the job. Says how the job ended in `ended`.
std::vector<std::pair<Path, Path>> TimeServer(const CaseContext& context,
                                              const std::string& mpiexec, int ranks,
                                              const Counts& counts, std::string* ended) {
  const std::string log = context.log("procmod-server-mpi");
  MpiJob job(UnderMpiexec(mpiexec, ranks, {context.server_bin, "--port", "0", "--admin", "none"}),
             log);
  std::optional<std::string> ready =
      job.child().WaitForLine("procmod-server: ready on ", kStartTimeout);
  if (!ready) {
    throw std::runtime_error("procmod-server under mpiexec -n " + std::to_string(ranks) +
                             " did not start (" + job.End(milliseconds(0)) + "); see " + log);
  }
  const auto [endpoint, announced] = ParseReady(*ready);
  const auto rank_pids = job.Ranks();
  if (announced != ranks || rank_pids.size() != static_cast<size_t>(ranks)) {
    throw std::runtime_error("procmod-server: " + *ready + ", with " +
                             std::to_string(rank_pids.size()) + " rank processes; not " +
                             std::to_string(ranks));
  }
  std::vector<std::pair<Path, Path>> out;
  {
    Connection c = context.connect(endpoint);
    for (const Size& size : kSizes) {
      out.push_back(TimeBoth(c, ranks, size.bytes, counts, rank_pids));
    }
    (void)c.Close();  // the job exits when its one client goes
  }
  *ended = job.End(kJobEnds);
  return out;
}

}  // namespace

void ParallelCase(const CaseContext& context) {
  const std::string mpiexec = FindMpiexec();
  std::string missing;
  if (access(context.mpi_baseline.c_str(), X_OK) != 0) {
    missing = "procmod-bench-mpi not built (PROCMOD_MPI off?): " + context.mpi_baseline;
  } else if (mpiexec.empty()) {
    missing = "no mpiexec (MPIEXEC_EXECUTABLE at build time, or on PATH)";
  }
  if (!missing.empty()) {
    Row row;
    row.name = "parallel rtt 1, 2, 4 ranks";
    row.skipped = missing;
    context.add(row);
    return;
  }
  const Counts counts = CountsFor(context.quick);
  const size_t cpus = UsableCpus().size();
  int failed = 0;
  std::string endings;
  for (const int ranks : kRanks) {
    // A rank count that fails (a job that does not start, a request that errs) leaves
    // the others' rows.
    try {
      std::string server_ended;
      const auto timed = TimeServer(context, mpiexec, ranks, counts, &server_ended);
      std::string baseline_ended;
      for (size_t s = 0; s < kSizes.size(); ++s) {
        const Size& size = kSizes[s];
        const Baseline mpi =
            RunBaseline(context, mpiexec, ranks, size.bytes, counts, false, &baseline_ended);
        const Baseline polled =
            RunBaseline(context, mpiexec, ranks, size.bytes, counts, true, &baseline_ended);
        AddRows(context, ranks, size, {timed[s].first, timed[s].second, mpi, polled});
      }
      endings += std::string(endings.empty() ? "" : "; ") + std::to_string(ranks) +
                 " ranks: server job " + server_ended + " after BYE";
    } catch (const std::exception& e) {
      ++failed;
      Row row;
      row.name = "parallel rtt " + std::to_string(ranks) + " ranks";
      row.skipped = std::string("FAILED: ") + e.what();
      context.add(row);
    }
  }
  context.note(
      "parallel: raw = p50 (p99) of plain MPI_Bcast + MPI_Gather of the bytes "
      "(procmod-bench-mpi, run after the server's job ended) + p50 (p99) of REQUEST "
      "ping to rank 0 of the same server; procmod and ping in alternating blocks of " +
      std::to_string(counts.block) + ", " + std::to_string(counts.rounds) + " rounds after " +
      std::to_string(counts.warmup) + " of each, the baseline " + std::to_string(counts.total()) +
      " after " + std::to_string(counts.warmup) + "; " + std::to_string(cpus) +
      " usable CPUs, so " +
      (cpus < 4 ? "4 ranks are oversubscribed" : std::string("no rank count is oversubscribed")) +
      "; not pinned; " + endings);
  if (failed > 0) {
    throw std::runtime_error(std::to_string(failed) + " rank count(s) failed: see their rows");
  }
}

}  // namespace procmod::bench
