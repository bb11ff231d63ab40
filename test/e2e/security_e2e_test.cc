// CURVE end to end (docs/SECURITY.md, issue 8): real procmod-server, procmod-broker,
// procmod and procmod-monitor processes with key files made by keygen's code, and a
// recording TCP proxy to look at the bytes on the wire.
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "keygen.h"
#include "procmod/admin_client.h"
#include "procmod/process_module.h"
#include "support/daemons.h"
#include "support/recording_proxy.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"

namespace procmod::testing {
namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;
using ::testing::HasSubstr;

constexpr std::string_view kHandshakeFailed =
    "handshake failed: the server requires CURVE or the key is wrong";

// A folder of key pairs (keys/NAME.key, keys/NAME.pub) and an allow-list folder
// (authorized/), as an operator would lay them out.
class Keys {
 public:
  explicit Keys(const TempDir& dir) : dir_(dir.path()) {
    std::filesystem::create_directories(AuthorizedDir());
  }
  // Makes the pair NAME; returns its public key.
  std::string Make(const std::string& name) {
    Result<cli::KeyFiles> files = cli::WriteKeyPair(dir_ + "/keys", name, /*force=*/false);
    EXPECT_TRUE(files.ok()) << files.status().ToString();
    return files.ok() ? files->public_key : std::string();
  }
  void Authorize(const std::string& name) {
    std::filesystem::copy_file(Public(name), AuthorizedDir() + "/" + name + ".pub");
  }
  void Revoke(const std::string& name) {
    std::filesystem::remove(AuthorizedDir() + "/" + name + ".pub");
  }
  std::string Secret(const std::string& name) const { return dir_ + "/keys/" + name + ".key"; }
  std::string Public(const std::string& name) const { return dir_ + "/keys/" + name + ".pub"; }
  std::string AuthorizedDir() const { return dir_ + "/authorized"; }

 private:
  std::string dir_;
};

// The `security:` block of a YAML file.
std::string SecurityYaml(const std::string& secret, const std::string& authorized,
                         const std::string& server_key = {}) {
  std::string yaml = "security:\n  curve:\n    secret_key_file: " + secret + "\n";
  if (!authorized.empty()) yaml += "    authorized_keys_dir: " + authorized + "\n";
  if (!server_key.empty()) yaml += "    server_public_key: " + server_key + "\n";
  return yaml;
}

ToolRun RunCli(std::vector<std::string> args) {
  args.insert(args.begin(), PROCMOD_CLI);
  return RunTool(std::move(args), /*stderr_only=*/true, kDeadline);
}

std::vector<std::string> KeyFlags(const Keys& keys, const std::string& own,
                                  const std::string& server) {
  return {"--key", keys.Secret(own), "--server-key", keys.Public(server)};
}

std::vector<std::string> Concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

class Curve : public ::testing::Test {
 protected:
  Curve() : keys_(dir_) {
    server_key_ = keys_.Make("server");
    alice_key_ = keys_.Make("alice");
    mallory_key_ = keys_.Make("mallory");
    keys_.Authorize("alice");
  }

  // A multi-client procmod-server with CURVE on, bound to a free port.
  std::unique_ptr<ServerProcess> StartServer(std::vector<std::string> extra_args = {}) {
    return StartServerWithKey("server", std::move(extra_args), &endpoint_);
  }

  // The same with the key pair `key` (made already), ready at `*endpoint`.
  std::unique_ptr<ServerProcess> StartServerWithKey(const std::string& key,
                                                    std::vector<std::string> extra_args,
                                                    std::string* endpoint) {
    const std::string config =
        dir_.Write(key + ".yaml",
                   "name: curve-e2e\nlisten: tcp://127.0.0.1:0\n"
                   "multiple_connections: true\n" +
                       SecurityYaml(keys_.Secret(key), keys_.AuthorizedDir()));
    std::vector<std::string> args = {"--config", config};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    auto server = std::make_unique<ServerProcess>(PROCMOD_SERVER, std::move(args));
    *endpoint = server->WaitReady();
    return server;
  }

  TempDir dir_;
  Keys keys_;
  std::string server_key_, alice_key_, mallory_key_;
  std::string endpoint_;
};

TEST_F(Curve, AListedKeyIsAdmittedAndTheMonitorShowsIt) {
  const std::string admin = UniqueAdminEndpoint("curve");
  auto server = StartServer({"--admin", admin});
  ASSERT_FALSE(endpoint_.empty());
  // A session that stays while the monitor looks.
  Subprocess pinger(Concat({PROCMOD_CLI, "ping", "-c", "0", "-i", "50ms", endpoint_},
                           KeyFlags(keys_, "alice", "server")));
  ASSERT_TRUE(pinger.WaitForLine("reply from", kDeadline)) << server->Transcript();

  ToolRun list = RunTool({PROCMOD_MONITOR, "--admin", admin, "list", "--json"}, false, kDeadline);
  ASSERT_EQ(list.code, 0) << list.output;
  json peers = json::parse(list.output);
  ASSERT_EQ(peers.size(), 1u);
  EXPECT_EQ(peers[0]["public_key"], alice_key_);
  pinger.Signal(SIGINT);
  EXPECT_EQ(pinger.Wait(kDeadline), 0);
  RemoveIpcFile(admin);
}

TEST_F(Curve, AKeyNotListedIsDeniedAndLoggedWithItsKeyAndAddress) {
  auto server = StartServer();
  ToolRun run =
      RunCli(Concat({"ping", "-c", "1", endpoint_}, KeyFlags(keys_, "mallory", "server")));
  EXPECT_EQ(run.code, 5);
  EXPECT_THAT(run.output, HasSubstr("does not admit this key (" + mallory_key_));
  std::optional<std::string> logged = server->WaitFor("denied CURVE key " + mallory_key_);
  ASSERT_TRUE(logged) << server->Transcript();
  EXPECT_THAT(*logged, HasSubstr("from 127.0.0.1"));
}

TEST_F(Curve, APlainClientGetsOneClearLineWithinTheHandshakeTimeout) {
  auto server = StartServer();
  ToolRun run = RunCli({"ping", "-c", "1", endpoint_});
  EXPECT_EQ(run.code, 5);
  EXPECT_EQ(run.output, "procmod: " + std::string(kHandshakeFailed) + " (" + endpoint_ + ")\n");
  EXPECT_LT(run.took, milliseconds(5000));  // the CLI's timeouts.handshake
}

TEST_F(Curve, AWrongServerKeyGetsTheSameLine) {
  auto server = StartServer();
  ToolRun run = RunCli(Concat({"ping", "-c", "1", endpoint_}, KeyFlags(keys_, "alice", "alice")));
  EXPECT_EQ(run.code, 5);
  EXPECT_EQ(run.output, "procmod: " + std::string(kHandshakeFailed) + " (" + endpoint_ + ")\n");
  EXPECT_LT(run.took, milliseconds(5000));
}

// Servers need not share a key pair: a client names each one's key.
TEST_F(Curve, AMultiClientNamesEachServersOwnKeyWhenItConnects) {
  const std::string viz2_key = keys_.Make("viz-2");
  std::string second_endpoint;
  auto first = StartServer();
  auto second = StartServerWithKey("viz-2", {}, &second_endpoint);
  ASSERT_FALSE(endpoint_.empty());
  ASSERT_FALSE(second_endpoint.empty());

  Options o;
  o.name = "multi-curve";
  o.role = Role::kClient;
  o.multiple_connections = true;
  o.timeouts.connect = milliseconds(5000);
  o.security.curve.secret_key_file = keys_.Secret("alice");  // no server_public_key
  Result<ProcessModule*> module = ProcessModule::Initialize(o);
  ASSERT_TRUE(module.ok()) << module.status().ToString();
  ASSERT_TRUE((*module)->Start().ok());

  // No key of either kind: told so before anything is dialed.
  Result<Connection> keyless = (*module)->ConnectToRemote(endpoint_);
  EXPECT_EQ(keyless.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(keyless.status().message(),
              HasSubstr("security.curve.server_public_key is required to connect with CURVE to " +
                        endpoint_));
  // One server's key for the other: its handshake fails, as any wrong key does.
  Result<Connection> crossed =
      (*module)->ConnectToRemote(second_endpoint, {.server_public_key = keys_.Public("server")});
  EXPECT_FALSE(crossed.ok());
  EXPECT_THAT(crossed.status().message(), HasSubstr(kHandshakeFailed));
  // Not a key at all.
  Result<Connection> typo =
      (*module)->ConnectToRemote(endpoint_, {.server_public_key = "nonsense"});
  EXPECT_EQ(typo.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(typo.status().message(), HasSubstr("RemoteOptions::server_public_key"));

  Result<Connection> a =
      (*module)->ConnectToRemote(endpoint_, {.server_public_key = keys_.Public("server")});
  Result<Connection> b = (*module)->ConnectToRemote(
      second_endpoint, {.expected_role = "server", .server_public_key = keys_.Public("viz-2")});
  ASSERT_TRUE(a.ok()) << a.status().ToString() << first->Transcript();
  ASSERT_TRUE(b.ok()) << b.status().ToString() << second->Transcript();
  // Each peer shows the key it proved it has.
  std::vector<std::string> peer_keys;
  for (const PeerInfo& peer : (*module)->Connections()) peer_keys.push_back(peer.public_key);
  EXPECT_THAT(peer_keys, ::testing::UnorderedElementsAre(server_key_, viz2_key));
  EXPECT_TRUE(a->Request("ping").get().ok());
  EXPECT_TRUE(b->Request("ping").get().ok());
  ProcessModule::Finalize();
}

TEST_F(Curve, AServerKeyWithoutAKeyPairIsRefusedNotDialedInClear) {
  Options o;
  o.name = "plain-multi";
  o.role = Role::kClient;
  o.multiple_connections = true;
  Result<ProcessModule*> module = ProcessModule::Initialize(o);
  ASSERT_TRUE(module.ok()) << module.status().ToString();
  ASSERT_TRUE((*module)->Start().ok());
  // A plain listener: a clear-text dial would reach it with a HELLO.
  zmq::context_t context;
  zmq::socket_t listener(context, zmq::socket_type::router);
  listener.set(zmq::sockopt::linger, 0);
  listener.bind("tcp://127.0.0.1:0");
  Result<Connection> c = (*module)->ConnectToRemote(listener.get(zmq::sockopt::last_endpoint),
                                                    {.server_public_key = keys_.Public("server")});
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(c.status().message(), HasSubstr("needs security.curve.secret_key_file"));
  EXPECT_TRUE((*module)->Connections().empty());
  zmq::pollitem_t item{listener.handle(), 0, ZMQ_POLLIN, 0};
  EXPECT_EQ(zmq::poll(&item, 1, milliseconds(300)), 0) << "something was dialed in clear text";
  ProcessModule::Finalize();
}

TEST_F(Curve, ARenderClientNamesTheRenderServersOwnKey) {
  const std::string render_key = keys_.Make("render");
  std::string data_endpoint, render_endpoint;
  auto data = StartServerWithKey("server", {"--server-type", "data"}, &data_endpoint);
  auto render = StartServerWithKey("render", {"--server-type", "render"}, &render_endpoint);
  ASSERT_FALSE(data_endpoint.empty());
  ASSERT_FALSE(render_endpoint.empty());
  auto host_port = [](const std::string& endpoint) { return endpoint.substr(6); };  // tcp://
  const std::string url = "cdsrs://" + host_port(data_endpoint) + "/" + host_port(render_endpoint);

  // --server-key alone names the data server's key, which the render server has not.
  ToolRun one_key = RunCli(Concat({"connect", url}, KeyFlags(keys_, "alice", "server")));
  EXPECT_EQ(one_key.code, 5);
  EXPECT_THAT(one_key.output, HasSubstr(kHandshakeFailed));

  ToolRun run = RunTool(Concat({PROCMOD_CLI, "connect", url, "--render-server-key", render_key},
                               KeyFlags(keys_, "alice", "server")),
                        /*stderr_only=*/false, kDeadline);
  EXPECT_EQ(run.code, 0) << run.output << render->Transcript();
  EXPECT_THAT(run.output, HasSubstr("  role:     data-server"));
  EXPECT_THAT(run.output, HasSubstr("  role:     render-server"));
}

TEST_F(Curve, ACurveClientToAPlainServerIsToldSo) {
  ServerProcess plain(PROCMOD_SERVER, {"--port", "0", "--multi-clients"});
  const std::string endpoint = plain.WaitReady();
  ToolRun run = RunCli(Concat({"ping", "-c", "1", endpoint}, KeyFlags(keys_, "alice", "server")));
  EXPECT_EQ(run.code, 5);
  // "... does not use CURVE, but security.curve is set here" when libzmq reports the
  // mechanism mismatch; the general line when the server hangs up first.
  EXPECT_THAT(run.output, HasSubstr("procmod: handshake failed: "));
}

TEST_F(Curve, ReloadAddsAndRemovesKeysAndKeepsAdmittedPeers) {
  const std::string admin = UniqueAdminEndpoint("curve-reload");
  auto server = StartServer({"--admin", admin});
  Subprocess alice(Concat({PROCMOD_CLI, "ping", "-c", "0", "-i", "50ms", endpoint_},
                          KeyFlags(keys_, "alice", "server")));
  ASSERT_TRUE(alice.WaitForLine("reply from", kDeadline));

  // SIGHUP: mallory in, alice out.
  keys_.Authorize("mallory");
  keys_.Revoke("alice");
  server->Signal(SIGHUP);
  ASSERT_TRUE(server->WaitFor("authorized keys reloaded")) << server->Transcript();
  EXPECT_EQ(
      RunCli(Concat({"ping", "-c", "1", endpoint_}, KeyFlags(keys_, "mallory", "server"))).code, 0);
  EXPECT_EQ(RunCli(Concat({"ping", "-c", "1", endpoint_}, KeyFlags(keys_, "alice", "server"))).code,
            5);
  // The admitted alice keeps getting replies.
  alice.ReadAll(milliseconds(0));  // what came before
  EXPECT_TRUE(alice.WaitForLine("reply from", kDeadline));

  // The admin method does the same and says what changed.
  keys_.Authorize("alice");
  Result<Reply> reply = AdminRequest(admin, "security.reload");
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  json result = json::from_msgpack(reply->result);
  EXPECT_EQ(result["keys"], 2);
  EXPECT_EQ(result["added"], json::array({"alice"}));
  EXPECT_EQ(result["removed"], json::array());
  EXPECT_EQ(RunCli(Concat({"ping", "-c", "1", endpoint_}, KeyFlags(keys_, "alice", "server"))).code,
            0);
  alice.Signal(SIGINT);
  EXPECT_EQ(alice.Wait(kDeadline), 0);
  RemoveIpcFile(admin);
}

TEST_F(Curve, ASecretKeyOthersCanReadIsRefusedAtStart) {
  chmod(keys_.Secret("server").c_str(), 0644);
  ServerProcess server(PROCMOD_SERVER,
                       {"--config", dir_.Write("s.yaml", "listen: tcp://127.0.0.1:0\n" +
                                                             SecurityYaml(keys_.Secret("server"),
                                                                          keys_.AuthorizedDir()))});
  EXPECT_EQ(server.Wait(), 2);
  EXPECT_THAT(server.Transcript(), HasSubstr("chmod 600 " + keys_.Secret("server")));
  EXPECT_THAT(server.Transcript(), HasSubstr("s.yaml:2: "));  // the file and line
}

TEST_F(Curve, ANonLoopbackAdminEndpointWithoutCurveIsRefusedAtStart) {
  // Refused before anything binds, so no address beyond loopback is touched.
  ServerProcess server(PROCMOD_SERVER, {"--port", "0", "--admin", "tcp://0.0.0.0:0"});
  EXPECT_EQ(server.Wait(), 2);
  EXPECT_THAT(server.Transcript(), HasSubstr("requires CURVE"));
}

TEST_F(Curve, TheWireCarriesNoPlaintext) {
  const std::string secret = "the-quick-brown-fox-payload-4711";
  auto send_through_proxy = [&](const std::string& endpoint, std::vector<std::string> flags) {
    const int port = std::stoi(endpoint.substr(endpoint.rfind(':') + 1));
    RecordingProxy proxy(port);
    ToolRun run = RunCli(Concat({"send", proxy.endpoint(), secret}, flags));
    EXPECT_EQ(run.code, 0) << run.output;
    return proxy.Recorded();
  };
  {  // The control: without CURVE the payload is there to read, so the search works.
    ServerProcess plain(PROCMOD_SERVER, {"--port", "0", "--multi-clients"});
    const std::string recorded = send_through_proxy(plain.WaitReady(), {});
    EXPECT_THAT(recorded, HasSubstr(secret));
  }
  auto server = StartServer();
  const std::string recorded = send_through_proxy(endpoint_, KeyFlags(keys_, "alice", "server"));
  EXPECT_GT(recorded.size(), secret.size());  // a session went through
  EXPECT_EQ(recorded.find(secret), std::string::npos);
  EXPECT_EQ(recorded.find("procmod-cli"), std::string::npos);  // nor the HELLO's name
}

TEST_F(Curve, AReverseClientAdmitsOnlyListedServers) {
  keys_.Authorize("server");  // the client's allow-list holds server keys
  keys_.Make("viz-client");
  Subprocess wait({PROCMOD_CLI, "wait", "--listen", "tcp://127.0.0.1:0", "--timeout", "20s",
                   "--key", keys_.Secret("viz-client"), "--authorized-keys", keys_.AuthorizedDir()},
                  /*merge_stderr=*/true);
  std::optional<std::string> url = wait.WaitForLine("listening on ", kDeadline);
  ASSERT_TRUE(url);

  // A server whose key is not listed there is refused: exit 5, with the clear line.
  const std::string outsider_config = dir_.Write(
      "outsider.yaml", "mode: reverse\nclient_url: " + *url + "\n" +
                           SecurityYaml(keys_.Secret("mallory"), "", keys_.Public("viz-client")));
  ServerProcess outsider(PROCMOD_SERVER, {"--config", outsider_config});
  EXPECT_EQ(outsider.Wait(), 5);
  EXPECT_THAT(outsider.Transcript(), HasSubstr("does not admit this key"));

  const std::string config = dir_.Write(
      "reverse.yaml", "mode: reverse\nclient_url: " + *url + "\n" +
                          SecurityYaml(keys_.Secret("server"), "", keys_.Public("viz-client")));
  ServerProcess server(PROCMOD_SERVER, {"--config", config});
  EXPECT_TRUE(wait.WaitForLine("server connected from ", kDeadline)) << server.Transcript();
  EXPECT_EQ(wait.Wait(kDeadline), 0);
  EXPECT_EQ(server.Wait(), 0);
}

TEST_F(Curve, TheBrokerChecksKeysOnBothLegs) {
  keys_.Make("broker");
  keys_.Make("viz-server");
  keys_.Authorize("viz-server");
  const std::string broker_config =
      dir_.Write("broker.yaml", "listen: tcp://127.0.0.1:0\nadmin:\n  endpoint: none\n" +
                                    SecurityYaml(keys_.Secret("broker"), keys_.AuthorizedDir()));
  Daemon broker = StartDaemon({PROCMOD_BROKER, "--config", broker_config}, kBrokerReady, true);
  ASSERT_FALSE(broker.endpoint.empty());

  // A server with an unlisted key cannot register.
  const std::string outsider = dir_.Write(
      "outsider.yaml", "mode: broker\nbroker_url: " + broker.endpoint + "\nservice: viz\n" +
                           SecurityYaml(keys_.Secret("mallory"), "", keys_.Public("broker")));
  ServerProcess refused(PROCMOD_SERVER, {"--config", outsider});
  EXPECT_EQ(refused.Wait(), 5);

  const std::string config = dir_.Write(
      "server.yaml", "mode: broker\nbroker_url: " + broker.endpoint + "\nservice: viz\n" +
                         "multiple_connections: true\n" +
                         SecurityYaml(keys_.Secret("viz-server"), "", keys_.Public("broker")));
  ServerProcess server(PROCMOD_SERVER, {"--config", config});
  ASSERT_TRUE(server.WaitFor("registered as viz")) << server.Transcript();

  const std::string url = "broker+" + broker.endpoint + "/viz";
  EXPECT_EQ(RunCli(Concat({"ping", "-c", "1", url}, KeyFlags(keys_, "alice", "broker"))).code, 0);
  EXPECT_EQ(RunCli(Concat({"ping", "-c", "1", url}, KeyFlags(keys_, "mallory", "broker"))).code, 5);
  EXPECT_EQ(RunCli({"ping", "-c", "1", url}).code, 5);
}

TEST_F(Curve, ATcpAdminEndpointSpeaksCurve) {
  zmq::context_t context;
  const std::string admin = FreeTcpEndpoint(context);
  auto server = StartServer({"--admin", admin});
  ASSERT_FALSE(endpoint_.empty());
  ToolRun with_keys = RunTool(Concat({PROCMOD_MONITOR, "--admin", admin, "info", "--json"},
                                     KeyFlags(keys_, "alice", "server")),
                              false, kDeadline);
  EXPECT_EQ(with_keys.code, 0) << with_keys.output;
  EXPECT_EQ(json::parse(with_keys.output)["name"], "curve-e2e");
  // A refused handshake is exit 5 in the monitor as in procmod (procmod/exit_codes.h).
  ToolRun plain = RunTool({PROCMOD_MONITOR, "--admin", admin, "info"}, true, kDeadline);
  EXPECT_EQ(plain.code, 5) << plain.output;
  EXPECT_THAT(plain.output, HasSubstr(kHandshakeFailed));
  ToolRun unlisted = RunTool(
      Concat({PROCMOD_MONITOR, "--admin", admin, "info"}, KeyFlags(keys_, "mallory", "server")),
      true, kDeadline);
  EXPECT_EQ(unlisted.code, 5) << unlisted.output;
  EXPECT_EQ(
      RunCli(Concat({"ping", "-c", "1", endpoint_}, KeyFlags(keys_, "mallory", "server"))).code, 5);
}

}  // namespace
}  // namespace procmod::testing
