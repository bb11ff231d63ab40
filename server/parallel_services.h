// parallel_services.h: the methods of procmod-server that run on every rank of a
// parallel server (procmod/parallel.h; docs/SERVER.md, "Parallel server"). With one
// rank they answer as a parallel job of one would.
//
//   REQUEST parallel.sum {value: number (default 1)}
//       each rank answers value x (rank + 1); the REPLY is their sum,
//       value x N (N + 1) / 2 on N ranks: a result any test can check
//   REQUEST parallel.ranks
//       -> [{rank, host, pid}] of every rank, as each rank answered it just now
//   REQUEST parallel.echo (payload)
//       every rank returns the payload: N copies in rank order (the benchmark's)
//   REQUEST parallel.wait {ms: uint (at most 60,000)}
//       every rank waits that long, then answers: a job busy in a long request
//       (what the tests of a rank lost meanwhile use)
#ifndef PROCMOD_SERVER_PARALLEL_SERVICES_H_
#define PROCMOD_SERVER_PARALLEL_SERVICES_H_

#include "procmod/parallel.h"

namespace procmod::server {

// Registers the methods above on `job`; every rank, before Attach / ServeWorker.
void RegisterParallelServices(ParallelJob& job);

}  // namespace procmod::server

#endif  // PROCMOD_SERVER_PARALLEL_SERVICES_H_
