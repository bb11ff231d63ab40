#include "procmod/status.h"

#include <gtest/gtest.h>

#include "procmod/result.h"

namespace procmod {
namespace {

TEST(Status, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kOk);
  EXPECT_EQ(s.ToString(), "ok");
}

TEST(Status, ErrorCarriesCodeMessageAndPmpCode) {
  Status s = PermissionDeniedError("connect-id 7 does not match", 403);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(s.IsPermissionDenied());
  EXPECT_EQ(s.pmp_code(), 403u);
  EXPECT_EQ(s.ToString(), "permission denied: connect-id 7 does not match (PMP 403)");
}

TEST(Status, CopyIsDeep) {
  Status a = UnavailableError("peer gone");
  Status b = a;
  a = Status();
  EXPECT_TRUE(b.IsUnavailable());
  EXPECT_EQ(b.message(), "peer gone");
}

TEST(Status, PmpCodesMapToWhatTheConnectorShouldDo) {
  EXPECT_TRUE(StatusFromPmpCode(403, "x").IsPermissionDenied());
  EXPECT_TRUE(StatusFromPmpCode(409, "x").IsFailedPrecondition());
  EXPECT_TRUE(StatusFromPmpCode(426, "x").IsFailedPrecondition());
  EXPECT_TRUE(StatusFromPmpCode(503, "x").IsResourceExhausted());
  EXPECT_TRUE(StatusFromPmpCode(404, "x").IsNotFound());
  EXPECT_EQ(StatusFromPmpCode(409, "busy").pmp_code(), 409u);
}

TEST(Result, HoldsValueOrError) {
  Result<int> good = 42;
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 42);
  Result<int> bad = NotFoundError("no such session");
  EXPECT_FALSE(bad.ok());
  EXPECT_TRUE(bad.status().IsNotFound());
  EXPECT_THROW((void)bad.value(), std::logic_error);
}

TEST(Result, RefusesOkStatusWithoutValue) { EXPECT_THROW(Result<int>{Status()}, std::logic_error); }

}  // namespace
}  // namespace procmod
