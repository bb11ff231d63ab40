// End to end: what the four tools (procmod-server, procmod-broker, procmod,
// procmod-monitor) have in common on the command line, run as the real binaries.
// Usage errors are one line that names the tool, says what is wrong and what to do,
// with a did-you-mean for a typo; every numeric flag refuses values out of its range
// (exit 2); durations take one syntax; -V names the protocol; the exit codes mean
// the same in every tool (procmod/exit_codes.h).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/daemons.h"
#include "support/lines.h"
#include "support/raw_peer.h"
#include "support/subprocess.h"

#if !defined(PROCMOD_SERVER) || !defined(PROCMOD_BROKER) || !defined(PROCMOD_CLI) || \
    !defined(PROCMOD_MONITOR)
#error "PROCMOD_SERVER, PROCMOD_BROKER, PROCMOD_CLI and PROCMOD_MONITOR must name the tools"
#endif

namespace procmod::testing {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;
using ::testing::Not;

struct Tool {
  const char* name;
  const char* binary;
};
constexpr Tool kServer{"procmod-server", PROCMOD_SERVER};
constexpr Tool kBroker{"procmod-broker", PROCMOD_BROKER};
constexpr Tool kCli{"procmod", PROCMOD_CLI};
constexpr Tool kMonitor{"procmod-monitor", PROCMOD_MONITOR};
constexpr Tool kTools[] = {kServer, kBroker, kCli, kMonitor};

ToolRun RunOne(const Tool& tool, std::vector<std::string> args, bool stderr_only = false) {
  args.insert(args.begin(), tool.binary);
  return RunTool(std::move(args), stderr_only, kDeadline);
}

// Runs `args`, expects exit 2 and exactly `line` (plus its newline) on stderr.
void ExpectUsageLine(const Tool& tool, std::vector<std::string> args, const std::string& line) {
  ToolRun run = RunOne(tool, args, /*stderr_only=*/true);
  EXPECT_EQ(run.code, 2) << run.output;
  EXPECT_EQ(run.output, line + "\n");
}

TEST(ToolsCli, AMistypedCommandOrFlagGetsOneLineWithADidYouMean) {
  ExpectUsageLine(kCli, {"pnig", "tcp://127.0.0.1:1"},
                  "procmod: unknown command 'pnig' (did you mean 'ping'?); see procmod --help");
  ExpectUsageLine(kCli, {},
                  "procmod: a command is required: ping, connect, wait, send, keygen or launch; "
                  "see procmod --help");
  ExpectUsageLine(kCli, {"ping", "--cout", "3", "tcp://127.0.0.1:1"},
                  "procmod: unknown option '--cout' (did you mean '--count'?); "
                  "see procmod ping --help");
  ExpectUsageLine(kMonitor, {"lsit"},
                  "procmod-monitor: unknown command 'lsit' (did you mean 'list'?); "
                  "see procmod-monitor --help");
  ExpectUsageLine(kMonitor, {},
                  "procmod-monitor: a command is required: list, info, services "
                  "or kick; see procmod-monitor --help");
  ExpectUsageLine(kServer, {"--multi-client"},
                  "procmod-server: unknown option '--multi-client' (did you mean "
                  "'--multi-clients'?); see procmod-server --help");
  ExpectUsageLine(kBroker, {"--prot", "0"},
                  "procmod-broker: unknown option '--prot' (did you mean '--port'?); "
                  "see procmod-broker --help");
  ExpectUsageLine(kServer, {"--port", "abc"},
                  "procmod-server: --port: expected a whole number from 0 to 65535, got 'abc'; "
                  "see procmod-server --help");
  ExpectUsageLine(kServer, {"--log-level", "inof"},
                  "procmod-server: --log-level: expected trace, debug, info, warn, error or off, "
                  "got 'inof' (did you mean 'info'?); see procmod-server --help");
}

// Before, `-c -1` wrapped to 2^64-1 and pinged forever.
TEST(ToolsCli, EveryNumericFlagRefusesValuesOutOfItsRange) {
  const std::string url = "tcp://127.0.0.1:1";
  const std::vector<std::pair<Tool, std::vector<std::string>>> cases = {
      {kCli, {"ping", "-c", "-1", url}},
      {kCli, {"ping", "-c", "18446744073709551616", url}},
      {kCli, {"ping", "-i", "-1", url}},
      {kCli, {"ping", "-i", "25h", url}},
      {kCli, {"ping", "-W", "0", url}},
      {kCli, {"ping", "-s", "-1", url}},
      {kCli, {"ping", "-s", "65MiB", url}},
      {kCli, {"--connect-id", "-1", "connect", url}},
      {kCli, {"--connect-timeout", "-5", "connect", url}},
      {kServer, {"--port", "-1"}},
      {kServer, {"--port", "65536"}},
      {kServer, {"--connect-id", "-1", "--port", "0"}},
      {kServer, {"--session-timeout", "-1", "--port", "0"}},
      {kServer, {"--connect-timeout", "soon", "--port", "0"}},
      {kBroker, {"--port", "65536"}},
      {kBroker, {"--port", "-1"}},
      {kMonitor, {"list", "--watch", "0"}},
      {kMonitor, {"list", "--watch", "-1"}},
      {kMonitor, {"--reply-timeout", "0", "list"}},
  };
  for (const auto& [tool, args] : cases) {
    ToolRun run = RunOne(tool, args, /*stderr_only=*/true);
    EXPECT_EQ(run.code, 2) << tool.name << " " << ::testing::PrintToString(args) << ": "
                           << run.output;
    EXPECT_EQ(Lines(run.output).size(), 1u) << run.output;
    EXPECT_TRUE(StartsWith(run.output, std::string(tool.name) + ": ")) << run.output;
    EXPECT_THAT(run.output, HasSubstr("; see ")) << run.output;
  }
}

TEST(ToolsCli, VersionNamesTheProtocolInEveryTool) {
  for (const Tool& tool : kTools) {
    ToolRun run = RunOne(tool, {"--version"});
    EXPECT_EQ(run.code, 0) << tool.name;
    EXPECT_EQ(run.output, std::string(tool.name) + " " + PROCMOD_VERSION + " (protocol PMP/1.2)\n");
  }
}

TEST(ToolsCli, EveryHelpListsTheSameExitStatusTable) {
  for (const Tool& tool : kTools) {
    ToolRun run = RunOne(tool, {"--help"});
    EXPECT_EQ(run.code, 0) << tool.name;
    EXPECT_THAT(run.output, HasSubstr("EXIT STATUS (the same for every procmod tool)"))
        << tool.name;
    EXPECT_THAT(run.output, HasSubstr("SEE ALSO")) << tool.name;
  }
}

TEST(ToolsCli, ServerHelpListsSighupAndSecurityReload) {
  ToolRun run = RunOne(kServer, {"--help"});
  EXPECT_THAT(run.output, HasSubstr("SIGHUP"));
  EXPECT_THAT(run.output, HasSubstr("security.reload"));
  EXPECT_THAT(RunOne(kBroker, {"--help"}).output, HasSubstr("SIGHUP"));
}

TEST(ToolsCli, MonitorCommandHelpIsAboutThatCommand) {
  ToolRun kick = RunOne(kMonitor, {"kick", "--help"});
  EXPECT_EQ(kick.code, 0);
  EXPECT_THAT(kick.output, HasSubstr("closed by the administrator"));
  for (const char* other : {"ENVIRONMENT", "services.list", "--watch", "PING-RTT"}) {
    EXPECT_THAT(kick.output, Not(HasSubstr(other))) << other;
  }
  ToolRun list = RunOne(kMonitor, {"list", "--help"});
  EXPECT_THAT(list.output, HasSubstr("PING-RTT"));
  EXPECT_THAT(list.output, Not(HasSubstr("closed by the administrator")));
}

// The session's length and the wait for a peer had one name, --timeout, in
// minutes on the server and in seconds in procmod.
TEST(ToolsCli, EachTimeoutHasItsOwnNameAndTheSameDurationSyntax) {
  auto effective = [](std::vector<std::string> args) {
    args.insert(args.end(), {"--port", "0", "--admin", "none", "--check-config"});
    ToolRun run = RunOne(kServer, args);
    EXPECT_EQ(run.code, 0) << run.output;
    return run.output;
  };
  EXPECT_THAT(effective({"--session-timeout", "1.5s"}), HasSubstr("session: 1500ms"));
  EXPECT_THAT(effective({"--session-timeout", "90m"}), HasSubstr("session: 90m"));
  EXPECT_THAT(effective({"--timeout", "2"}), HasSubstr("session: 2m"));  // ParaView's minutes
  EXPECT_THAT(effective({"--connect-timeout", "1.5s"}), HasSubstr("connect: 1500ms"));
  EXPECT_THAT(effective({"--connect-timeout", "90"}), HasSubstr("connect: 90s"));

  ToolRun wait =
      RunOne(kCli, {"--connect-timeout", "0.5s", "wait", "--listen", "tcp://127.0.0.1:0"}, true);
  EXPECT_EQ(wait.code, 4) << wait.output;
  EXPECT_THAT(wait.output, HasSubstr("within 500ms")) << wait.output;
}

// A wait of more than 2 s says so on stderr as it goes: a silent terminal looks hung.
TEST(ToolsCli, ALongWaitShowsProgressOnStderr) {
  zmq::context_t context;
  RawRouter silent(context);  // accepts the connection, never answers HELLO
  ToolRun run = RunOne(kCli, {"--connect-timeout", "2.5s", "connect", silent.endpoint()}, true);
  EXPECT_EQ(run.code, 4) << run.output;
  EXPECT_THAT(run.output, HasSubstr("procmod: no answer yet from " + silent.endpoint() +
                                    " (2s of 2500ms; Ctrl-C to stop)"))
      << run.output;
  const std::vector<std::string> lines = Lines(run.output);
  ASSERT_EQ(lines.size(), 2u) << run.output;  // the notice, then the failure
  EXPECT_THAT(lines[1], HasSubstr("procmod: could not reach " + silent.endpoint()));

  ToolRun monitor =
      RunOne(kMonitor, {"--admin", silent.endpoint(), "--reply-timeout", "2.5s", "info"}, true);
  EXPECT_EQ(monitor.code, 4) << monitor.output;
  EXPECT_THAT(monitor.output, HasSubstr("procmod-monitor: no answer yet from " + silent.endpoint() +
                                        " (2s of 2500ms; Ctrl-C to stop)"))
      << monitor.output;
}

}  // namespace
}  // namespace procmod::testing
