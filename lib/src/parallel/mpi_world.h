// mpi_world.h: the MPI calls of a parallel server, and nothing else: joining the
// job, rank 0's broadcast of a command, the gather of every rank's answer, the
// watchdog's heartbeats, and leaving (MPI_Finalize) or ending the job (MPI_Abort).
// parallel_job.cc decides what to send and when; this file moves bytes.
//
// Every wait polls (MPI_Test) instead of blocking in MPI, for two reasons: Open
// MPI's blocking calls spin a core at 100 % for as long as they wait, which an idle
// server must not do for hours (and on a small machine with more ranks than cores
// it starves rank 0's I/O thread); and a poll can give up, when the watchdog takes a
// rank for lost, where a blocking collective would hang. A wait spins for 2 ms
// (MPI_Test and sched_yield) when every rank on the host has a core to itself and
// one is left over, then naps from 5 us up to 1 ms between tests.
//
// Built without MPI (PROCMOD_MPI off), mpi_world_absent.cc stands in: Available() is
// false and Join() refuses.
#ifndef PROCMOD_SRC_PARALLEL_MPI_WORLD_H_
#define PROCMOD_SRC_PARALLEL_MPI_WORLD_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "procmod/parallel.h"
#include "procmod/result.h"
#include "procmod/status.h"

namespace procmod {

// How many ranks mpiexec (or srun, or another PMI launcher) started this process
// with, from its environment; 0 when no launcher started it (parallel_job.cc).
int RanksFromLauncher();

class MpiWorld {
 public:
  // Called between two polls of a wait; a non-ok Status abandons the wait with it.
  using KeepWaiting = std::function<Status()>;

  static bool Available();
  // MPI_Init_thread, asking for MPI_THREAD_MULTIPLE (the watchdog's heartbeat
  // thread sends while the main thread waits in a collective).
  static Result<std::unique_ptr<MpiWorld>> Join(int* argc, char*** argv);
  ~MpiWorld();

  int rank() const { return rank_; }
  int size() const { return size_; }
  // False when MPI gave less than MPI_THREAD_MULTIPLE: then no heartbeats.
  bool threads() const { return threads_; }

  // Every rank's host and pid to rank 0 (others get only their own).
  Result<std::vector<RankInfo>> GatherRankInfo();
  // Rank 0's `bytes` to every rank; every rank returns them.
  Result<std::string> Broadcast(std::string bytes, const KeepWaiting& keep);
  // Every rank's `bytes` to rank 0, in rank order; others return an empty list.
  Result<std::vector<std::string>> Gather(const std::string& bytes, const KeepWaiting& keep);

  void SendHeartbeat();  // ranks > 0, from their heartbeat thread
  // Rank 0: calls `heard` with the rank of every heartbeat that arrived.
  void ReceiveHeartbeats(const std::function<void(int rank)>& heard);

  void Finalize();                    // leaves MPI; every rank, once
  [[noreturn]] void Abort(int code);  // ends every rank of the job

 private:
  struct Comms;
  MpiWorld() = default;
  Status Wait(void* request, const KeepWaiting& keep);

  int rank_ = 0;
  int size_ = 1;
  // How long a wait spins (MPI_Test, sched_yield) before it naps; 0 when the host
  // has no core to spare for it.
  std::chrono::microseconds spin_for_{0};
  bool threads_ = false;
  bool finalized_ = false;
  std::unique_ptr<Comms> comms_;
};

}  // namespace procmod

#endif  // PROCMOD_SRC_PARALLEL_MPI_WORLD_H_
