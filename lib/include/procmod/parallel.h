// procmod/parallel.h
//
// A parallel server is one server made of N processes (ranks) started together by
// mpiexec, as ParaView's pvserver is. Every rank joins the ParallelJob; rank 0 also
// owns the process module and so every connection, and ranks > 0 open no sockets.
// A method registered here runs on every rank: rank 0 broadcasts the REQUEST
// (method, args, payload) over MPI, each rank's handler answers, and rank 0 reduces
// the answers, in rank order, into the one REPLY its client gets. The MPI calls run
// on a thread of the job's own, never on the I/O thread: a long parallel request
// does not stall heartbeats, and other methods are answered meanwhile.
//
// Started without mpiexec (or procmod built without MPI) the job has one rank, and
// the same code serves alone.
//
//   auto job = procmod::ParallelJob::Join(&argc, &argv, settings);   // every rank
//   if (!job.ok()) return 2;
//   (*job)->Register("sum", [](procmod::RankRequest& r) { return SumOfMyPart(r); },
//                    procmod::reduce::Sum);
//   if ((*job)->rank() > 0) return (*job)->Finish((*job)->ServeWorker());
//   auto module = procmod::ProcessModule::Initialize(options);     // rank 0 only
//   (*job)->Attach(**module);
//   ... Start(), Run() ...
//   (*job)->Shutdown("the server is stopping");
//   procmod::ProcessModule::Finalize();
//   return (*job)->Finish(exit_code);                               // every rank exits with it
//
// A rank that dies or stops answering ends the job: mpiexec ends every rank when
// one exits abnormally (the rest get SIGTERM); a rank that hangs is caught by the
// job's watchdog, which hears each rank's heartbeat (a thread per rank > 0) and
// takes one silent for `settings.interval * settings.liveness` (3 s at least) for
// lost. Requests
// that needed it get ERROR 503 with the rank's number, host and pid, and
// Finish() aborts the job (MPI_Abort) instead of waiting in a collective.
#ifndef PROCMOD_PARALLEL_H_
#define PROCMOD_PARALLEL_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "procmod/connection.h"
#include "procmod/process_module.h"
#include "procmod/result.h"
#include "procmod/status.h"

namespace procmod {

// One rank's part of a parallel REQUEST.
struct RankRequest {
  std::string method;
  std::string args;  // one msgpack-encoded map, or empty
  Frames payload;    // every rank gets the whole payload
  int rank = 0;
  int size = 1;
};

// Runs on every rank, on the job's thread (rank 0) or the main thread (ranks > 0).
// A non-zero code fails the whole request: the client gets that rank's error.
using RankHandler = std::function<Reply(RankRequest& request)>;

// Makes the one REPLY of every rank's answer (index = rank, all with code 0).
using Reducer = std::function<Reply(std::vector<Reply>& answers)>;

namespace reduce {
// Every rank's payload frames in rank order; result: a msgpack array of each rank's
// result (nil where a rank gave none).
Reply Concatenate(std::vector<Reply>& answers);
// The sum of every rank's result, each one msgpack number: an integer when all are
// integers, else a float. A result that is not a number is ERROR 500.
Reply Sum(std::vector<Reply>& answers);
// Rank 0's answer; the others' are dropped (their handlers ran for effect).
Reply First(std::vector<Reply>& answers);
}  // namespace reduce

// Where one rank runs.
struct RankInfo {
  int rank = 0;
  std::string host;
  int64_t pid = 0;
};

// The watchdog's heartbeat between ranks (procmod-server uses its heartbeat.*).
struct ParallelSettings {
  std::chrono::milliseconds interval{1000};
  int liveness = 3;
};

// Called on rank 0 (on the job's thread) when a rank is taken for lost.
using RankLostCallback = std::function<void(const RankInfo& rank, const std::string& why)>;

class ParallelJob {
 public:
  // Joins the MPI job mpiexec started this process in (MPI_Init_thread), or makes a
  // job of one rank when it was not started by mpiexec. kFailedPrecondition when
  // it was, but procmod was built without MPI (every rank would serve alone), or
  // when a job was joined already in this process.
  static Result<std::unique_ptr<ParallelJob>> Join(int* argc, char*** argv,
                                                   ParallelSettings settings = {});
  // True when procmod was built with MPI (PROCMOD_MPI).
  static bool Available();

  ParallelJob(const ParallelJob&) = delete;
  ParallelJob& operator=(const ParallelJob&) = delete;
  ~ParallelJob();

  int rank() const;
  int size() const;
  // Every rank's host and pid, in rank order, as gathered at Join().
  const std::vector<RankInfo>& ranks() const;

  // Every rank, before Attach() / ServeWorker(), the same methods in the same order.
  void Register(std::string method, RankHandler handler, Reducer reducer);

  // Rank 0: answers each registered method through `module` (a deferred handler
  // that queues the request for the job's thread) and starts that thread.
  Status Attach(ProcessModule& module);
  void OnRankLost(RankLostCallback callback);
  // Rank 0: the requests still queued or running get ERROR 503 `why`; later ones
  // too. Call it when Run() returns, before ProcessModule::Finalize().
  void Shutdown(const std::string& why);

  // Ranks > 0: runs each request rank 0 broadcasts, until rank 0 calls Finish;
  // returns the exit code rank 0 gave there.
  int ServeWorker();
  // Ranks > 0, from a signal thread: rank 0 is about to end the job (mpiexec
  // signals every rank); if it has not within a few seconds, ServeWorker returns 0.
  void RequestStop();

  // Every rank, last: rank 0 tells the others to exit with `exit_code`, then
  // every rank leaves MPI (MPI_Finalize). After a lost rank or an abandoned
  // collective, rank 0 aborts the job instead (MPI_Abort with `exit_code`).
  // Returns `exit_code`.
  int Finish(int exit_code);

 private:
  struct Impl;
  explicit ParallelJob(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace procmod

#endif  // PROCMOD_PARALLEL_H_
