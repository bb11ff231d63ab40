// What the two daemons share (lib/daemon/): the line of a key in their YAML file,
// the exit-code table, and the start of their command line. No sockets and no
// signals: the daemons' own tests (server_e2e_test, broker_test) run those.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config_keys.h"
#include "daemon_command_line.h"
#include "daemon_exit_codes.h"
#include "support/temp_dir.h"

namespace procmod {
namespace {

using procmod::testing::TempDir;

TEST(ConfigKeys, WhereNamesTheKeysOwnLineCountedFromOne) {
  TempDir dir;
  const std::string path =
      dir.Write("b.yaml",
                "name: b\nadmin:\n  endpoint: tcp://0.0.0.0:1\nsecurity:\n  curve:\n"
                "    secret_key_file: k\n");
  ConfigKeys file(path);
  EXPECT_EQ(file.Where({"name"}), path + ":1: ");
  EXPECT_EQ(file.Where({"admin", "endpoint"}), path + ":3: ");
  EXPECT_EQ(file.Where({"security"}), path + ":4: ");
  // The key's line, not its value's (a map starting on the next line).
  EXPECT_EQ(file.Where({"security", "curve"}), path + ":5: ");
}

TEST(ConfigKeys, AKeyTheFileDoesNotGiveHasNoLine) {
  TempDir dir;
  ConfigKeys file(dir.Write("b.yaml", "admin: {endpoint: none}\nlisten:\n"));
  EXPECT_TRUE(file.Has({"admin", "endpoint"}));
  EXPECT_TRUE(file.Has({"listen"})) << "an empty value is still given";
  EXPECT_FALSE(file.Has({"name"}));
  EXPECT_FALSE(file.Has({"listen", "port"})) << "below a scalar";
  EXPECT_EQ(file.Where({"name"}), "");
  // Looking did not add the key (yaml-cpp's non-const operator[] would).
  EXPECT_EQ(file.TopLevelKeys(), (std::vector<std::string>{"admin", "listen"}));
}

TEST(ConfigKeys, NoFileGivesNoKey) {
  ConfigKeys none;
  EXPECT_FALSE(none.Has({"name"}));
  EXPECT_EQ(none.Where({"name"}), "");
  EXPECT_TRUE(none.TopLevelKeys().empty());
}

TEST(ConfigKeys, ACopyReadsTheSameFile) {
  TempDir dir;
  const std::string path = dir.Write("b.yaml", "name: b\n");
  ConfigKeys copy;
  copy = ConfigKeys(path);
  EXPECT_EQ(copy.Where({"name"}), path + ":1: ");
}

TEST(DaemonExitCodes, RunEndsMapToTheDocumentedCodes) {
  EXPECT_EQ(ExitCodeFor(RunEnd::kPeerLeft), kExitOk);
  EXPECT_EQ(ExitCodeFor(RunEnd::kStopped), kExitOk);
  EXPECT_EQ(ExitCodeFor(RunEnd::kSessionTimeout), kExitOk);
  EXPECT_EQ(ExitCodeFor(RunEnd::kPeerLost), kExitPeerLost);
  EXPECT_EQ(ExitCodeFor(RunEnd::kAcceptTimeout), kExitUnreachable);
  EXPECT_EQ(ExitCodeFor(RunEnd::kUnreachable), kExitUnreachable);
  EXPECT_EQ(ExitCodeFor(RunEnd::kDenied), kExitDenied);
}

TEST(DaemonExitCodes, AFailedStartIsBadConfigUnreachableOrDenied) {
  EXPECT_EQ(ExitCodeForStartFailure(InvalidArgumentError("admin endpoint not local")), kExitUsage);
  EXPECT_EQ(ExitCodeForStartFailure(UnavailableError("address in use")), kExitUnreachable);
  EXPECT_EQ(ExitCodeForStartFailure(StatusFromPmpCode(409, "busy")), kExitDenied);
}

TEST(DaemonCommandLine, LoadsTheConfigFileAndKnowsItsKeys) {
  TempDir dir;
  const std::string path = dir.Write("s.yaml", "name: from-file\nlisten: tcp://127.0.0.1:0\n");
  DaemonCommandLine command_line("procmod-test", "test daemon", "");
  const char* argv[] = {"procmod-test", "--config", path.c_str()};
  Options options;
  EXPECT_EQ(command_line.ParseAndLoad(3, argv, options), std::nullopt);
  EXPECT_EQ(options.name, "from-file");
  EXPECT_EQ(command_line.file().Where({"listen"}), path + ":2: ");
}

TEST(DaemonCommandLine, WithoutConfigTheDefaultsLoadAndNoKeyHasALine) {
  DaemonCommandLine command_line("procmod-test", "test daemon", "");
  const char* argv[] = {"procmod-test"};
  Options options;
  options.name = "changed";
  EXPECT_EQ(command_line.ParseAndLoad(1, argv, options), std::nullopt);
  EXPECT_EQ(options.name, Options().name);
  EXPECT_EQ(command_line.file().Where({"name"}), "");
}

TEST(DaemonCommandLine, ABadFileOrFlagIsExit2) {
  TempDir dir;
  const std::string path = dir.Write("s.yaml", "hearbeat: {}\n");
  Options options;
  {
    DaemonCommandLine command_line("procmod-test", "test daemon", "");
    const char* argv[] = {"procmod-test", "--config", path.c_str()};
    EXPECT_EQ(command_line.ParseAndLoad(3, argv, options), kExitUsage);
  }
  {
    DaemonCommandLine command_line("procmod-test", "test daemon", "");
    const char* argv[] = {"procmod-test", "--no-such-flag"};
    EXPECT_EQ(command_line.ParseAndLoad(2, argv, options), kExitUsage);
  }
}

}  // namespace
}  // namespace procmod
