// procmod keygen's files: modes, contents that libzmq reads back as one key pair, and
// nothing overwritten without --force.
#include "keygen.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <zmq.h>

#include "support/temp_dir.h"

namespace procmod::cli {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 0777;
}

TEST(Keygen, WritesASecretOnlyItsOwnerReadsAndAPublicKeyThatMatchesIt) {
  testing::TempDir dir;
  const mode_t old_umask = umask(0);  // a careless umask must not loosen the secret
  Result<KeyFiles> files = WriteKeyPair(dir.path() + "/keys", "viz-1", false);
  umask(old_umask);
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  EXPECT_EQ(files->secret_path, dir.path() + "/keys/viz-1.key");
  EXPECT_EQ(ModeOf(files->secret_path), 0600u);
  EXPECT_EQ(ModeOf(files->public_path), 0644u);

  const std::string secret = ReadFile(files->secret_path);
  const std::string public_key = ReadFile(files->public_path);
  ASSERT_EQ(secret.size(), 41u);  // 40 characters of Z85 and a newline
  ASSERT_EQ(public_key.size(), 41u);
  EXPECT_EQ(secret.back(), '\n');
  EXPECT_EQ(public_key, files->public_key + "\n");
  char derived[41] = {};
  ASSERT_EQ(zmq_curve_public(derived, secret.substr(0, 40).c_str()), 0);
  EXPECT_EQ(std::string(derived), files->public_key);
}

TEST(Keygen, KeepsExistingFilesUnlessForced) {
  testing::TempDir dir;
  Result<KeyFiles> first = WriteKeyPair(dir.path(), "node", false);
  ASSERT_TRUE(first.ok());
  const std::string secret = ReadFile(first->secret_path);

  Result<KeyFiles> again = WriteKeyPair(dir.path(), "node", false);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(again.status().ToString().find("--force"), std::string::npos);
  EXPECT_EQ(ReadFile(first->secret_path), secret);  // untouched

  chmod(first->secret_path.c_str(), 0644);  // an overwrite also tightens the mode
  Result<KeyFiles> forced = WriteKeyPair(dir.path(), "node", true);
  ASSERT_TRUE(forced.ok()) << forced.status().ToString();
  EXPECT_NE(ReadFile(forced->secret_path), secret);
  EXPECT_EQ(ModeOf(forced->secret_path), 0600u);
}

TEST(Keygen, RefusesANameThatIsAPath) {
  testing::TempDir dir;
  for (const std::string name : {"", "a/b", "..", "."}) {
    Result<KeyFiles> files = WriteKeyPair(dir.path(), name, false);
    EXPECT_EQ(files.status().code(), StatusCode::kInvalidArgument) << "'" << name << "'";
  }
}

}  // namespace
}  // namespace procmod::cli
