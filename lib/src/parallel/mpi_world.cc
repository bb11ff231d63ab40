#include "parallel/mpi_world.h"

#include <mpi.h>
#include <sched.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace procmod {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::microseconds;

// A broadcast or an answer travels in one fixed slot: its length, then its first
// bytes. Anything longer sends the rest in a second step, so a small request costs
// one collective each way.
constexpr int kSlot = 1024;
constexpr size_t kInline = kSlot - sizeof(uint64_t);
constexpr int kHostBytes = 256;
constexpr int kTagRest = 1;
constexpr int kTagHeartbeat = 2;

std::string MpiErrorText(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  return std::string(text, static_cast<size_t>(length));
}

Status Failed(const char* call, int code) {
  return UnavailableError(std::string(call) + " failed: " + MpiErrorText(code));
}

void PutSlot(std::vector<char>& slot, size_t offset, const std::string& bytes) {
  const uint64_t length = bytes.size();
  std::memcpy(slot.data() + offset, &length, sizeof length);
  std::memcpy(slot.data() + offset + sizeof length, bytes.data(), std::min(kInline, bytes.size()));
}

uint64_t SlotLength(const std::vector<char>& slot, size_t offset) {
  uint64_t length = 0;
  std::memcpy(&length, slot.data() + offset, sizeof length);
  return length;
}

}  // namespace

struct MpiWorld::Comms {
  MPI_Comm work = MPI_COMM_NULL;       // commands, answers and their long tails
  MPI_Comm heartbeat = MPI_COMM_NULL;  // the watchdog's, apart so it never matches work
};

bool MpiWorld::Available() { return true; }

Result<std::unique_ptr<MpiWorld>> MpiWorld::Join(int* argc, char*** argv) {
  int provided = 0;
  if (int rc = MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided); rc != MPI_SUCCESS) {
    return Failed("MPI_Init_thread", rc);
  }
  std::unique_ptr<MpiWorld> world(new MpiWorld());
  world->comms_ = std::make_unique<Comms>();
  world->threads_ = provided >= MPI_THREAD_MULTIPLE;
  MPI_Comm_rank(MPI_COMM_WORLD, &world->rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &world->size_);
  MPI_Comm_dup(MPI_COMM_WORLD, &world->comms_->work);
  MPI_Comm_dup(MPI_COMM_WORLD, &world->comms_->heartbeat);
  // Errors come back as codes (reported, then the job is aborted on purpose),
  // rather than MPI's default of aborting from inside the call.
  MPI_Comm_set_errhandler(world->comms_->work, MPI_ERRORS_RETURN);
  MPI_Comm_set_errhandler(world->comms_->heartbeat, MPI_ERRORS_RETURN);
  // Spinning pays only where every rank of this host has a core to itself, with one
  // to spare for rank 0's I/O thread; with more ranks than that (mpiexec
  // --oversubscribe) a spinning rank takes the core another one needs to answer.
  MPI_Comm host;
  int on_this_host = 1;
  if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &host) ==
      MPI_SUCCESS) {
    MPI_Comm_size(host, &on_this_host);
    MPI_Comm_free(&host);
  }
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  world->spin_for_ =
      on_this_host < cores ? std::chrono::microseconds(2000) : std::chrono::microseconds(250);
  return world;
}

MpiWorld::~MpiWorld() = default;

Status MpiWorld::Wait(void* request, const KeepWaiting& keep) {
  auto* r = static_cast<MPI_Request*>(request);
  // Naps as short as asked: the default timer slack (50 us) would round a 5 us nap
  // up to 55, and a collective takes several progress steps.
  thread_local bool slack_set = false;
  if (!slack_set) {
    prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
    slack_set = true;
  }
  const Clock::time_point start = Clock::now();
  microseconds nap{0};
  for (;;) {
    int done = 0;
    if (int rc = MPI_Test(r, &done, MPI_STATUS_IGNORE); rc != MPI_SUCCESS) {
      return Failed("MPI_Test", rc);
    }
    if (done) return Status();
    if (keep) {
      if (Status s = keep(); !s.ok()) return s;
    }
    if (Clock::now() - start < spin_for_) {
      sched_yield();
    } else {
      nap = std::min(std::max(nap * 2, microseconds(5)), microseconds(1000));
      std::this_thread::sleep_for(nap);
    }
  }
}

Result<std::vector<RankInfo>> MpiWorld::GatherRankInfo() {
  std::vector<char> mine(kHostBytes + sizeof(int64_t), 0);
  const int64_t pid = getpid();
  std::memcpy(mine.data(), &pid, sizeof pid);
  gethostname(mine.data() + sizeof pid, kHostBytes - 1);
  std::vector<char> all(rank_ == 0 ? mine.size() * static_cast<size_t>(size_) : 0);
  const int count = static_cast<int>(mine.size());
  if (int rc =
          MPI_Gather(mine.data(), count, MPI_BYTE, all.data(), count, MPI_BYTE, 0, comms_->work);
      rc != MPI_SUCCESS) {
    return Failed("MPI_Gather", rc);
  }
  std::vector<RankInfo> ranks;
  const std::vector<char>& source = rank_ == 0 ? all : mine;
  const int n = rank_ == 0 ? size_ : 1;
  for (int i = 0; i < n; ++i) {
    const char* record = source.data() + static_cast<size_t>(i) * mine.size();
    RankInfo info;
    info.rank = rank_ == 0 ? i : rank_;
    std::memcpy(&info.pid, record, sizeof info.pid);
    info.host =
        std::string(record + sizeof info.pid, strnlen(record + sizeof info.pid, kHostBytes - 1));
    ranks.push_back(std::move(info));
  }
  return ranks;
}

Result<std::string> MpiWorld::Broadcast(std::string bytes, const KeepWaiting& keep) {
  if (bytes.size() - std::min(bytes.size(), kInline) > static_cast<size_t>(INT32_MAX)) {
    return InvalidArgumentError("a parallel request is limited to 2 GiB");
  }
  std::vector<char> slot(kSlot);
  if (rank_ == 0) PutSlot(slot, 0, bytes);
  MPI_Request request;
  if (int rc = MPI_Ibcast(slot.data(), kSlot, MPI_BYTE, 0, comms_->work, &request);
      rc != MPI_SUCCESS) {
    return Failed("MPI_Ibcast", rc);
  }
  if (Status s = Wait(&request, keep); !s.ok()) return s;
  const uint64_t length = SlotLength(slot, 0);
  std::string received;
  if (rank_ == 0) {
    received = std::move(bytes);
  } else {
    received.resize(length);
    std::memcpy(received.data(), slot.data() + sizeof length, std::min<uint64_t>(kInline, length));
  }
  if (length > kInline) {
    if (int rc = MPI_Ibcast(received.data() + kInline, static_cast<int>(length - kInline), MPI_BYTE,
                            0, comms_->work, &request);
        rc != MPI_SUCCESS) {
      return Failed("MPI_Ibcast", rc);
    }
    if (Status s = Wait(&request, keep); !s.ok()) return s;
  }
  return received;
}

Result<std::vector<std::string>> MpiWorld::Gather(const std::string& bytes,
                                                  const KeepWaiting& keep) {
  if (bytes.size() - std::min(bytes.size(), kInline) > static_cast<size_t>(INT32_MAX)) {
    return InvalidArgumentError("a parallel answer is limited to 2 GiB");
  }
  std::vector<char> mine(kSlot);
  PutSlot(mine, 0, bytes);
  std::vector<char> all(rank_ == 0 ? static_cast<size_t>(kSlot) * static_cast<size_t>(size_) : 0);
  MPI_Request request;
  if (int rc = MPI_Igather(mine.data(), kSlot, MPI_BYTE, all.data(), kSlot, MPI_BYTE, 0,
                           comms_->work, &request);
      rc != MPI_SUCCESS) {
    return Failed("MPI_Igather", rc);
  }
  if (Status s = Wait(&request, keep); !s.ok()) return s;
  if (rank_ != 0) {
    if (bytes.size() <= kInline) return std::vector<std::string>{};
    if (int rc = MPI_Isend(bytes.data() + kInline, static_cast<int>(bytes.size() - kInline),
                           MPI_BYTE, 0, kTagRest, comms_->work, &request);
        rc != MPI_SUCCESS) {
      return Failed("MPI_Isend", rc);
    }
    if (Status s = Wait(&request, keep); !s.ok()) return s;
    return std::vector<std::string>{};
  }
  std::vector<std::string> answers(static_cast<size_t>(size_));
  answers[0] = bytes;
  for (int r = 1; r < size_; ++r) {
    const size_t offset = static_cast<size_t>(r) * kSlot;
    const uint64_t length = SlotLength(all, offset);
    std::string& answer = answers[static_cast<size_t>(r)];
    answer.resize(length);
    std::memcpy(answer.data(), all.data() + offset + sizeof length,
                std::min<uint64_t>(kInline, length));
    if (length <= kInline) continue;
    if (int rc = MPI_Irecv(answer.data() + kInline, static_cast<int>(length - kInline), MPI_BYTE, r,
                           kTagRest, comms_->work, &request);
        rc != MPI_SUCCESS) {
      return Failed("MPI_Irecv", rc);
    }
    if (Status s = Wait(&request, keep); !s.ok()) return s;
  }
  return answers;
}

void MpiWorld::SendHeartbeat() {
  char beat = 1;
  (void)MPI_Send(&beat, 1, MPI_BYTE, 0, kTagHeartbeat, comms_->heartbeat);
}

void MpiWorld::ReceiveHeartbeats(const std::function<void(int rank)>& heard) {
  for (;;) {
    int flag = 0;
    MPI_Status status;
    if (MPI_Iprobe(MPI_ANY_SOURCE, kTagHeartbeat, comms_->heartbeat, &flag, &status) !=
            MPI_SUCCESS ||
        !flag) {
      return;
    }
    char beat = 0;
    if (MPI_Recv(&beat, 1, MPI_BYTE, status.MPI_SOURCE, kTagHeartbeat, comms_->heartbeat,
                 MPI_STATUS_IGNORE) != MPI_SUCCESS) {
      return;
    }
    heard(status.MPI_SOURCE);
  }
}

void MpiWorld::Finalize() {
  if (finalized_) return;
  finalized_ = true;
  MPI_Comm_free(&comms_->heartbeat);
  MPI_Comm_free(&comms_->work);
  MPI_Finalize();
}

void MpiWorld::Abort(int code) {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);  // MPI_Abort does not return; should it, end this rank at least
}

}  // namespace procmod
