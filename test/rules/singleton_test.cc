// Rule S1: a process has exactly one process module.
#include <gtest/gtest.h>

#include "support/module_fixture.h"

namespace procmod::testing {
namespace {

class Singleton : public ModuleTest {};

TEST_F(Singleton, S1_GetBeforeInitializeIsATypedError) {
  Result<ProcessModule*> module = ProcessModule::Get();
  ASSERT_FALSE(module.ok());
  EXPECT_TRUE(module.status().IsFailedPrecondition());
  EXPECT_NE(module.status().ToString().find("Initialize"), std::string::npos);
}

TEST_F(Singleton, S1_SecondInitializeIsATypedError) {
  ProcessModule* first = Init(TestOptions(Role::kServer));
  ASSERT_NE(first, nullptr);
  Result<ProcessModule*> second = ProcessModule::Initialize(TestOptions(Role::kServer));
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(second.status().IsFailedPrecondition());
  EXPECT_NE(second.status().ToString().find("S1"), std::string::npos);
  Result<ProcessModule*> got = ProcessModule::Get();
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, first);  // the first one is untouched
}

TEST_F(Singleton, S1_InitializeAgainAfterFinalize) {
  ASSERT_NE(Init(TestOptions(Role::kServer)), nullptr);
  ProcessModule::Finalize();
  EXPECT_FALSE(ProcessModule::Get().ok());
  EXPECT_NE(Init(TestOptions(Role::kClient)), nullptr);
}

TEST_F(Singleton, StartTwiceIsAnError) {
  ProcessModule* module = StartAcceptor(TestOptions(Role::kServer));
  ASSERT_NE(module, nullptr);
  EXPECT_TRUE(module->Start().IsFailedPrecondition());
}

TEST_F(Singleton, BindFailureSaysWhichEndpoint) {
  RawRouter squatter(context_);  // holds a port
  Options options = TestOptions(Role::kServer);
  options.listen = squatter.endpoint();
  ProcessModule* module = Init(options);
  Status s = module->Start();
  ASSERT_TRUE(s.IsUnavailable()) << s.ToString();
  EXPECT_NE(s.ToString().find(squatter.endpoint()), std::string::npos);
}

TEST_F(Singleton, MalformedEndpointIsInvalidArgument) {
  Options options = TestOptions(Role::kServer);
  options.listen = "tcp://127.0.0.1:notaport";
  ProcessModule* module = Init(options);
  EXPECT_TRUE(module->Start().IsInvalidArgument());
}

}  // namespace
}  // namespace procmod::testing
