// parallel.h: the parallel case (docs/BENCHMARKS.md "parallel"): the round trip of
// a parallel request (REQUEST parallel.echo) to procmod-server under mpiexec on 1, 2
// and 4 ranks, against plain MPI_Bcast + MPI_Gather of the same bytes
// (procmod-bench-mpi) plus one direct round trip to rank 0 (REQUEST ping).
#ifndef PROCMOD_BENCH_PARALLEL_H_
#define PROCMOD_BENCH_PARALLEL_H_

#include "table.h"

namespace procmod::bench {

// The case: adds its rows and notes through `context`; skips them, saying why, when
// procmod-bench-mpi or mpiexec is missing.
void ParallelCase(const CaseContext& context);

}  // namespace procmod::bench

#endif  // PROCMOD_BENCH_PARALLEL_H_
