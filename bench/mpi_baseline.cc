// procmod-bench-mpi: the floor under a parallel request (docs/BENCHMARKS.md,
// "parallel"), in plain MPI and nothing else. Under `mpiexec -n N`, rank 0
// broadcasts BYTES bytes (MPI_Bcast) and gathers BYTES bytes back from every rank
// (MPI_Gather; each rank sends what it received), ITERATIONS times after WARMUP
// untimed ones: what a parallel.echo of one BYTES frame moves between the ranks of
// procmod-server, without the server. Rank 0 prints one line:
//
//   procmod-bench-mpi: ranks=N bytes=B iterations=K wait=block|poll p50_us=X p99_us=Y
//
//   mpiexec -n N procmod-bench-mpi BYTES ITERATIONS [WARMUP [block|poll]]
//
// `poll` waits as procmod-server's ranks do (lib/src/parallel/mpi_world.h): the
// non-blocking MPI_Ibcast and MPI_Igather, then MPI_Test and sched_yield until done
// (the server's first 2 ms of a wait, all a back-to-back request waits), instead of
// blocking in MPI. It tells what the server's way of waiting costs from what its
// own code does.
#include <mpi.h>
#include <sched.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench_util.h"

namespace {

using procmod::bench::Percentile;
using procmod::bench::SteadyClock;

void Poll(MPI_Request* request) {
  for (int done = 0; MPI_Test(request, &done, MPI_STATUS_IGNORE), !done;) sched_yield();
}

// One round trip, timed on rank 0: the broadcast and the gather of every copy.
double RoundTrip(std::vector<char>& buffer, std::vector<char>& gathered, bool poll) {
  const auto t0 = SteadyClock::now();
  const int count = static_cast<int>(buffer.size());
  if (poll) {
    MPI_Request request;
    MPI_Ibcast(buffer.data(), count, MPI_BYTE, 0, MPI_COMM_WORLD, &request);
    Poll(&request);
    MPI_Igather(buffer.data(), count, MPI_BYTE, gathered.data(), count, MPI_BYTE, 0, MPI_COMM_WORLD,
                &request);
    Poll(&request);
  } else {
    MPI_Bcast(buffer.data(), count, MPI_BYTE, 0, MPI_COMM_WORLD);
    MPI_Gather(buffer.data(), count, MPI_BYTE, gathered.data(), count, MPI_BYTE, 0, MPI_COMM_WORLD);
  }
  return std::chrono::duration<double, std::micro>(SteadyClock::now() - t0).count();
}

// Every copy rank 0 gathered is the bytes it sent: the collectives really moved them.
bool Intact(const std::vector<char>& buffer, const std::vector<char>& gathered) {
  for (size_t i = 0; i < gathered.size(); ++i) {
    if (gathered[i] != buffer[i % buffer.size()]) return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (argc < 3) {
    if (rank == 0) {
      std::fprintf(stderr, "usage: procmod-bench-mpi BYTES ITERATIONS [WARMUP [block|poll]]\n");
    }
    MPI_Finalize();
    return 2;
  }
  const size_t bytes = std::strtoull(argv[1], nullptr, 10);
  const int iterations = std::atoi(argv[2]);
  const int warmup = argc > 3 ? std::atoi(argv[3]) : iterations / 10;
  const bool poll = argc > 4 && std::string(argv[4]) == "poll";
  std::vector<char> buffer(bytes > 0 ? bytes : 1);
  if (rank == 0) {
    for (size_t i = 0; i < buffer.size(); ++i) buffer[i] = static_cast<char>(i * 131 + 7);
  }
  std::vector<char> gathered(rank == 0 ? buffer.size() * static_cast<size_t>(size) : 0);
  for (int i = 0; i < warmup; ++i) RoundTrip(buffer, gathered, poll);
  std::vector<double> samples;
  samples.reserve(static_cast<size_t>(iterations));
  for (int i = 0; i < iterations; ++i) samples.push_back(RoundTrip(buffer, gathered, poll));
  int status = 0;
  if (rank == 0) {
    if (!Intact(buffer, gathered)) {
      std::fprintf(stderr, "procmod-bench-mpi: the gathered bytes differ from those sent\n");
      status = 1;
    }
    std::printf(
        "procmod-bench-mpi: ranks=%d bytes=%zu iterations=%d wait=%s p50_us=%.2f p99_us=%.2f\n",
        size, buffer.size(), iterations, poll ? "poll" : "block", Percentile(samples, 50),
        Percentile(samples, 99));
    std::fflush(stdout);
  }
  MPI_Finalize();
  return status;
}
