// table.h: one row of the benchmark driver's table, and what a case kept in a file
// of its own (bulk.cc, parallel.cc) needs of the driver (cases.cc).
#ifndef PROCMOD_BENCH_TABLE_H_
#define PROCMOD_BENCH_TABLE_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench_util.h"
#include "procmod/connection.h"

namespace procmod::bench {

enum class Better { kLower, kHigher, kInfo };

struct Row {
  std::string name;
  double pm = 0;
  double raw = 0;
  std::string pm_text;  // the figures as shown, with units
  std::string raw_text;
  Better better = Better::kInfo;
  double target = 0;     // bound on procmod / raw
  std::string skipped;   // non-empty: why the case did not run
  bool invalid = false;  // the procmod side did not complete: MISSED whatever the ratio
};

// The driver as a case in another file sees it.
struct CaseContext {
  bool quick = false;
  // Starts `procmod-bench ROLE FLAGS...` (pinned to `cpu` when >= 0) and waits for
  // its "ready ..." line, whose rest goes to `endpoint`; throws when it does not come.
  std::function<std::unique_ptr<Child>(const std::string& role, std::vector<std::string> flags,
                                       std::string* endpoint, int cpu)>
      start_peer;
  std::function<void(Row)> add;
  std::function<void(const std::string&)> note;
  // Where a role's stderr goes.
  std::function<std::string(const std::string& role)> log;
  // The driver's client module dials `url` (throws when it cannot).
  std::function<Connection(const std::string& url)> connect;
  std::string server_bin;    // procmod-server (--server)
  std::string mpi_baseline;  // procmod-bench-mpi (--mpi-baseline); may not exist
};

}  // namespace procmod::bench

#endif  // PROCMOD_BENCH_TABLE_H_
