#include "session/heartbeat.h"

#include <gtest/gtest.h>

#include "support/fake_clock.h"

namespace procmod {
namespace {

using std::chrono::milliseconds;
using testing::FakeClock;

class HeartbeatTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  HeartbeatPolicy policy_{HeartbeatSettings{milliseconds(1000), 3}};
};

TEST_F(HeartbeatTest, PingsOnlyAfterAWholeIdleInterval) {
  const TimePoint sent = clock_.Now();
  clock_.Advance(milliseconds(999));
  EXPECT_FALSE(policy_.ShouldPing(sent, clock_.Now()));
  clock_.Advance(milliseconds(1));
  EXPECT_TRUE(policy_.ShouldPing(sent, clock_.Now()));
  EXPECT_EQ(policy_.NextPingAt(sent), sent + milliseconds(1000));
}

TEST_F(HeartbeatTest, ExpiresAfterIntervalTimesLiveness) {
  const TimePoint seen = clock_.Now();
  clock_.Advance(milliseconds(2999));
  EXPECT_FALSE(policy_.IsExpired(seen, clock_.Now()));
  clock_.Advance(milliseconds(1));
  EXPECT_TRUE(policy_.IsExpired(seen, clock_.Now()));
  EXPECT_EQ(policy_.ExpiresAt(seen), seen + milliseconds(3000));
}

TEST_F(HeartbeatTest, LivenessScalesExpiry) {
  HeartbeatPolicy fast(HeartbeatSettings{milliseconds(100), 5});
  EXPECT_EQ(fast.ExpiryAfter(), milliseconds(500));
}

TEST_F(HeartbeatTest, FirstPingCarriesNoEcho) {
  PingEcho echo;
  pmp::Ping ping = HeartbeatPolicy::MakePing(echo, clock_.Now());
  EXPECT_EQ(ping.t, ToMicros(clock_.Now()));
  EXPECT_FALSE(ping.echo.has_value());
  EXPECT_FALSE(ping.held.has_value());
}

// A pings B; B holds A's t for 400 ms, then pings back; the wire takes 2 ms each
// way. A must measure 4 ms, not 404.
TEST_F(HeartbeatTest, RttExcludesTheTimeThePeerHeldTheEcho) {
  PingEcho a_side, b_side;
  pmp::Ping from_a = HeartbeatPolicy::MakePing(a_side, clock_.Now());
  clock_.Advance(milliseconds(2));
  EXPECT_FALSE(HeartbeatPolicy::OnPing(from_a, clock_.Now(), b_side).has_value());
  clock_.Advance(milliseconds(400));
  pmp::Ping from_b = HeartbeatPolicy::MakePing(b_side, clock_.Now());
  ASSERT_TRUE(from_b.echo.has_value());
  EXPECT_EQ(*from_b.echo, from_a.t);
  EXPECT_EQ(*from_b.held, 400000u);
  clock_.Advance(milliseconds(2));
  auto rtt = HeartbeatPolicy::OnPing(from_b, clock_.Now(), a_side);
  ASSERT_TRUE(rtt.has_value());
  EXPECT_EQ(*rtt, std::chrono::microseconds(4000));
}

TEST_F(HeartbeatTest, AbsurdEchoGivesNoRtt) {
  PingEcho echo;
  pmp::Ping future;
  future.t = 1;
  future.echo = ToMicros(clock_.Now()) + 1'000'000;  // from the future
  future.held = 0;
  EXPECT_FALSE(HeartbeatPolicy::OnPing(future, clock_.Now(), echo).has_value());
  pmp::Ping overheld;
  overheld.t = 1;
  overheld.echo = ToMicros(clock_.Now()) - 1000;
  overheld.held = 5000;  // held longer than the whole round trip
  EXPECT_FALSE(HeartbeatPolicy::OnPing(overheld, clock_.Now(), echo).has_value());
}

TEST(HeartbeatTickTest, TicksFourTimesPerIntervalWithinOneTo250Milliseconds) {
  EXPECT_EQ(TickFor(HeartbeatPolicy({milliseconds(400), 3})), milliseconds(100));
  EXPECT_EQ(TickFor(HeartbeatPolicy({milliseconds(10'000), 3})), milliseconds(250));
  EXPECT_EQ(TickFor(HeartbeatPolicy({milliseconds(2), 3})), milliseconds(1));
}

TEST(HeartbeatTickTest, IsDueOncePerPeriodNotAtEveryWakeUp) {
  FakeClock clock;
  HeartbeatTick tick(milliseconds(100));
  tick.Start(clock.Now());
  EXPECT_EQ(tick.next(), clock.Now() + milliseconds(100));
  clock.Advance(milliseconds(60));
  EXPECT_FALSE(tick.Due(clock.Now()));  // woken by traffic
  clock.Advance(milliseconds(50));
  EXPECT_TRUE(tick.Due(clock.Now()));
  EXPECT_EQ(tick.next(), clock.Now() + milliseconds(100));  // a period after this tick
  EXPECT_FALSE(tick.Due(clock.Now()));
}

TEST(HeartbeatTickTest, AShorterHeartbeatShortensThePeriodAndBringsTheNextTickForward) {
  FakeClock clock;
  HeartbeatTick tick(milliseconds(250));
  tick.Start(clock.Now());
  tick.AtMost(milliseconds(20), clock.Now());
  EXPECT_EQ(tick.period(), milliseconds(20));
  EXPECT_EQ(tick.next(), clock.Now() + milliseconds(20));
  tick.AtMost(milliseconds(100), clock.Now());  // a longer one changes nothing
  EXPECT_EQ(tick.period(), milliseconds(20));
}

}  // namespace
}  // namespace procmod
