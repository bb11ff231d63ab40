// IsLocalEndpoint decides whether an admin endpoint may be bound without CURVE: only
// what no other machine can reach.
#include "protocol/url.h"  // IsLocalEndpoint, used by the admin service

#include <gtest/gtest.h>

namespace procmod {
namespace {

TEST(IsLocalEndpoint, AcceptsLoopbackAndLocalTransports) {
  EXPECT_TRUE(IsLocalEndpoint("ipc:///tmp/procmod.admin"));
  EXPECT_TRUE(IsLocalEndpoint("inproc://admin"));
  EXPECT_TRUE(IsLocalEndpoint("tcp://127.0.0.1:0"));
  EXPECT_TRUE(IsLocalEndpoint("tcp://127.3.4.5:9000"));
  EXPECT_TRUE(IsLocalEndpoint("tcp://localhost:9000"));
  EXPECT_TRUE(IsLocalEndpoint("tcp://[::1]:9000"));
}

TEST(IsLocalEndpoint, RefusesWhatOtherMachinesCouldReach) {
  EXPECT_FALSE(IsLocalEndpoint("tcp://0.0.0.0:9000"));
  EXPECT_FALSE(IsLocalEndpoint("tcp://*:9000"));
  EXPECT_FALSE(IsLocalEndpoint("tcp://10.1.2.3:9000"));
  EXPECT_FALSE(IsLocalEndpoint("tcp://[::]:9000"));
  // Names that only look local: libzmq resolves them when it binds.
  EXPECT_FALSE(IsLocalEndpoint("tcp://127.example.com:9000"));
  EXPECT_FALSE(IsLocalEndpoint("tcp://localhost.example.com:9000"));
  EXPECT_FALSE(IsLocalEndpoint("tcp://128.0.0.1:9000"));
  EXPECT_FALSE(IsLocalEndpoint("tcp://127.0.0.1"));  // no port
  EXPECT_FALSE(IsLocalEndpoint("udp://127.0.0.1:9000"));
}

}  // namespace
}  // namespace procmod
