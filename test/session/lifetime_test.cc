// Lifetime: the server's end and the warnings its clients are owed, on a fake clock.
#include "session/lifetime.h"

#include <gtest/gtest.h>

#include <optional>
#include <string_view>

namespace procmod {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;

const TimePoint kStart = TimePoint() + std::chrono::hours(1);

TEST(Lifetime, NoEndMeansNoWarningsAndNeverOver) {
  Lifetime life({minutes(5), minutes(1)});
  EXPECT_FALSE(life.End().has_value());
  EXPECT_FALSE(life.Left(kStart).has_value());
  EXPECT_FALSE(life.DueWarning(kStart).has_value());
  EXPECT_FALSE(life.Over(kStart + std::chrono::hours(100)));
}

TEST(Lifetime, EachThresholdWarnsOnceThenTheEndComes) {
  Lifetime life({minutes(1), minutes(5)});  // any order
  life.SetCommandEnd(kStart + minutes(10));
  EXPECT_FALSE(life.DueWarning(kStart).has_value());
  EXPECT_EQ(life.DueWarning(kStart + minutes(5)), milliseconds(minutes(5)));
  EXPECT_FALSE(life.DueWarning(kStart + minutes(6)).has_value());  // once
  EXPECT_EQ(life.DueWarning(kStart + minutes(9) + seconds(30)), milliseconds(seconds(30)));
  EXPECT_FALSE(life.Over(kStart + minutes(9) + seconds(59)));
  EXPECT_TRUE(life.Over(kStart + minutes(10)));
  EXPECT_EQ(life.Left(kStart + minutes(11)), milliseconds(0));
}

TEST(Lifetime, ThresholdsCrossedTogetherAreOneWarning) {
  Lifetime life({minutes(5), minutes(1)});
  life.SetCommandEnd(kStart + seconds(30));
  EXPECT_EQ(life.DueWarning(kStart), milliseconds(seconds(30)));
  EXPECT_FALSE(life.DueWarning(kStart + seconds(1)).has_value());
}

TEST(Lifetime, TheSoonerOfSessionAndCommandEnds) {
  Lifetime life({});
  life.SetSessionEnd(kStart + minutes(20));
  life.SetCommandEnd(kStart + minutes(30));
  EXPECT_EQ(life.End(), kStart + minutes(20));
  life.SetCommandEnd(kStart + minutes(10));
  EXPECT_EQ(life.End(), kStart + minutes(10));
}

TEST(Lifetime, AnExtendedJobIsWarnedAgain) {
  Lifetime life({minutes(5)});
  life.SetCommandEnd(kStart + minutes(6));
  EXPECT_TRUE(life.DueWarning(kStart + minutes(1)).has_value());
  life.SetCommandEnd(kStart + minutes(60));  // the scheduler gave more time
  EXPECT_FALSE(life.DueWarning(kStart + minutes(2)).has_value());
  EXPECT_EQ(life.DueWarning(kStart + minutes(55)), milliseconds(minutes(5)));
}

TEST(LifetimeNotice, WhatTheServerWritesTheClientReads) {
  EXPECT_EQ(LifetimeNotice(milliseconds(60000)), R"({"expires_in_ms":60000})");
  for (milliseconds left : {milliseconds(0), milliseconds(1), milliseconds(300000)}) {
    EXPECT_EQ(ParseLifetimeNotice(LifetimeNotice(left)), std::optional<milliseconds>(left));
  }
  // Spacing is JSON's business; a negative time left is none left.
  EXPECT_EQ(ParseLifetimeNotice(R"({ "expires_in_ms" : 1500 })"), milliseconds(1500));
  EXPECT_EQ(ParseLifetimeNotice(R"({"expires_in_ms": -5})"), milliseconds(0));
}

TEST(LifetimeNotice, AnythingElseIsNoNotice) {
  for (std::string_view text : {"", "expires_in_ms: 5", "{", "[1]", R"({"other": 5})",
                                R"({"expires_in_ms": "5"})", R"({"expires_in_ms": null})"}) {
    EXPECT_EQ(ParseLifetimeNotice(text), std::nullopt) << text;
  }
}

}  // namespace
}  // namespace procmod
