// run_cli.h: RunCli, the `procmod` binary run to completion, for a test whose
// target names the binary's path in PROCMOD_CLI (test/CMakeLists.txt).
#ifndef PROCMOD_TEST_SUPPORT_RUN_CLI_H_
#define PROCMOD_TEST_SUPPORT_RUN_CLI_H_

#include <string>
#include <utility>
#include <vector>

#include "support/raw_peer.h"  // kDeadline
#include "support/subprocess.h"

#ifndef PROCMOD_CLI
#error "PROCMOD_CLI must name the procmod binary"
#endif

namespace procmod::testing {

// Runs `procmod args...` (see RunTool), up to kDeadline.
inline ToolRun RunCli(std::vector<std::string> args, bool stderr_only = false) {
  args.insert(args.begin(), PROCMOD_CLI);
  return RunTool(std::move(args), stderr_only, kDeadline);
}

}  // namespace procmod::testing

#endif  // PROCMOD_TEST_SUPPORT_RUN_CLI_H_
