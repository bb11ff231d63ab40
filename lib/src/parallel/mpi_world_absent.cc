// Built without MPI (PROCMOD_MPI off): a parallel job has one rank, and mpiexec's
// ranks are refused by ParallelJob::Join.
#include <cstdlib>

#include "parallel/mpi_world.h"

namespace procmod {

struct MpiWorld::Comms {};

bool MpiWorld::Available() { return false; }

Result<std::unique_ptr<MpiWorld>> MpiWorld::Join(int*, char***) {
  return FailedPreconditionError(
      "started by mpiexec, but procmod was built without MPI (PROCMOD_MPI=OFF, or no MPI "
      "found at build time: install libopenmpi-dev and build again)");
}

MpiWorld::~MpiWorld() = default;
Status MpiWorld::Wait(void*, const KeepWaiting&) { return Status(); }
Result<std::vector<RankInfo>> MpiWorld::GatherRankInfo() { return std::vector<RankInfo>{}; }
Result<std::string> MpiWorld::Broadcast(std::string bytes, const KeepWaiting&) { return bytes; }
Result<std::vector<std::string>> MpiWorld::Gather(const std::string& bytes, const KeepWaiting&) {
  return std::vector<std::string>{bytes};
}
void MpiWorld::SendHeartbeat() {}
void MpiWorld::ReceiveHeartbeats(const std::function<void(int rank)>&) {}
void MpiWorld::Finalize() {}
void MpiWorld::Abort(int code) { std::_Exit(code); }

}  // namespace procmod
