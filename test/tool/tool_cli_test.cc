// What the four tools' command lines share (lib/tool/tool_cli.h): one-line usage
// errors with a did-you-mean, number and duration flags. No sockets: each test
// parses an argv with a small CLI11 app shaped like the tools'.
#include "tool_cli.h"

#include <gtest/gtest.h>

#include "procmod/exit_codes.h"

namespace procmod::tool {
namespace {

using std::chrono::milliseconds;

// procmod's shape: global options, two commands, each with options.
class ToolApp : public ::testing::Test {
 protected:
  ToolApp() : app_("test tool", "procmod") {
    tool::SetUp(app_);
    app_.fallthrough();
    app_.require_subcommand(1);
    app_.add_option("--connect-id", connect_id_)->check(WholeNumber(0));
    app_.add_option("--log-level", level_)->check(OneOf({"debug", "info", "warn"}));
    CLI::App* ping = app_.add_subcommand("ping", "ping");
    ping->add_option("URL", url_);
    ping->add_option("-c,--count", count_)->check(WholeNumber(0));
    ping->add_option("-i,--interval", interval_)
        ->check(Duration(BareNumber::kSeconds, milliseconds(1), std::chrono::hours(24)));
    app_.add_subcommand("connect", "connect");
  }

  // The one line Parse() would print after "procmod: ", or "" when it parsed.
  std::string Error(std::vector<std::string> args) {
    std::vector<const char*> argv = {"procmod"};
    for (const std::string& arg : args) argv.push_back(arg.c_str());
    try {
      app_.parse(static_cast<int>(argv.size()), argv.data());
      return "";
    } catch (const CLI::ParseError& e) {
      return DescribeParseError(app_, e);
    }
  }

  CLI::App app_;
  uint64_t connect_id_ = 0, count_ = 4;
  std::string level_, url_, interval_;
};

TEST_F(ToolApp, AMistypedCommandGetsADidYouMean) {
  EXPECT_EQ(Error({"pnig", "tcp://h:1"}), "unknown command 'pnig' (did you mean 'ping'?)");
  EXPECT_EQ(Error({"frobnicate"}),
            "unknown command 'frobnicate' (the commands are ping or connect)");
}

TEST_F(ToolApp, AMissingCommandListsThem) {
  EXPECT_EQ(Error({}), "a command is required: ping or connect");
}

TEST_F(ToolApp, AMistypedOptionGetsADidYouMean) {
  EXPECT_EQ(Error({"ping", "--cout", "3", "tcp://h:1"}),
            "unknown option '--cout' (did you mean '--count'?)");
  EXPECT_EQ(Error({"--conect-id=3", "ping", "u"}),
            "unknown option '--conect-id' (did you mean '--connect-id'?)");
  EXPECT_EQ(Error({"--count", "3", "ping"}),
            "option '--count' belongs to 'ping': put it after the command");
  EXPECT_EQ(Error({"ping", "u", "v"}), "unexpected argument 'v'");
}

TEST_F(ToolApp, ANegativeCountIsRefusedNotWrapped) {
  EXPECT_EQ(Error({"ping", "-c", "-1", "u"}),
            "--count: expected a whole number of 0 or more, got '-1'");
  EXPECT_EQ(Error({"ping", "-c", "99999999999999999999", "u"}),
            "--count: expected a whole number of 0 or more, got '99999999999999999999'");
  EXPECT_EQ(Error({"ping", "-c", "abc", "u"}),
            "--count: expected a whole number of 0 or more, got 'abc'");
  EXPECT_EQ(Error({"ping", "-c", "7", "u"}), "");
  EXPECT_EQ(count_, 7u);
}

TEST_F(ToolApp, ARequiredArgumentKeepsItsName) {
  CLI::App* kick = app_.add_subcommand("kick", "kick");
  std::string session;
  kick->add_option("SESSION", session)->required();
  EXPECT_EQ(Error({"kick"}), "SESSION is required");
  EXPECT_EQ(Error({"ping", "u", "-x"}), "unknown option '-x'");  // no guess for one letter
}

TEST_F(ToolApp, AMissingValueSaysSo) {
  EXPECT_EQ(Error({"ping", "u", "--count"}), "--count needs a value");
}

TEST_F(ToolApp, AChoiceNamesTheChoicesAndTheClosest) {
  EXPECT_EQ(Error({"--log-level", "inof", "connect"}),
            "--log-level: expected debug, info or warn, got 'inof' (did you mean 'info'?)");
}

TEST_F(ToolApp, DurationsOutOfRangeAreRefused) {
  EXPECT_EQ(Error({"ping", "-i", "0", "u"}),
            "--interval: expected a duration from 1ms to 24h, got '0'");
  EXPECT_EQ(Error({"ping", "-i", "1.5s", "u"}), "");
}

TEST(WholeNumber, RangeIsInclusive) {
  CLI::Validator port = WholeNumber(0, 65535);
  for (std::string ok : {"0", "65535", "11111"}) EXPECT_EQ(port(ok), "") << ok;
  for (std::string bad : {"65536", "-1", "+1", "0x10", "", " 1", "1 "}) {
    EXPECT_EQ(port(bad), "expected a whole number from 0 to 65535, got '" + bad + "'");
  }
}

TEST(ParseDurationFlag, BareNumbersTakeTheFlagsUnit) {
  EXPECT_EQ(ParseDurationFlag("2", BareNumber::kSeconds).value(), milliseconds(2000));
  EXPECT_EQ(ParseDurationFlag("0.2", BareNumber::kSeconds).value(), milliseconds(200));
  EXPECT_EQ(ParseDurationFlag(".5", BareNumber::kSeconds).value(), milliseconds(500));
  EXPECT_EQ(ParseDurationFlag("0", BareNumber::kSeconds).value(), milliseconds(0));
  EXPECT_EQ(ParseDurationFlag("30", BareNumber::kMinutes).value(), std::chrono::minutes(30));
  EXPECT_EQ(ParseDurationFlag("1.5", BareNumber::kMinutes).value(), milliseconds(90000));
}

TEST(ParseDurationFlag, UnitsMeanTheSameEverywhere) {
  for (BareNumber bare : {BareNumber::kSeconds, BareNumber::kMinutes}) {
    EXPECT_EQ(ParseDurationFlag("200ms", bare).value(), milliseconds(200));
    EXPECT_EQ(ParseDurationFlag("1.5s", bare).value(), milliseconds(1500));
    EXPECT_EQ(ParseDurationFlag("90s", bare).value(), milliseconds(90000));
    EXPECT_EQ(ParseDurationFlag("5m", bare).value(), milliseconds(300000));
    EXPECT_EQ(ParseDurationFlag("2h", bare).value(), std::chrono::hours(2));
  }
}

TEST(ParseDurationFlag, RejectsTheRestNamingWhatCame) {
  for (const char* text : {"", ".", "1..2", "-1", "fast", "1e3", "2 s", "0.0001s", "1.s"}) {
    Result<milliseconds> t = ParseDurationFlag(text, BareNumber::kSeconds);
    ASSERT_FALSE(t.ok()) << text;
    EXPECT_NE(t.status().message().find(std::string("got '") + text + "'"), std::string_view::npos)
        << t.status().message();
  }
}

TEST(VersionLine, NamesTheProtocol) {
  EXPECT_EQ(VersionLine("procmod"),
            std::string("procmod ") + PROCMOD_VERSION + " (protocol PMP/1.2)");
}

}  // namespace
}  // namespace procmod::tool
