// procmod-bench: procmod against raw libzmq, side by side (docs/BENCHMARKS.md).
//
//   procmod-bench run [--quick] --server PATH [--broker PATH] [--mpi-baseline PATH]
//                                                               the driver (bench/run.sh)
//   procmod-bench ROLE FLAGS...                                 a peer role (peers.h)
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "cases.h"
#include "peers.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: procmod-bench run [--quick] --server PATH [--broker PATH]\n"
                 "                         [--mpi-baseline PATH] [--only CASE,...]\n"
                 "       procmod-bench ROLE FLAGS...   (peer roles: see bench/peers.h)\n"
                 "Use bench/run.sh, which builds what it needs and cleans up.\n");
    return 2;
  }
  const std::string command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  try {
    if (command == "run") return procmod::bench::RunDriver(args);
    const int code = procmod::bench::RunPeerRole(command, args);
    if (code == -1) {
      std::fprintf(stderr, "procmod-bench: unknown role '%s'\n", command.c_str());
      return 2;
    }
    return code;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "procmod-bench %s: %s\n", command.c_str(), e.what());
    return 1;
  }
}
