// Connection files: what a server writes is what a client reads, privately.
#include "procmod/connection_file.h"

#include <sys/stat.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/temp_dir.h"

namespace procmod {
namespace {

using ::testing::HasSubstr;

TEST(ConnectionFile, WhatIsWrittenIsReadBackPrivately) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/viz.json";
  ConnectionInfo info;
  info.endpoint = "tcp://127.0.0.1:40123";
  info.name = "viz-1";
  info.role = "server";
  info.multi = true;
  info.connect_id = 42;
  info.protocol = "1.0";
  info.pid = 4242;
  info.public_key = std::string(40, 'k');
  ASSERT_TRUE(WriteConnectionFile(path, info).ok());
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  Result<ConnectionInfo> read = ReadConnectionFile(path);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->endpoint, info.endpoint);
  EXPECT_EQ(read->name, "viz-1");
  EXPECT_TRUE(read->multi);
  EXPECT_EQ(read->connect_id, 42u);
  EXPECT_EQ(read->pid, 4242);
  EXPECT_EQ(read->public_key, info.public_key);

  Options options;
  ASSERT_TRUE(LoadConnectionFile(path, &options).ok());
  EXPECT_EQ(options.server_url, "tcp://127.0.0.1:40123");
  EXPECT_EQ(options.connect_id, 42u);
  EXPECT_EQ(options.security.curve.server_public_key, info.public_key);
}

TEST(ConnectionFile, ABadFileIsNamed) {
  testing::TempDir dir;
  EXPECT_THAT(ReadConnectionFile(dir.path() + "/none.json").status().message(),
              HasSubstr("none.json"));
  const std::string not_json = dir.Write("bad.json", "endpoint: tcp://x:1\n");
  EXPECT_THAT(ReadConnectionFile(not_json).status().message(), HasSubstr("not a JSON object"));
  const std::string no_endpoint = dir.Write("empty.json", "{\"name\": \"viz\"}");
  EXPECT_THAT(ReadConnectionFile(no_endpoint).status().message(), HasSubstr("no \"endpoint\""));
}

}  // namespace
}  // namespace procmod
