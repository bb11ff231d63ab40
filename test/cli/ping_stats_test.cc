// The pure pieces of the procmod CLI: ping statistics (ping_stats.h) and the URL,
// failure and loss helpers the commands build on (cli_support.h). No sockets.
#include "ping_stats.h"

#include <gtest/gtest.h>

#include "cli_support.h"

namespace procmod::cli {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

TEST(PingStats, NothingSentIsNoLossAndNoRtt) {
  PingStats stats;
  EXPECT_EQ(stats.sent(), 0u);
  EXPECT_EQ(stats.LossPercent(), 0);
  EXPECT_FALSE(stats.Rtt().has_value());
  EXPECT_EQ(stats.Summary("tcp://h:1"),
            "--- tcp://h:1 ping statistics ---\n0 sent, 0 received, 0% loss\n");
}

TEST(PingStats, MinAvgMaxOfTheReplies) {
  PingStats stats;
  for (int us : {213, 101, 150, 136}) stats.AddReply(microseconds(us));
  std::optional<RttSummary> rtt = stats.Rtt();
  ASSERT_TRUE(rtt.has_value());
  EXPECT_DOUBLE_EQ(rtt->min_ms, 0.101);
  EXPECT_DOUBLE_EQ(rtt->max_ms, 0.213);
  EXPECT_DOUBLE_EQ(rtt->avg_ms, 0.150);
  EXPECT_DOUBLE_EQ(rtt->p99_ms, 0.213);  // fewer than 100 replies: the maximum
}

TEST(PingStats, P99IsTheNearestRank) {
  PingStats stats;
  for (int ms = 1; ms <= 200; ++ms) stats.AddReply(milliseconds(ms));
  // ceil(0.99 * 200) = 198: the 198th smallest.
  EXPECT_DOUBLE_EQ(stats.Rtt()->p99_ms, 198.0);
  PingStats hundred;
  for (int ms = 100; ms >= 1; --ms) hundred.AddReply(milliseconds(ms));  // any order
  EXPECT_DOUBLE_EQ(hundred.Rtt()->p99_ms, 99.0);
  PingStats one;
  one.AddReply(microseconds(42));
  EXPECT_DOUBLE_EQ(one.Rtt()->p99_ms, 0.042);
}

TEST(PingStats, LossCountsLostAmongSent) {
  PingStats stats;
  stats.AddReply(microseconds(100));
  stats.AddLost();
  stats.AddReply(microseconds(300));
  EXPECT_EQ(stats.sent(), 3u);
  EXPECT_EQ(stats.received(), 2u);
  EXPECT_NEAR(stats.LossPercent(), 33.333, 0.001);
  EXPECT_EQ(stats.Summary("tcp://127.0.0.1:11111"),
            "--- tcp://127.0.0.1:11111 ping statistics ---\n"
            "3 sent, 2 received, 33.3% loss\n"
            "rtt min/avg/max/p99 = 0.100/0.200/0.300/0.300 ms\n");
}

TEST(PingStats, AllLostHasNoRttLine) {
  PingStats stats;
  stats.AddLost();
  stats.AddLost();
  EXPECT_EQ(stats.LossPercent(), 100);
  EXPECT_EQ(stats.Summary("u"), "--- u ping statistics ---\n2 sent, 0 received, 100% loss\n");
}

TEST(PingStats, PercentNeverRoundsALossAway) {
  EXPECT_EQ(FormatPercent(0), "0%");
  EXPECT_EQ(FormatPercent(25), "25%");
  EXPECT_EQ(FormatPercent(100.0 / 3), "33.3%");
  EXPECT_EQ(FormatPercent(0.01), "<0.1%");
  EXPECT_EQ(FormatPercent(99.99), ">99.9%");
  EXPECT_EQ(FormatPercent(100), "100%");
}

TEST(PingStats, MillisecondsHaveThreeDecimals) {
  EXPECT_EQ(FormatMs(0.2134), "0.213");
  EXPECT_EQ(FormatMs(12), "12.000");
}

TEST(CheckUrl, AcceptsTcpWithAPortAndIpc) {
  EXPECT_TRUE(CheckUrl("tcp://127.0.0.1:11111", UrlUse::kConnect).ok());
  EXPECT_TRUE(CheckUrl("tcp://viz-1.example.org:1", UrlUse::kConnect).ok());
  EXPECT_TRUE(CheckUrl("tcp://[::1]:65535", UrlUse::kConnect).ok());
  EXPECT_TRUE(CheckUrl("ipc:///tmp/procmod.sock", UrlUse::kConnect).ok());
  EXPECT_TRUE(CheckUrl("tcp://127.0.0.1:0", UrlUse::kListen).ok());
  EXPECT_TRUE(CheckUrl("tcp://*:11111", UrlUse::kListen).ok());
}

TEST(CheckUrl, RejectsWithOneLineSayingWhatWasExpected) {
  for (const char* url : {"", "foo://x", "tcp://host", "tcp://:80", "tcp://host:",
                          "tcp://host:80/x", "tcp://host:abc", "ipc://", "127.0.0.1:80"}) {
    Status s = CheckUrl(url, UrlUse::kConnect);
    EXPECT_TRUE(s.IsInvalidArgument()) << url;
    EXPECT_EQ(s.message(),
              "bad URL '" + std::string(url) +
                  "': expected tcp://HOST:PORT, ipc://PATH or broker+tcp://HOST:PORT/SERVICE")
        << url;
  }
}

TEST(CheckUrl, PortRangeDependsOnUse) {
  EXPECT_EQ(CheckUrl("tcp://h:0", UrlUse::kConnect).message(),
            "bad URL 'tcp://h:0': port 0 is out of range 1-65535");
  EXPECT_EQ(CheckUrl("tcp://h:65536", UrlUse::kListen).message(),
            "bad URL 'tcp://h:65536': port 65536 is out of range 0-65535");
  EXPECT_FALSE(CheckUrl("tcp://*:1", UrlUse::kConnect).ok());
  EXPECT_FALSE(CheckUrl("inproc://x", UrlUse::kConnect).ok());
  EXPECT_FALSE(CheckUrl("ipc://" + std::string(108, 'p'), UrlUse::kConnect).ok());
}

TEST(DescribeConnectFailure, DenyIsFiveWithItsCode) {
  Failure f =
      DescribeConnectFailure(StatusFromPmpCode(409, "tcp://h:1 refused the connection: busy"),
                             "tcp://h:1", UrlUse::kConnect, milliseconds(10000));
  EXPECT_EQ(f.exit_code, kExitDenied);
  EXPECT_EQ(f.message, "tcp://h:1 refused the connection: busy (409)");
  EXPECT_EQ(
      DescribeConnectFailure(StatusFromPmpCode(403, "x"), "u", UrlUse::kConnect, milliseconds(1))
          .exit_code,
      kExitDenied);
}

TEST(DescribeConnectFailure, TimeoutIsFourAndSaysHowLong) {
  Failure f = DescribeConnectFailure(DeadlineExceededError("within timeouts.connect"),
                                     "tcp://127.0.0.1:1", UrlUse::kConnect, milliseconds(10000));
  EXPECT_EQ(f.exit_code, kExitUnreachable);
  EXPECT_EQ(f.message, "could not reach tcp://127.0.0.1:1 within 10s");
  Failure wait = DescribeConnectFailure(DeadlineExceededError("x"), "tcp://127.0.0.1:4",
                                        UrlUse::kListen, milliseconds(500));
  EXPECT_EQ(wait.message, "no server connected to tcp://127.0.0.1:4 within 500ms");
}

TEST(DescribeConnectFailure, WrongPeerIsUsageAndTheRestUnreachable) {
  EXPECT_EQ(DescribeConnectFailure(InvalidArgumentError("a client"), "u", UrlUse::kConnect,
                                   milliseconds(1))
                .exit_code,
            kExitUsage);
  Failure bind = DescribeConnectFailure(UnavailableError("cannot bind u: in use"), "u",
                                        UrlUse::kListen, milliseconds(1));
  EXPECT_EQ(bind.exit_code, kExitUnreachable);
  EXPECT_EQ(bind.message, "cannot bind u: in use");
}

TEST(DescribeLoss, AByeIsToldInTheServersWords) {
  const Status gone = UnavailableError("server s is gone");
  EXPECT_EQ(DescribeLoss(Disconnect{DisconnectReason::kBye, "closed by the administrator"}, gone),
            "the server closed the session: closed by the administrator");
  EXPECT_EQ(DescribeLoss(Disconnect{DisconnectReason::kBye, ""}, gone),
            "the server closed the session");
}

TEST(DescribeLoss, TheServersWordsCannotDriveTheTerminal) {
  EXPECT_EQ(
      DescribeLoss(Disconnect{DisconnectReason::kBye, "\x1b[2Jbye\nprocmod: ok\x7f"}, Status()),
      "the server closed the session: ?[2Jbye?procmod: ok?");
}

TEST(DescribeLoss, OtherEndsAndNoCallbackAtAll) {
  const Status gone = UnavailableError("server s is gone");
  EXPECT_EQ(DescribeLoss(Disconnect{DisconnectReason::kExpired, ""}, gone),
            "the server went silent (heartbeat expired)");
  EXPECT_EQ(DescribeLoss(Disconnect{DisconnectReason::kForgotten, ""}, gone),
            "the server no longer knows this session");
  EXPECT_EQ(DescribeLoss(Disconnect{DisconnectReason::kClosed, ""}, gone),
            "the connection was closed (closed)");
  EXPECT_EQ(DescribeLoss(std::nullopt, gone), "server s is gone");
}

}  // namespace
}  // namespace procmod::cli
