// bulk.h: the bulk case (docs/BENCHMARKS.md "bulk"): payloads of 1, 16 and 256 MiB,
// one-way and as request and reply, procmod against raw libzmq, with each side's
// peak RSS. Its driver half and its two peer roles.
#ifndef PROCMOD_BENCH_BULK_H_
#define PROCMOD_BENCH_BULK_H_

#include <string>
#include <vector>

#include "table.h"

namespace procmod::bench {

// The case: adds its rows and notes through `context`.
void BulkCase(const CaseContext& context);

// The roles bulk-sink and bulk-probe (peers.h); -1 for any other role.
int RunBulkRole(const std::string& role, const std::vector<std::string>& args);

}  // namespace procmod::bench

#endif  // PROCMOD_BENCH_BULK_H_
