// curve_keys: reading the key files keygen writes, and refusing the ones that would
// leak a secret or silently change who gets in.
#include "security/curve_keys.h"

#include <sys/stat.h>

#include <filesystem>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "keygen.h"
#include "support/temp_dir.h"

namespace procmod {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

class CurveKeys : public ::testing::Test {
 protected:
  // Makes the pair NAME in the temp folder; returns its public key.
  std::string Make(const std::string& name) {
    Result<cli::KeyFiles> files = cli::WriteKeyPair(dir_.path(), name, false);
    EXPECT_TRUE(files.ok()) << files.status().ToString();
    return files.ok() ? files->public_key : "";
  }
  std::string Path(const std::string& file) const { return dir_.path() + "/" + file; }

  TempDir dir_;
};

TEST_F(CurveKeys, ASecretKeyFileGivesThePairKeygenMade) {
  const std::string public_key = Make("viz");
  Result<CurveKeyPair> pair = ReadSecretKeyFile(Path("viz.key"));
  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  EXPECT_EQ(pair->public_key, public_key);
  EXPECT_TRUE(IsZ85Key(pair->secret_key));
}

TEST_F(CurveKeys, ASecretKeyOthersCanReadIsRefusedWithTheFix) {
  Make("viz");
  chmod(Path("viz.key").c_str(), 0640);
  Result<CurveKeyPair> pair = ReadSecretKeyFile(Path("viz.key"));
  ASSERT_FALSE(pair.ok());
  EXPECT_TRUE(pair.status().IsInvalidArgument());
  EXPECT_THAT(pair.status().message(), HasSubstr("mode 0640"));
  EXPECT_THAT(pair.status().message(), HasSubstr("chmod 600 " + Path("viz.key")));
}

TEST_F(CurveKeys, AFileThatIsNotAKeyIsNamed) {
  const std::string path = dir_.Write("bad.key", "not a key\n");
  chmod(path.c_str(), 0600);
  Result<CurveKeyPair> pair = ReadSecretKeyFile(path);
  ASSERT_FALSE(pair.ok());
  EXPECT_THAT(pair.status().message(), HasSubstr(path + " does not hold a CURVE key"));
  EXPECT_FALSE(ReadSecretKeyFile(Path("missing.key")).ok());
}

TEST_F(CurveKeys, APublicKeyIsTheKeyItselfOrItsFile) {
  const std::string key = Make("viz");
  EXPECT_EQ(*ResolvePublicKey(key, "k"), key);
  EXPECT_EQ(*ResolvePublicKey(Path("viz.pub"), "k"), key);
  Result<std::string> bad = ResolvePublicKey("nonsense", "security.curve.server_public_key");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("security.curve.server_public_key"));
}

TEST_F(CurveKeys, TheAllowListIsThePubFilesOfAFolder) {
  const std::string a = Make("a");
  const std::string b = Make("b");
  dir_.Write("README", "not a key, and not read");
  std::filesystem::remove(Path("a.key"));
  std::filesystem::remove(Path("b.key"));
  Result<AuthorizedKeys> keys = LoadAuthorizedKeys(dir_.path());
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  EXPECT_EQ(keys->size(), 2u);
  EXPECT_TRUE(keys->Contains(a));
  EXPECT_EQ(keys->NameOf(b), "b");
  EXPECT_FALSE(keys->Contains(std::string(40, '0')));
}

TEST_F(CurveKeys, ABadPubFileFailsTheWholeList) {
  Make("a");
  dir_.Write("typo.pub", "abc\n");
  Result<AuthorizedKeys> keys = LoadAuthorizedKeys(dir_.path());
  ASSERT_FALSE(keys.ok());
  EXPECT_THAT(keys.status().message(), HasSubstr("typo.pub"));
  EXPECT_FALSE(LoadAuthorizedKeys(Path("nowhere")).ok());
}

TEST_F(CurveKeys, EachSideIsToldWhatItLacks) {
  Make("viz");
  CurveOptions none;
  EXPECT_FALSE(ResolveCurve(none, true, false)->enabled);

  CurveOptions no_secret;
  no_secret.server_public_key = Path("viz.pub");
  EXPECT_THAT(ResolveCurve(no_secret, false, true).status().message(),
              HasSubstr("secret_key_file is required"));

  CurveOptions acceptor;
  acceptor.secret_key_file = Path("viz.key");
  EXPECT_THAT(ResolveCurve(acceptor, true, false).status().message(),
              HasSubstr("authorized_keys_dir is required"));
  EXPECT_THAT(ResolveCurve(acceptor, false, true).status().message(),
              HasSubstr("server_public_key is required"));

  acceptor.authorized_keys_dir = dir_.path();
  Result<CurveSetup> setup = ResolveCurve(acceptor, true, false);
  ASSERT_TRUE(setup.ok()) << setup.status().ToString();
  EXPECT_TRUE(setup->enabled);
}

TEST_F(CurveKeys, AForwardClientMayLeaveTheServerKeyToEachConnect) {
  Make("alice");
  const std::string render_key = Make("render");
  CurveOptions client;
  client.secret_key_file = Path("alice.key");
  Result<CurveSetup> setup = ResolveCurve(client, /*accepts=*/false, /*dials=*/false);
  ASSERT_TRUE(setup.ok()) << setup.status().ToString();
  EXPECT_TRUE(setup->enabled);
  EXPECT_EQ(setup->server_public_key, "");

  // A render server key that is not one is named before anything starts.
  client.render_server_public_key = Path("nowhere.pub");
  EXPECT_THAT(ResolveCurve(client, false, false).status().message(),
              HasSubstr("security.curve.render_server_public_key"));
  client.render_server_public_key = Path("render.pub");
  Result<CurveSetup> with_render = ResolveCurve(client, false, false);
  ASSERT_TRUE(with_render.ok()) << with_render.status().ToString();
  EXPECT_EQ(with_render->render_server_public_key, render_key);
  // Alone, it still asks for this side's own key pair.
  CurveOptions render_only;
  render_only.render_server_public_key = Path("render.pub");
  EXPECT_THAT(ResolveCurve(render_only, false, false).status().message(),
              HasSubstr("secret_key_file is required"));
}

}  // namespace
}  // namespace procmod
