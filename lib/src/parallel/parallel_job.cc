// ParallelJob (procmod/parallel.h): rank 0's job thread, which runs each parallel
// request on every rank and answers it, and the loop of ranks > 0, which serve
// what rank 0 broadcasts. mpi_world.cc moves the bytes; rank_wire.cc encodes them.
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include <spdlog/spdlog.h>

#include "parallel/mpi_world.h"
#include "parallel/rank_wire.h"
#include "procmod/parallel.h"

namespace procmod {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// How long ranks > 0 wait for rank 0's last word once they were signalled.
constexpr milliseconds kStopGrace{5000};
// A rank is lost after interval x liveness of silence, but never sooner than this:
// a heartbeat thread on a loaded machine with more ranks than cores (mpiexec
// --oversubscribe) can be late by a good part of a second.
constexpr milliseconds kMinLostAfter{3000};
// How often rank 0 reads heartbeats while it waits.
constexpr milliseconds kWatchEvery{50};

std::atomic<bool> joined{false};  // rule S1's twin: one job per process

Reply Error(uint32_t code, std::string message) { return Reply{code, std::move(message), {}, {}}; }

std::string Describe(const RankInfo& rank) {
  return "rank " + std::to_string(rank.rank) + " (" + rank.host + ", pid " +
         std::to_string(rank.pid) + ")";
}

}  // namespace

int RanksFromLauncher() {
  // Open MPI's mpiexec, then PMIx and PMI launchers (srun, MPICH's hydra).
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE"}) {
    if (const char* value = std::getenv(name); value && std::atoi(value) > 0) {
      return std::atoi(value);
    }
  }
  return 0;
}

struct ParallelJob::Impl {
  struct Method {
    RankHandler handler;
    Reducer reducer;
  };
  // A request waiting for the job thread (rank 0).
  struct Pending {
    std::string method;
    std::string args;
    Frames payload;
    DeferredReply reply;
  };

  ParallelSettings settings;
  std::unique_ptr<MpiWorld> world;  // null for a job of one rank started alone
  int rank = 0;
  int size = 1;
  std::vector<RankInfo> ranks;
  std::map<std::string, Method> methods;  // fixed once Attach / ServeWorker runs

  // Rank 0.
  std::mutex mu;
  std::condition_variable wake;
  std::deque<Pending> queue;             // guarded by mu
  std::string closing_why;               // guarded by mu
  std::atomic<bool> closing{false};      // read by waits without the lock
  RankLostCallback on_lost;              // guarded by mu
  std::optional<DeferredReply> running;  // the request on every rank now; guarded by mu
  std::thread job_thread;
  bool job_thread_done = false;  // guarded by mu
  // A rank is lost, or a collective was left half done: Finish() aborts the job.
  std::atomic<bool> broken{false};
  std::string lost_why;                  // guarded by mu
  bool lost_to_report = false;           // job thread only: on_lost not called yet
  int lost_rank = 0;                     // job thread only
  std::vector<Clock::time_point> heard;  // job thread only: each rank's last heartbeat
  Clock::time_point last_watch;          // job thread only

  // Ranks > 0.
  std::atomic<int64_t> stop_requested_at{0};  // Clock ticks; 0: not asked
  std::mutex heartbeat_mu;
  std::condition_variable heartbeat_wake;
  bool heartbeat_stop = false;  // guarded by heartbeat_mu
  std::thread heartbeat_thread;
  bool worker_clean = true;

  Reply RunHere(const std::string& method, const std::string& args, Frames payload);
  Reply RunEverywhere(Pending& request);
  void JobLoop();
  void ReportLoss();
  std::string LostWhy();
  Status Watch();
  Status WorkerKeepWaiting() const;
  void StartHeartbeats();
  void StopHeartbeats();
};

Reply ParallelJob::Impl::RunHere(const std::string& method, const std::string& args,
                                 Frames payload) {
  auto it = methods.find(method);
  if (it == methods.end()) {
    return Error(404, "rank " + std::to_string(rank) + " has no parallel method '" + method + "'");
  }
  RankRequest request{method, args, std::move(payload), rank, size};
  try {
    return it->second.handler(request);
  } catch (const std::exception& e) {
    return Error(500, "handler for '" + method + "' failed on rank " + std::to_string(rank) + ": " +
                          e.what());
  } catch (...) {
    return Error(500, "handler for '" + method + "' failed on rank " + std::to_string(rank));
  }
}

Reply ParallelJob::Impl::RunEverywhere(Pending& request) {
  std::vector<Reply> answers;
  if (!world || size == 1) {
    answers.push_back(RunHere(request.method, request.args, std::move(request.payload)));
  } else {
    RankCommand command{RankCommand::kRequest, 0, request.method, request.args,
                        std::move(request.payload)};
    auto keep = [this] { return Watch(); };
    Result<std::string> sent = world->Broadcast(EncodeCommand(command), keep);
    if (!sent.ok()) {
      broken = true;
      return Error(503, "parallel request abandoned: " + std::string(sent.status().message()));
    }
    Reply mine = RunHere(command.method, command.args, std::move(command.payload));
    Result<std::vector<std::string>> gathered = world->Gather(EncodeAnswer(mine), keep);
    if (!gathered.ok()) {
      broken = true;
      return Error(503, "parallel request abandoned: " + std::string(gathered.status().message()));
    }
    answers.push_back(std::move(mine));
    for (size_t r = 1; r < gathered->size(); ++r) {
      Result<Reply> answer = DecodeAnswer((*gathered)[r]);
      if (!answer.ok())
        return Error(500,
                     "rank " + std::to_string(r) + ": " + std::string(answer.status().message()));
      answers.push_back(std::move(*answer));
    }
  }
  for (size_t r = 0; r < answers.size(); ++r) {
    if (answers[r].code != 0) {
      // Every rank ran; the first failure speaks for the request.
      return Error(answers[r].code, size == 1
                                        ? answers[r].error
                                        : "rank " + std::to_string(r) + ": " + answers[r].error);
    }
  }
  try {
    return methods.at(request.method).reducer(answers);
  } catch (const std::exception& e) {
    return Error(500, "reducer of '" + request.method + "' failed: " + e.what());
  }
}

// Rank 0, between two polls: gives up when shutting down or when a rank's heartbeat
// has been missing for interval x liveness.
Status ParallelJob::Impl::Watch() {
  if (closing.load(std::memory_order_acquire)) {
    std::lock_guard<std::mutex> lock(mu);
    return AbortedError(closing_why);
  }
  if (!world || !world->threads() || size == 1 || broken) return Status();
  const Clock::time_point now = Clock::now();
  if (now - last_watch < kWatchEvery) return Status();
  last_watch = now;
  world->ReceiveHeartbeats([&](int r) {
    if (r > 0 && r < size) heard[static_cast<size_t>(r)] = now;
  });
  const auto allowed =
      std::max<Clock::duration>(settings.interval * settings.liveness, kMinLostAfter);
  for (int r = 1; r < size; ++r) {
    const auto silent = now - heard[static_cast<size_t>(r)];
    if (silent <= allowed) continue;
    const std::string why =
        Describe(ranks[static_cast<size_t>(r)]) + " stopped answering (no heartbeat for " +
        std::to_string(std::chrono::duration_cast<milliseconds>(silent).count()) +
        " ms); the parallel job is ending";
    spdlog::error("procmod: {}", why);
    {
      std::lock_guard<std::mutex> lock(mu);
      lost_why = why;
    }
    broken = true;
    lost_rank = r;
    lost_to_report = true;  // after the request that noticed it is answered
    return UnavailableError(why);
  }
  return Status();
}

void ParallelJob::Impl::JobLoop() {
  for (;;) {
    ReportLoss();
    std::optional<Pending> request;
    {
      std::unique_lock<std::mutex> lock(mu);
      wake.wait_for(lock, kWatchEvery, [this] { return closing.load() || !queue.empty(); });
      if (closing.load()) {
        for (Pending& p : queue) p.reply.Send(Error(503, closing_why));
        queue.clear();
        job_thread_done = true;
        wake.notify_all();
        return;
      }
      if (!queue.empty()) {
        request.emplace(std::move(queue.front()));
        queue.pop_front();
        running.emplace(std::move(request->reply));
      }
    }
    if (!request) {
      (void)Watch();  // idle: the watchdog still listens
      continue;
    }
    Reply reply = broken ? Error(503, LostWhy()) : RunEverywhere(*request);
    std::lock_guard<std::mutex> lock(mu);
    if (running) running->Send(std::move(reply));  // unless Shutdown answered it
    running.reset();
  }
}

std::string ParallelJob::Impl::LostWhy() {
  std::lock_guard<std::mutex> lock(mu);
  return lost_why.empty() ? "the parallel job is ending" : lost_why;
}

// Tells the application of a lost rank once the request that found it is answered,
// so that its answer goes out before whatever the application does (a BYE).
void ParallelJob::Impl::ReportLoss() {
  if (!lost_to_report) return;
  lost_to_report = false;
  RankLostCallback callback;
  {
    std::lock_guard<std::mutex> lock(mu);
    callback = on_lost;
  }
  if (callback) callback(ranks[static_cast<size_t>(lost_rank)], LostWhy());
}

Status ParallelJob::Impl::WorkerKeepWaiting() const {
  const int64_t asked = stop_requested_at.load(std::memory_order_relaxed);
  if (asked != 0 && Clock::now().time_since_epoch().count() - asked >
                        std::chrono::duration_cast<Clock::duration>(kStopGrace).count()) {
    return AbortedError("signalled, and rank 0 did not end the job within 5 s");
  }
  return Status();
}

void ParallelJob::Impl::StartHeartbeats() {
  if (!world || !world->threads()) return;
  // Half the interval, so that rank 0 hears one at least every interval.
  const milliseconds every = std::max(milliseconds(10), settings.interval / 2);
  heartbeat_thread = std::thread([this, every] {
    std::unique_lock<std::mutex> lock(heartbeat_mu);
    while (!heartbeat_stop) {
      world->SendHeartbeat();
      heartbeat_wake.wait_for(lock, every, [this] { return heartbeat_stop; });
    }
  });
}

void ParallelJob::Impl::StopHeartbeats() {
  {
    std::lock_guard<std::mutex> lock(heartbeat_mu);
    heartbeat_stop = true;
  }
  heartbeat_wake.notify_all();
  if (heartbeat_thread.joinable()) heartbeat_thread.join();
}

// ---------------------------------------------------------------------------

ParallelJob::ParallelJob(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ParallelJob::~ParallelJob() {
  if (impl_->job_thread.joinable()) Shutdown("the parallel job ended");
  impl_->StopHeartbeats();
  joined.store(false);
}

bool ParallelJob::Available() { return MpiWorld::Available(); }

Result<std::unique_ptr<ParallelJob>> ParallelJob::Join(int* argc, char*** argv,
                                                       ParallelSettings settings) {
  if (joined.exchange(true)) return FailedPreconditionError("a parallel job was joined already");
  auto impl = std::make_unique<Impl>();
  impl->settings = settings;
  if (RanksFromLauncher() > 0) {
    Result<std::unique_ptr<MpiWorld>> world = MpiWorld::Join(argc, argv);
    if (!world.ok()) {
      joined.store(false);
      return world.status();
    }
    impl->world = std::move(*world);
    impl->rank = impl->world->rank();
    impl->size = impl->world->size();
    Result<std::vector<RankInfo>> ranks = impl->world->GatherRankInfo();
    if (!ranks.ok()) {
      joined.store(false);
      return ranks.status();
    }
    impl->ranks = std::move(*ranks);
    if (!impl->world->threads() && impl->size > 1) {
      spdlog::warn("procmod: MPI gave less than MPI_THREAD_MULTIPLE: no watchdog on the ranks");
    }
  } else {
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    impl->ranks.push_back(RankInfo{0, host, static_cast<int64_t>(getpid())});
  }
  return std::unique_ptr<ParallelJob>(new ParallelJob(std::move(impl)));
}

int ParallelJob::rank() const { return impl_->rank; }
int ParallelJob::size() const { return impl_->size; }
const std::vector<RankInfo>& ParallelJob::ranks() const { return impl_->ranks; }

void ParallelJob::Register(std::string method, RankHandler handler, Reducer reducer) {
  impl_->methods[std::move(method)] = Impl::Method{std::move(handler), std::move(reducer)};
}

Status ParallelJob::Attach(ProcessModule& module) {
  if (impl_->rank != 0) return FailedPreconditionError("only rank 0 serves connections");
  if (impl_->job_thread.joinable()) return FailedPreconditionError("attached already");
  Impl* impl = impl_.get();
  for (const auto& [method, unused] : impl->methods) {
    module.RegisterHandler(method, [impl](IncomingRequest& request) {
      Impl::Pending pending{request.method, std::move(request.args), std::move(request.payload),
                            request.Defer()};
      {
        std::lock_guard<std::mutex> lock(impl->mu);
        if (impl->closing.load()) {
          pending.reply.Send(Error(503, impl->closing_why));
          return Reply{};
        }
        impl->queue.push_back(std::move(pending));
      }
      impl->wake.notify_one();
      return Reply{};
    });
  }
  impl->heard.assign(static_cast<size_t>(impl->size), Clock::now());
  impl->job_thread = std::thread([impl] { impl->JobLoop(); });
  return Status();
}

void ParallelJob::OnRankLost(RankLostCallback callback) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->on_lost = std::move(callback);
}

void ParallelJob::Shutdown(const std::string& why) {
  Impl& impl = *impl_;
  if (!impl.job_thread.joinable()) return;
  std::unique_lock<std::mutex> lock(impl.mu);
  if (!impl.closing.load()) impl.closing_why = why;
  impl.closing.store(true, std::memory_order_release);
  // The request running now is answered here: its handler may take long (it is
  // application code), and a collective it waits in is given up (Finish aborts).
  if (impl.running) {
    impl.running->Send(Error(503, impl.closing_why));
    impl.running.reset();
    impl.broken = true;
  }
  impl.wake.notify_all();
  impl.on_lost = nullptr;  // what it captured may not outlive this call
  if (impl.wake.wait_for(lock, kStopGrace, [&impl] { return impl.job_thread_done; })) {
    lock.unlock();
    impl.job_thread.join();
  } else {
    // Still in a handler: Finish() aborts the job, which ends the thread with it.
    spdlog::warn("procmod: a parallel handler still runs after {} s", kStopGrace.count() / 1000);
    impl.broken = true;
    lock.unlock();
    impl.job_thread.detach();
  }
}

int ParallelJob::ServeWorker() {
  Impl& impl = *impl_;
  if (impl.rank == 0 || !impl.world) return 0;
  impl.StartHeartbeats();
  auto keep = [&impl] { return impl.WorkerKeepWaiting(); };
  for (;;) {
    Result<std::string> bytes = impl.world->Broadcast({}, keep);
    if (!bytes.ok()) {
      spdlog::warn("procmod: rank {}: {}", impl.rank, bytes.status().message());
      impl.worker_clean = false;
      return 0;
    }
    Result<RankCommand> command = DecodeCommand(*bytes);
    if (!command.ok()) {
      spdlog::error("procmod: rank {}: {}", impl.rank, command.status().message());
      impl.worker_clean = false;
      return 1;
    }
    if (command->op == RankCommand::kStop) return command->exit_code;
    Reply answer = impl.RunHere(command->method, command->args, std::move(command->payload));
    Result<std::vector<std::string>> sent = impl.world->Gather(EncodeAnswer(answer), keep);
    if (!sent.ok()) {
      spdlog::warn("procmod: rank {}: {}", impl.rank, std::string(sent.status().message()));
      impl.worker_clean = false;
      return 0;
    }
  }
}

void ParallelJob::RequestStop() {
  int64_t expected = 0;
  impl_->stop_requested_at.compare_exchange_strong(expected,
                                                   Clock::now().time_since_epoch().count());
}

int ParallelJob::Finish(int exit_code) {
  Impl& impl = *impl_;
  if (impl.rank == 0) Shutdown("the server is stopping");
  impl.StopHeartbeats();
  if (!impl.world) return exit_code;
  if (impl.rank == 0 && impl.size > 1) {
    if (impl.broken) {
      spdlog::error("procmod: ending the parallel job (MPI_Abort, exit code {}): {}", exit_code,
                    impl.LostWhy());
      impl.world->Abort(exit_code);
    }
    // Every rank waits in the broadcast for its next command: this one ends them.
    const Clock::time_point deadline = Clock::now() + kStopGrace;
    auto keep = [deadline]() -> Status {
      if (Clock::now() > deadline) return DeadlineExceededError("the ranks did not take the stop");
      return Status();
    };
    RankCommand stop{RankCommand::kStop, exit_code, {}, {}, {}};
    if (Result<std::string> sent = impl.world->Broadcast(EncodeCommand(stop), keep); !sent.ok()) {
      spdlog::error("procmod: {}; aborting the parallel job", std::string(sent.status().message()));
      impl.world->Abort(exit_code);
    }
  }
  if (impl.rank != 0 && !impl.worker_clean) return exit_code;  // MPI is stuck mid-collective
  spdlog::debug("procmod: rank {} leaves the parallel job (exit code {})", impl.rank, exit_code);
  impl.world->Finalize();
  spdlog::debug("procmod: rank {} left", impl.rank);
  return exit_code;
}

}  // namespace procmod
