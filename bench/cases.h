// cases.h: the benchmark driver. Every case measures procmod and a raw cppzmq
// baseline side by side in the same run and adds rows to one table
// (docs/BENCHMARKS.md explains each case and its target).
#ifndef PROCMOD_BENCH_CASES_H_
#define PROCMOD_BENCH_CASES_H_

#include <string>
#include <vector>

namespace procmod::bench {

// `procmod-bench run [--quick] --server PATH [--broker PATH] [--mpi-baseline PATH]
//  [--tmp DIR] [--only rtt,data,broker,setup,scale,expiry,resume,bulk,parallel]`; the
//  exit code. --mpi-baseline: procmod-bench-mpi (default: next to this binary).
int RunDriver(const std::vector<std::string>& args);

}  // namespace procmod::bench

#endif  // PROCMOD_BENCH_CASES_H_
