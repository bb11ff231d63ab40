// Message level, against the real procmod-broker binary: RawDealers play the server
// and its clients (both dial out to the broker's ROUTER), in raw PMP/1 frames, and
// each test checks the frames that come back, the lines it prints and how it exits.
//
// No fixed ports (`--port 0`, the real endpoint comes from the ready line), an admin
// endpoint only where the test is about it (a unique ipc:// path), and no sleeping to
// synchronise: every wait is for a frame, a line or an exit, with a deadline. Tests
// about expiry use a 100 ms x 3 heartbeat from a YAML file; meanwhile the legs that
// must stay alive send PINGs while the test waits.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "procmod/admin_client.h"
#include "procmod/config.h"
#include "support/curve_test_keys.h"
#include "support/daemons.h"
#include "support/raw_peer.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"

#ifndef PROCMOD_BROKER
#error "PROCMOD_BROKER must name the procmod-broker binary"
#endif
#ifndef PROCMOD_CONFIG_DIR
#error "PROCMOD_CONFIG_DIR must name the config/ directory of examples"
#endif

namespace procmod::testing {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::duration_cast;

constexpr std::string_view kShortHeartbeat = "heartbeat: {interval: 100ms, liveness: 3}\n";
constexpr milliseconds kShortExpiry{300};  // 100 ms x 3
// How late past interval x liveness an expiry may be noticed and told: a tick (a
// quarter interval) plus scheduling on a loaded CI machine.
constexpr milliseconds kExpirySlack{250};

milliseconds Since(Clock::time_point start) {
  return duration_cast<milliseconds>(Clock::now() - start);
}

// procmod-broker as a child process: `--port 0` unless `args` name a `--listen`
// endpoint (a broker that comes back where an earlier one was), `--admin none`
// unless they name one, and the test's args. Its log (stderr) goes to the test's
// output.
class Broker {
 public:
  explicit Broker(std::vector<std::string> args = {}) {
    if (std::find(args.begin(), args.end(), "--admin") == args.end()) {
      args.insert(args.end(), {"--admin", "none"});
    }
    if (std::find(args.begin(), args.end(), "--listen") == args.end()) {
      args.insert(args.begin(), {"--port", "0"});
    }
    args.insert(args.begin(), {PROCMOD_BROKER, "--name", "test-broker"});
    daemon_ = StartDaemon(std::move(args), kBrokerReady);
  }

  // Stops it cleanly (SIGTERM) if the test did not, so its admin socket file goes.
  ~Broker() {
    if (killed_) return;
    daemon_.process->Signal(SIGTERM);
    EXPECT_EQ(daemon_.process->Wait(kDeadline), 0);
  }

  // A crash: SIGKILL, so nobody hears a BYE; returns once it is gone.
  void Kill() {
    daemon_.process->Signal(SIGKILL);
    EXPECT_EQ(daemon_.process->Wait(kDeadline), 128 + SIGKILL);
    killed_ = true;
  }
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  const std::string& endpoint() const { return daemon_.endpoint; }
  Subprocess& process() { return *daemon_.process; }

 private:
  Daemon daemon_;
  bool killed_ = false;
};

// Runs procmod-broker to completion with `args`; its exit code and all it printed.
std::pair<std::optional<int>, std::string> RunToExit(std::vector<std::string> args) {
  args.insert(args.begin(), PROCMOD_BROKER);
  Subprocess process(std::move(args), /*merge_stderr=*/true);
  std::string output = process.ReadAll(kDeadline);
  return {process.Wait(kDeadline), output};
}

pmp::Hello ServerHello(std::string service, bool multi = false, uint64_t connect_id = 0,
                       std::string role = "server") {
  pmp::Hello hello = MakeHello(std::move(role), "viz-node", connect_id);
  hello.service = std::move(service);
  hello.multi = multi;
  hello.software = "procmod 0.1.0";
  return hello;
}

pmp::Hello ClientHello(std::string service, uint64_t connect_id = 0, std::string name = "alice") {
  pmp::Hello hello = MakeHello("client", std::move(name), connect_id);
  hello.service = std::move(service);
  return hello;
}

pmp::Ping Ping() {
  return pmp::Ping{
      .t = static_cast<uint64_t>(
          duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch()).count())};
}

std::string Pack(const json& value) {
  std::vector<uint8_t> bytes = json::to_msgpack(value);
  return std::string(bytes.begin(), bytes.end());
}

// The texts of `frames`, byte for byte.
std::vector<std::string> Texts(const pmp::Frames& frames) {
  std::vector<std::string> texts;
  for (const auto& frame : frames) texts.push_back(Text(frame));
  return texts;
}

pmp::Frames FramesOf(const std::vector<std::string>& texts) {
  pmp::Frames frames;
  for (const std::string& t : texts) frames.emplace_back(t.data(), t.size());
  return frames;
}

// Receives on `dealer` while each of `alive` sends a PING every 20 ms, so the legs a
// test needs keep their sessions while another one goes silent.
std::optional<pmp::Message> ReceiveKeepingAlive(RawDealer& dealer, std::vector<RawDealer*> alive,
                                                milliseconds timeout = kDeadline) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    for (RawDealer* d : alive) d->Send(Ping());
    const auto slice =
        std::min(milliseconds(20), duration_cast<milliseconds>(deadline - Clock::now()));
    if (std::optional<pmp::Message> m = dealer.Receive(std::max(slice, milliseconds(1)))) {
      return m;
    }
  }
  return std::nullopt;
}

// The broker's answer to an admin `method`, decoded ({} and a failure if none).
json Admin(const std::string& endpoint, const std::string& method, const json& args = {}) {
  Result<Reply> reply = AdminRequest(endpoint, method, args.is_null() ? "" : Pack(args));
  EXPECT_TRUE(reply.ok()) << method << ": " << reply.status().ToString();
  if (!reply.ok() || reply->result.empty()) return json();
  return json::from_msgpack(reply->result);
}

class BrokerTest : public ::testing::Test {
 protected:
  std::unique_ptr<RawDealer> Dealer(const Broker& broker) {
    return std::make_unique<RawDealer>(context_, broker.endpoint());
  }

  // HELLO as a server of `service`; the WELCOME (nothing and a failure otherwise).
  std::optional<pmp::Welcome> Register(RawDealer& server, const std::string& service,
                                       bool multi = false, uint64_t connect_id = 0) {
    std::optional<pmp::Welcome> welcome = server.Hello(ServerHello(service, multi, connect_id));
    EXPECT_TRUE(welcome.has_value()) << "no WELCOME for server of " << service;
    return welcome;
  }

  // HELLO as a client of `service`; its session. Also checks the server's JOINED.
  std::string Join(RawDealer& client, RawDealer& server, const std::string& service,
                   uint64_t connect_id = 0, const std::string& name = "alice") {
    std::optional<pmp::Welcome> welcome = client.Hello(ClientHello(service, connect_id, name));
    EXPECT_TRUE(welcome.has_value()) << "no WELCOME for client " << name;
    if (!welcome) return "";
    std::optional<pmp::Joined> joined = As<pmp::Joined>(server.Receive());
    EXPECT_TRUE(joined.has_value()) << "no JOINED for client " << name;
    if (joined) {
      EXPECT_EQ(joined->session, welcome->session);
      EXPECT_EQ(joined->name, name);
      EXPECT_EQ(joined->role, "client");
    }
    return welcome->session;
  }

  // HELLO as a server of `service` that resumes its clients' sessions (PMP/1.2).
  std::optional<pmp::Welcome> RegisterResuming(RawDealer& server, const std::string& service,
                                               uint64_t grace_ms = 30000) {
    pmp::Hello hello = ServerHello(service, /*multi=*/true);
    hello.resume_grace_ms = grace_ms;
    std::optional<pmp::Welcome> welcome = server.Hello(hello);
    EXPECT_TRUE(welcome.has_value()) << "no WELCOME for server of " << service;
    return welcome;
  }

  // HELLO with `resume: true` as a client of `service`: its WELCOME. Checks the
  // server's JOINED, and that it carries the WELCOME's token.
  std::optional<pmp::Welcome> JoinResumable(RawDealer& client, RawDealer& server,
                                            const std::string& service,
                                            const std::string& name = "alice") {
    pmp::Hello hello = ClientHello(service, 0, name);
    hello.resume = true;
    std::optional<pmp::Welcome> welcome = client.Hello(hello);
    EXPECT_TRUE(welcome.has_value()) << "no WELCOME for client " << name;
    std::optional<pmp::Joined> joined = As<pmp::Joined>(server.Receive());
    EXPECT_TRUE(joined.has_value()) << "no JOINED for client " << name;
    if (welcome && joined) {
      EXPECT_EQ(joined->session, welcome->session);
      EXPECT_EQ(joined->resume_token, welcome->resume_token);
      EXPECT_FALSE(joined->resume);
    }
    return welcome;
  }

  std::optional<pmp::Deny> Denied(RawDealer& dealer, const pmp::Hello& hello) {
    dealer.Send(hello);
    return As<pmp::Deny>(dealer.Receive());
  }

  zmq::context_t context_;
  TempDir dir_;
};

// ---- registration and admission ---------------------------------------------------

TEST_F(BrokerTest, ServerRegistersAndGetsWelcomeFromTheBroker) {
  Broker broker;
  auto server = Dealer(broker);
  std::optional<pmp::Welcome> welcome = Register(*server, "viz", /*multi=*/true);
  ASSERT_TRUE(welcome);
  EXPECT_EQ(welcome->session.size(), 16u);
  EXPECT_EQ(welcome->session.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(welcome->role, "broker");
  EXPECT_EQ(welcome->name, "test-broker");
  EXPECT_EQ(welcome->version, std::string(pmp::kProtocolVersion));
  EXPECT_EQ(welcome->software, "procmod 0.1.0");
  EXPECT_EQ(welcome->heartbeat_ms, 1000u);
  EXPECT_EQ(welcome->liveness, 3u);
  EXPECT_TRUE(welcome->multi);
}

TEST_F(BrokerTest, SecondServerForAServiceGetsDeny409) {
  Broker broker;
  auto first = Dealer(broker);
  auto second = Dealer(broker);
  ASSERT_TRUE(Register(*first, "viz"));
  std::optional<pmp::Deny> deny = Denied(*second, ServerHello("viz"));
  ASSERT_TRUE(deny);
  EXPECT_EQ(deny->code, 409u);
  EXPECT_EQ(deny->reason, "service viz already has a server");
  // Another service is fine.
  EXPECT_TRUE(Register(*second, "other"));
}

TEST_F(BrokerTest, AResumableClientGetsATokenOnlyWhenItsServerResumes) {
  Broker broker;
  auto resuming = Dealer(broker);
  auto plain = Dealer(broker);
  ASSERT_TRUE(RegisterResuming(*resuming, "viz", /*grace_ms=*/45000));
  ASSERT_TRUE(Register(*plain, "plain", /*multi=*/true));
  auto client = Dealer(broker);
  std::optional<pmp::Welcome> welcome = JoinResumable(*client, *resuming, "viz");
  ASSERT_TRUE(welcome);
  EXPECT_EQ(welcome->resume_token.size(), 32u);
  EXPECT_EQ(welcome->resume_token.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(welcome->resume_grace_ms, 45000u);  // the server's grace
  // A server that registered without resume_grace_ms: as before, no token.
  auto other = Dealer(broker);
  pmp::Hello hello = ClientHello("plain");
  hello.resume = true;
  std::optional<pmp::Welcome> none = other->Hello(hello);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->resume_token.empty());
  EXPECT_EQ(none->resume_grace_ms, 0u);
  std::optional<pmp::Joined> joined = As<pmp::Joined>(plain->Receive());
  ASSERT_TRUE(joined);
  EXPECT_TRUE(joined->resume_token.empty());
  // A RESUME without `service` (procmod 0.1's broker gave no token): 410.
  auto stranger = Dealer(broker);
  stranger->Send(pmp::Resume{welcome->session, welcome->resume_token, 0});
  std::optional<pmp::Deny> deny = As<pmp::Deny>(stranger->Receive());
  ASSERT_TRUE(deny);
  EXPECT_EQ(deny->code, 410u);
  EXPECT_EQ(deny->reason, "gone: no resumable session " + welcome->session +
                              "; a RESUME to a broker needs `service`");
}

TEST_F(BrokerTest, HelloWithoutServiceGetsDeny400) {
  Broker broker;
  auto server = Dealer(broker);
  std::optional<pmp::Deny> deny = Denied(*server, ServerHello(""));
  ASSERT_TRUE(deny);
  EXPECT_EQ(deny->code, 400u);
  EXPECT_EQ(deny->reason, "HELLO to a broker needs a service");
}

TEST_F(BrokerTest, OtherMajorVersionGetsDeny426NamingBoth) {
  Broker broker;
  auto server = Dealer(broker);
  pmp::Hello hello = ServerHello("viz");
  hello.version = "2.1";
  std::optional<pmp::Deny> deny = Denied(*server, hello);
  ASSERT_TRUE(deny);
  EXPECT_EQ(deny->code, 426u);
  EXPECT_NE(deny->reason.find("2.1"), std::string::npos) << deny->reason;
  EXPECT_NE(deny->reason.find(std::string(pmp::kProtocolVersion)), std::string::npos)
      << deny->reason;
}

TEST_F(BrokerTest, ClientOfUnknownServiceGetsDeny404) {
  Broker broker;
  auto server = Dealer(broker);
  auto client = Dealer(broker);
  ASSERT_TRUE(Register(*server, "viz"));
  std::optional<pmp::Deny> deny = Denied(*client, ClientHello("vis"));
  ASSERT_TRUE(deny);
  EXPECT_EQ(deny->code, 404u);
  EXPECT_EQ(deny->reason, "unknown service vis");
}

TEST_F(BrokerTest, ClientWithWrongConnectIdGetsDeny403) {
  Broker broker;
  auto server = Dealer(broker);
  auto client = Dealer(broker);
  ASSERT_TRUE(Register(*server, "viz", /*multi=*/true, /*connect_id=*/1234));
  std::optional<pmp::Deny> deny = Denied(*client, ClientHello("viz", 99));
  ASSERT_TRUE(deny);
  EXPECT_EQ(deny->code, 403u);
  EXPECT_EQ(deny->reason, "connect-id 99 does not match");
  EXPECT_FALSE(Join(*client, *server, "viz", 1234).empty());
}

TEST_F(BrokerTest, ClientGetsTheServersWelcomeAndTheServerGetsJoined) {
  Broker broker;
  auto server = Dealer(broker);
  auto client = Dealer(broker);
  ASSERT_TRUE(server->Hello(ServerHello("viz", true, 0, "render-server")));
  std::optional<pmp::Welcome> welcome = client->Hello(ClientHello("viz", 0, "bob"));
  ASSERT_TRUE(welcome);
  EXPECT_EQ(welcome->role, "render-server");
  EXPECT_EQ(welcome->name, "viz-node");
  EXPECT_EQ(welcome->version, std::string(pmp::kProtocolVersion));
  EXPECT_EQ(welcome->software, "procmod 0.1.0");
  EXPECT_EQ(welcome->heartbeat_ms, 1000u);
  EXPECT_EQ(welcome->liveness, 3u);
  EXPECT_TRUE(welcome->multi);
  std::optional<pmp::Joined> joined = As<pmp::Joined>(server->Receive());
  ASSERT_TRUE(joined);
  EXPECT_EQ(joined->session, welcome->session);
  EXPECT_EQ(joined->name, "bob");
  EXPECT_EQ(joined->role, "client");
}

TEST_F(BrokerTest, SingleServerSecondClientGetsDeny409) {
  Broker broker;
  auto server = Dealer(broker);
  auto first = Dealer(broker);
  auto second = Dealer(broker);
  ASSERT_TRUE(Register(*server, "viz", /*multi=*/false));
  ASSERT_FALSE(Join(*first, *server, "viz").empty());
  std::optional<pmp::Deny> deny = Denied(*second, ClientHello("viz", 0, "carol"));
  ASSERT_TRUE(deny);
  EXPECT_EQ(deny->code, 409u);
  EXPECT_EQ(deny->reason, "service viz already has its client (single-connection server)");
  // The server heard nothing of the refused client.
  EXPECT_FALSE(server->Receive(milliseconds(100)).has_value());
}

TEST_F(BrokerTest, NonHelloWithoutSessionGetsError404) {
  Broker broker;
  auto stranger = Dealer(broker);
  stranger->Send(pmp::Data{.channel = "x"}, TextFrames({"hi"}));
  std::optional<pmp::Error> error = As<pmp::Error>(stranger->Receive());
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, 404u);
  EXPECT_EQ(error->reason, "unknown session; send HELLO");
}

TEST_F(BrokerTest, HelloAgainReplacesTheClientsSession) {
  Broker broker;
  auto server = Dealer(broker);
  auto client = Dealer(broker);
  ASSERT_TRUE(Register(*server, "viz", true));
  const std::string old_session = Join(*client, *server, "viz");
  std::optional<pmp::Welcome> welcome = client->Hello(ClientHello("viz"));
  ASSERT_TRUE(welcome);
  EXPECT_NE(welcome->session, old_session);
  std::optional<pmp::Left> left = As<pmp::Left>(server->Receive());
  ASSERT_TRUE(left);
  EXPECT_EQ(left->session, old_session);
  EXPECT_EQ(left->reason, "bye");
  std::optional<pmp::Joined> joined = As<pmp::Joined>(server->Receive());
  ASSERT_TRUE(joined);
  EXPECT_EQ(joined->session, welcome->session);
}

// ---- CURVE ------------------------------------------------------------------------

// PROTOCOL §15: a message whose key is not its HELLO's comes from whoever holds the
// routing id now (ROUTER handover); the broker ends that leg, as the process module
// ends such a session, and tells its partner as for any leg it lost.
TEST_F(BrokerTest, CurveMessageWithAnotherKeyEndsTheLegAndItsServerHearsLeft) {
  CurveTestKeys keys(dir_.path());
  const CurveTestKey broker_key = keys.Make("broker", /*authorize=*/false);
  const CurveTestKey viz = keys.Make("viz", /*authorize=*/true);
  const CurveTestKey alice = keys.Make("alice", /*authorize=*/true);
  const CurveTestKey mallory = keys.Make("mallory", /*authorize=*/true);  // its handshake passes
  const std::string config = dir_.Write(
      "curve.yaml", "security:\n  curve:\n    secret_key_file: " + broker_key.secret_file +
                        "\n    authorized_keys_dir: " + keys.AuthorizedDir() + "\n");
  Broker broker({"--config", config});
  // Nobody redials: the takeover closes alice's connection, and it stays closed.
  auto dial = [&](const CurveTestKey& key, std::string routing_id) {
    return std::make_unique<RawDealer>(context_, broker.endpoint(),
                                       RawDealerSetup{.routing_id = std::move(routing_id),
                                                      .curve = key.pair,
                                                      .server_key = broker_key.pair.public_key,
                                                      .reconnect = false});
  };
  auto server = dial(viz, "");
  ASSERT_TRUE(Register(*server, "viz", /*multi=*/true));
  auto honest = dial(alice, "taken-over");
  const std::string session = Join(*honest, *server, "viz");
  ASSERT_FALSE(session.empty());

  auto intruder = dial(mallory, "taken-over");
  intruder->Send(pmp::Data{.channel = "x"}, TextFrames({"not alice"}));
  // The server hears that alice's session is gone, and nothing of the DATA.
  std::optional<pmp::Left> left = As<pmp::Left>(server->Receive());
  ASSERT_TRUE(left);
  EXPECT_EQ(left->session, session);
  EXPECT_EQ(left->reason, "expired");
  // No session is left behind that routing id: the intruder must HELLO for its own.
  intruder->Send(pmp::Data{.channel = "x"}, TextFrames({"still not alice"}));
  std::optional<pmp::Error> error = As<pmp::Error>(intruder->Receive());
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, 404u);
}

// ---- relaying ---------------------------------------------------------------------

TEST_F(BrokerTest, RelaysBothWaysWithPeerAndIdsIntact) {
  Broker broker;
  auto server = Dealer(broker);
  auto client = Dealer(broker);
  auto other = Dealer(broker);
  ASSERT_TRUE(Register(*server, "viz", true));
  const std::string session = Join(*client, *server, "viz");
  const std::string other_session = Join(*other, *server, "viz", 0, "zed");

  std::string big(100 * 1024, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 % 256);
  const std::vector<std::string> request_payload = {std::string("\0\x01\xff", 3), "", big, "tail"};
  const std::string args = Pack(json{{"view", 3}, {"quality", "high"}});

  // Client -> server: REQUEST with `peer` added, id, method, args and payload as sent.
  client->Send(pmp::Request{.id = 77, .method = "render", .args = args}, FramesOf(request_payload));
  std::optional<pmp::Message> at_server = server->Receive();
  std::optional<pmp::Request> request = As<pmp::Request>(at_server);
  ASSERT_TRUE(request);
  EXPECT_EQ(request->peer, session);
  EXPECT_EQ(request->id, 77u);
  EXPECT_EQ(request->method, "render");
  EXPECT_EQ(request->args, args);
  EXPECT_EQ(Texts(at_server->payload), request_payload);

  // Server -> client: REPLY with the same id; `peer` names the client and is cleared.
  const std::vector<std::string> reply_payload = {"image", big.substr(0, 4096)};
  server->Send(pmp::Reply{.id = 77, .code = 0, .result = Pack(json{{"ok", true}}), .peer = session},
               FramesOf(reply_payload));
  std::optional<pmp::Message> at_client = client->Receive();
  std::optional<pmp::Reply> reply = As<pmp::Reply>(at_client);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->id, 77u);
  EXPECT_EQ(reply->code, 0u);
  EXPECT_EQ(reply->peer, "");
  EXPECT_EQ(reply->result, Pack(json{{"ok", true}}));
  EXPECT_EQ(Texts(at_client->payload), reply_payload);

  // Server -> client REQUEST, client -> server REPLY (the other direction of a call).
  server->Send(pmp::Request{.id = 5, .method = "ask", .peer = other_session}, TextFrames({"q"}));
  std::optional<pmp::Message> at_other = other->Receive();
  ASSERT_TRUE(As<pmp::Request>(at_other));
  EXPECT_EQ(As<pmp::Request>(at_other)->id, 5u);
  EXPECT_EQ(As<pmp::Request>(at_other)->peer, "");
  other->Send(pmp::Reply{.id = 5, .code = 500, .error = "no"}, TextFrames({"a", "b"}));
  at_server = server->Receive();
  ASSERT_TRUE(As<pmp::Reply>(at_server));
  EXPECT_EQ(As<pmp::Reply>(at_server)->id, 5u);
  EXPECT_EQ(As<pmp::Reply>(at_server)->code, 500u);
  EXPECT_EQ(As<pmp::Reply>(at_server)->error, "no");
  EXPECT_EQ(As<pmp::Reply>(at_server)->peer, other_session);
  EXPECT_EQ(Texts(at_server->payload), (std::vector<std::string>{"a", "b"}));

  // DATA both ways, channel kept; a client cannot pose as another with `peer`.
  client->Send(pmp::Data{.channel = "scene", .peer = other_session}, TextFrames({"d1", "d2"}));
  at_server = server->Receive();
  ASSERT_TRUE(As<pmp::Data>(at_server));
  EXPECT_EQ(As<pmp::Data>(at_server)->channel, "scene");
  EXPECT_EQ(As<pmp::Data>(at_server)->peer, session);
  EXPECT_EQ(Texts(at_server->payload), (std::vector<std::string>{"d1", "d2"}));
  server->Send(pmp::Data{.channel = "frame", .peer = other_session}, TextFrames({"px"}));
  at_other = other->Receive();
  ASSERT_TRUE(As<pmp::Data>(at_other));
  EXPECT_EQ(As<pmp::Data>(at_other)->channel, "frame");
  EXPECT_EQ(As<pmp::Data>(at_other)->peer, "");
  EXPECT_EQ(Texts(at_other->payload), (std::vector<std::string>{"px"}));
  // Only the client `peer` named got it.
  EXPECT_FALSE(client->Receive(milliseconds(100)).has_value());
}

// The header map of a raw envelope frame with nothing after the map, as JSON.
json HeaderOf(const zmq::message_t& envelope) {
  const std::string bytes = Text(envelope);
  return bytes.size() > 5 ? json::from_msgpack(bytes.substr(5)) : json();
}

zmq::message_t RawEnvelope(pmp::Command command, const json& header) {
  std::string bytes = "PMP1";
  bytes.push_back(static_cast<char>(command));
  bytes += Pack(header);
  return zmq::message_t(bytes.data(), bytes.size());
}

TEST_F(BrokerTest, HeaderKeysItDoesNotKnowPassThroughBothWays) {
  // A newer client and server may agree on a key this broker has never heard of
  // (PROTOCOL §5.3: minor versions add optional keys); the relay keeps it.
  Broker broker;
  auto server = Dealer(broker);
  auto client = Dealer(broker);
  ASSERT_TRUE(Register(*server, "viz"));
  const std::string session = Join(*client, *server, "viz");

  pmp::Frames request;
  request.push_back(RawEnvelope(pmp::Command::kRequest,
                                json{{"id", 9}, {"method", "m"}, {"x-trace", {{"span", 42}}}}));
  client->SendFrames(std::move(request));
  std::optional<pmp::Frames> at_server = server->ReceiveFrames();
  ASSERT_TRUE(at_server && at_server->size() == 1u);
  EXPECT_EQ(HeaderOf(at_server->front()),
            (json{{"id", 9}, {"method", "m"}, {"x-trace", {{"span", 42}}}, {"peer", session}}));

  pmp::Frames reply;
  reply.push_back(RawEnvelope(pmp::Command::kReply,
                              json{{"id", 9}, {"code", 0}, {"peer", session}, {"x-cost", 1.5}}));
  server->SendFrames(std::move(reply));
  std::optional<pmp::Frames> at_client = client->ReceiveFrames();
  ASSERT_TRUE(at_client && at_client->size() == 1u);
  EXPECT_EQ(HeaderOf(at_client->front()), (json{{"id", 9}, {"code", 0}, {"x-cost", 1.5}}));
}

TEST_F(BrokerTest, EachLegGetsSmallPayloadsInTheLayoutItsVersionReads) {
  // Protocol 1.1 puts a small single payload in the envelope; a 1.0 peer would call
  // that malformed. The broker re-encodes per leg, whatever the sender did.
  Broker broker;
  auto server = Dealer(broker);
  auto current = Dealer(broker);
  auto old = Dealer(broker);
  ASSERT_TRUE(Register(*server, "viz", true));
  const std::string current_session = Join(*current, *server, "viz", 0, "current");
  pmp::Hello old_hello = ClientHello("viz", 0, "old");
  old_hello.version = "1.0";
  std::optional<pmp::Welcome> old_welcome = old->Hello(old_hello);
  ASSERT_TRUE(old_welcome);
  ASSERT_TRUE(As<pmp::Joined>(server->Receive()));

  // From the 1.0 client, in frames: the 1.1 server gets one frame.
  old->Send(pmp::Data{.channel = "c"}, TextFrames({"from old"}));
  std::optional<pmp::Frames> at_server = server->ReceiveFrames();
  ASSERT_TRUE(at_server);
  EXPECT_EQ(at_server->size(), 1u);
  // From the server, inline: the 1.0 client gets a frame of its own, the 1.1 one not.
  for (const std::string& to : {old_welcome->session, current_session}) {
    server->SendFrames(pmp::Encode(pmp::Data{.peer = to}, TextFrames({"to " + to}),
                                   pmp::PayloadForm::kInlineSmall));
  }
  std::optional<pmp::Frames> at_old = old->ReceiveFrames();
  std::optional<pmp::Frames> at_current = current->ReceiveFrames();
  ASSERT_TRUE(at_old && at_current);
  EXPECT_EQ(at_old->size(), 2u);
  EXPECT_EQ(Text(at_old->back()), "to " + old_welcome->session);
  EXPECT_EQ(at_current->size(), 1u);
}

TEST_F(BrokerTest, ServerMessagesNeedThePeerOfOneOfItsClients) {
  Broker broker;
  auto server = Dealer(broker);
  auto client = Dealer(broker);
  ASSERT_TRUE(Register(*server, "viz", true));
  ASSERT_FALSE(Join(*client, *server, "viz").empty());
  server->Send(pmp::Data{.channel = "x"}, TextFrames({"no peer"}));
  std::optional<pmp::Error> error = As<pmp::Error>(server->Receive());
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, 400u);
  EXPECT_EQ(error->reason, "relayed messages from a server need `peer`");
  // A client that is not (or no longer) the server's: dropped quietly, since the
  // server has its LEFT; an ERROR 404 would read as "your own session is gone".
  server->Send(pmp::Request{.id = 1, .method = "m", .peer = "0123456789abcdef"});
  EXPECT_FALSE(server->Receive(milliseconds(100)).has_value());
  EXPECT_FALSE(client->Receive(milliseconds(100)).has_value());
}

// ---- ends of sessions ---------------------------------------------------------------

TEST_F(BrokerTest, ClientByeSendsLeftByeToTheServer) {
  Broker broker;
  auto server = Dealer(broker);
  auto client = Dealer(broker);
  ASSERT_TRUE(Register(*server, "viz", true));
  const std::string session = Join(*client, *server, "viz");
  client->Send(pmp::Bye{"done"});
  std::optional<pmp::Left> left = As<pmp::Left>(server->Receive());
  ASSERT_TRUE(left);
  EXPECT_EQ(left->session, session);
  EXPECT_EQ(left->reason, "bye");
  // Its session is gone.
  client->Send(pmp::Data{}, TextFrames({"late"}));
  std::optional<pmp::Error> error = As<pmp::Error>(client->Receive());
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, 404u);
}

TEST_F(BrokerTest, SilentClientExpiresWithLeftExpired) {
  Broker broker({"--config", dir_.Write("short.yaml", kShortHeartbeat)});
  auto server = Dealer(broker);
  auto client = Dealer(broker);
  std::optional<pmp::Welcome> welcome = Register(*server, "viz", true);
  ASSERT_TRUE(welcome);
  EXPECT_EQ(welcome->heartbeat_ms, 100u);
  const std::string session = Join(*client, *server, "viz");
  const auto silent_since = Clock::now();  // the client never sends again
  std::optional<pmp::Left> left = As<pmp::Left>(ReceiveKeepingAlive(*server, {server.get()}));
  ASSERT_TRUE(left);
  EXPECT_EQ(left->session, session);
  EXPECT_EQ(left->reason, "expired");
  EXPECT_LE(Since(silent_since), kShortExpiry + kExpirySlack);
}

TEST_F(BrokerTest, ServerByeSendsByeServerLeftToItsClients) {
  Broker broker;
  auto server = Dealer(broker);
  auto first = Dealer(broker);
  auto second = Dealer(broker);
  auto later = Dealer(broker);
  ASSERT_TRUE(Register(*server, "viz", true));
  Join(*first, *server, "viz");
  Join(*second, *server, "viz", 0, "bob");
  server->Send(pmp::Bye{"done"});
  for (RawDealer* client : {first.get(), second.get()}) {
    std::optional<pmp::Bye> bye = As<pmp::Bye>(client->Receive());
    ASSERT_TRUE(bye);
    EXPECT_EQ(bye->reason, "server left");
  }
  // The service is gone with its server.
  std::optional<pmp::Deny> deny = Denied(*later, ClientHello("viz"));
  ASSERT_TRUE(deny);
  EXPECT_EQ(deny->code, 404u);
}

TEST_F(BrokerTest, SilentServerExpiresAndItsClientsGetByeServerLost) {
  Broker broker({"--config", dir_.Write("short.yaml", kShortHeartbeat)});
  auto server = Dealer(broker);
  auto client = Dealer(broker);
  auto replacement = Dealer(broker);
  ASSERT_TRUE(Register(*server, "viz", true));
  Join(*client, *server, "viz");
  server->Send(Ping());
  const auto silent_since = Clock::now();  // the server never sends again
  std::optional<pmp::Bye> bye = As<pmp::Bye>(ReceiveKeepingAlive(*client, {client.get()}));
  ASSERT_TRUE(bye);
  EXPECT_EQ(bye->reason, "server lost");
  const milliseconds took = Since(silent_since);
  EXPECT_GE(took, kShortExpiry - milliseconds(20));
  EXPECT_LE(took, kShortExpiry + kExpirySlack);
  // The registration went with it: a new server may take the name.
  EXPECT_TRUE(Register(*replacement, "viz"));
}

// ---- resume ------------------------------------------------------------------------

TEST_F(BrokerTest, LostClientResumesFromANewDealerWithItsSessionAndDataFlowsBothWays) {
  Broker broker({"--config", dir_.Write("short.yaml", kShortHeartbeat)});
  auto server = Dealer(broker);
  auto client = Dealer(broker);
  ASSERT_TRUE(RegisterResuming(*server, "viz"));
  std::optional<pmp::Welcome> welcome = JoinResumable(*client, *server, "viz");
  ASSERT_TRUE(welcome);
  const std::string session = welcome->session;
  // The client's link goes quiet: its server hears LEFT expired, as for any client
  // (a resuming server suspends the session on it).
  std::optional<pmp::Left> left = As<pmp::Left>(ReceiveKeepingAlive(*server, {server.get()}));
  ASSERT_TRUE(left);
  EXPECT_EQ(left->session, session);
  EXPECT_EQ(left->reason, "expired");

  // It comes back on a new connection with RESUME; the server decides.
  auto back = Dealer(broker);
  back->Send(pmp::Resume{session, welcome->resume_token, 2, "viz"});
  std::optional<pmp::Joined> joined = As<pmp::Joined>(ReceiveKeepingAlive(*server, {server.get()}));
  ASSERT_TRUE(joined);
  EXPECT_EQ(joined->session, session);
  EXPECT_EQ(joined->role, "client");
  EXPECT_TRUE(joined->resume);
  EXPECT_EQ(joined->resume_token, welcome->resume_token);
  EXPECT_EQ(joined->received, 2u);
  server->Send(pmp::Resumed{session, 1});
  std::optional<pmp::Resumed> resumed =
      As<pmp::Resumed>(ReceiveKeepingAlive(*back, {server.get()}));
  ASSERT_TRUE(resumed);
  EXPECT_EQ(resumed->session, session);
  EXPECT_EQ(resumed->received, 1u);

  // The same session on the new leg, seq and ack carried as they came.
  back->Send(pmp::Data{.channel = "c", .seq = 2, .ack = 3}, TextFrames({"again"}));
  std::optional<pmp::Message> m = ReceiveKeepingAlive(*server, {server.get(), back.get()});
  ASSERT_TRUE(As<pmp::Data>(m));
  EXPECT_EQ(As<pmp::Data>(m)->peer, session);
  EXPECT_EQ(As<pmp::Data>(m)->seq, 2u);
  EXPECT_EQ(As<pmp::Data>(m)->ack, 3u);
  EXPECT_EQ(Texts(m->payload), std::vector<std::string>{"again"});
  server->Send(pmp::Data{.channel = "c", .peer = session, .seq = 4, .ack = 2}, TextFrames({"hi"}));
  m = ReceiveKeepingAlive(*back, {server.get(), back.get()});
  ASSERT_TRUE(As<pmp::Data>(m));
  EXPECT_EQ(As<pmp::Data>(m)->peer, "");
  EXPECT_EQ(As<pmp::Data>(m)->seq, 4u);
  EXPECT_EQ(Texts(m->payload), std::vector<std::string>{"hi"});
}

TEST_F(BrokerTest, ServerByeWithPeerRefusesTheResumeWithDeny410AndItsReason) {
  Broker broker;
  auto server = Dealer(broker);
  auto client = Dealer(broker);
  ASSERT_TRUE(RegisterResuming(*server, "viz"));
  std::optional<pmp::Welcome> welcome = JoinResumable(*client, *server, "viz");
  ASSERT_TRUE(welcome);
  client->Send(pmp::Bye{"done"});  // ended for good at the server
  ASSERT_TRUE(As<pmp::Left>(server->Receive()));
  // The broker keeps nothing of the session: the server answers the RESUME.
  auto back = Dealer(broker);
  back->Send(pmp::Resume{welcome->session, welcome->resume_token, 0, "viz"});
  std::optional<pmp::Joined> joined = As<pmp::Joined>(server->Receive());
  ASSERT_TRUE(joined);
  EXPECT_TRUE(joined->resume);
  const std::string reason = "gone: no resumable session " + welcome->session;
  server->Send(pmp::Bye{reason, welcome->session});
  std::optional<pmp::Deny> deny = As<pmp::Deny>(back->Receive());
  ASSERT_TRUE(deny);
  EXPECT_EQ(deny->code, 410u);
  EXPECT_EQ(deny->reason, reason);
  // The server's BYE about one client is not the server's: it is still registered.
  auto newcomer = Dealer(broker);
  EXPECT_FALSE(Join(*newcomer, *server, "viz", 0, "bob").empty());
}

TEST_F(BrokerTest, ServerByeWithPeerEndsThatClientsSessionOnly) {
  Broker broker;
  auto server = Dealer(broker);
  auto first = Dealer(broker);
  auto second = Dealer(broker);
  ASSERT_TRUE(RegisterResuming(*server, "viz"));
  std::optional<pmp::Welcome> a = JoinResumable(*first, *server, "viz");
  const std::string b = Join(*second, *server, "viz", 0, "bob");
  ASSERT_TRUE(a);
  server->Send(pmp::Bye{"resume buffer full", a->session});
  std::optional<pmp::Bye> bye = As<pmp::Bye>(first->Receive());
  ASSERT_TRUE(bye);
  EXPECT_EQ(bye->reason, "resume buffer full");
  EXPECT_FALSE(server->Receive(milliseconds(100)).has_value());  // no LEFT back
  second->Send(pmp::Data{.channel = "c"}, TextFrames({"still here"}));
  std::optional<pmp::Message> m = server->Receive();
  ASSERT_TRUE(As<pmp::Data>(m));
  EXPECT_EQ(As<pmp::Data>(m)->peer, b);
}

TEST_F(BrokerTest, ResumeForAServiceWithNoServerGetsDeny404) {
  Broker broker;
  auto client = Dealer(broker);
  client->Send(pmp::Resume{"0123456789abcdef", std::string(32, 'a'), 0, "viz"});
  std::optional<pmp::Deny> deny = As<pmp::Deny>(client->Receive());
  ASSERT_TRUE(deny);
  EXPECT_EQ(deny->code, 404u);
  EXPECT_EQ(deny->reason, "no server for service viz");
}

TEST_F(BrokerTest, SilentServerLeavesResumableClientsWithoutByeAndOthersGetServerLost) {
  Broker broker({"--config", dir_.Write("short.yaml", kShortHeartbeat)});
  auto server = Dealer(broker);
  auto resumable = Dealer(broker);
  auto plain = Dealer(broker);
  ASSERT_TRUE(RegisterResuming(*server, "viz"));
  ASSERT_TRUE(JoinResumable(*resumable, *server, "viz"));
  Join(*plain, *server, "viz", 0, "bob");
  server->Send(Ping());  // then never again
  std::optional<pmp::Bye> bye =
      As<pmp::Bye>(ReceiveKeepingAlive(*plain, {plain.get(), resumable.get()}));
  ASSERT_TRUE(bye);
  EXPECT_EQ(bye->reason, "server lost");
  // The resumable client heard no BYE: its next message tells it to start again
  // (with a RESUME, once its server is back).
  resumable->Send(Ping());
  std::optional<pmp::Error> error = As<pmp::Error>(resumable->Receive());
  ASSERT_TRUE(error) << "a resumable client must get no BYE";
  EXPECT_EQ(error->code, 404u);
  EXPECT_EQ(error->reason, "unknown session; send HELLO");
}

// The next PING `dealer` gets that carries `ack` (the broker's own heartbeat PINGs
// carry none).
std::optional<pmp::Ping> NextAckPing(RawDealer& dealer) {
  const auto deadline = Clock::now() + kDeadline;
  while (Clock::now() < deadline) {
    std::optional<pmp::Ping> ping = As<pmp::Ping>(dealer.Receive(kDeadline, /*skip_pings=*/false));
    if (ping && ping->ack) return ping;
  }
  return std::nullopt;
}

TEST_F(BrokerTest, PingsCarryAcksAndResendRequestsBothWays) {
  Broker broker;
  auto server = Dealer(broker);
  auto client = Dealer(broker);
  ASSERT_TRUE(RegisterResuming(*server, "viz"));
  std::optional<pmp::Welcome> welcome = JoinResumable(*client, *server, "viz");
  ASSERT_TRUE(welcome);
  pmp::Ping from_client = Ping();
  from_client.ack = 3;
  from_client.sent = 5;
  from_client.resend = true;
  client->Send(from_client);
  std::optional<pmp::Ping> at_server = NextAckPing(*server);
  ASSERT_TRUE(at_server);
  EXPECT_EQ(at_server->peer, welcome->session);
  EXPECT_EQ(at_server->ack, 3u);
  EXPECT_EQ(at_server->sent, 5u);
  EXPECT_TRUE(at_server->resend);
  EXPECT_FALSE(at_server->echo.has_value());

  pmp::Ping from_server = Ping();
  from_server.ack = 7;
  from_server.peer = welcome->session;
  server->Send(from_server);
  std::optional<pmp::Ping> at_client = NextAckPing(*client);
  ASSERT_TRUE(at_client);
  EXPECT_EQ(at_client->ack, 7u);
  EXPECT_FALSE(at_client->sent.has_value());
  EXPECT_FALSE(at_client->resend);
  EXPECT_EQ(at_client->peer, "");
  EXPECT_EQ(at_client->echo, from_client.t);  // the broker's PING on that leg
}

TEST_F(BrokerTest, ARestartedBrokerTakesAResumeToTheRegisteredAgainServer) {
  auto first = std::make_unique<Broker>();
  const std::string endpoint = first->endpoint();
  ASSERT_FALSE(endpoint.empty());
  auto server = Dealer(*first);
  auto client = Dealer(*first);
  ASSERT_TRUE(RegisterResuming(*server, "viz"));
  std::optional<pmp::Welcome> welcome = JoinResumable(*client, *server, "viz");
  ASSERT_TRUE(welcome);
  first->Kill();  // it knew the token; the new one knows nothing

  Broker second({"--listen", endpoint});
  ASSERT_EQ(second.endpoint(), endpoint);
  // The server registers again; the client RESUMEs naming its service.
  auto server_again = Dealer(second);
  ASSERT_TRUE(RegisterResuming(*server_again, "viz"));
  auto client_again = Dealer(second);
  client_again->Send(pmp::Resume{welcome->session, welcome->resume_token, 4, "viz"});
  std::optional<pmp::Joined> joined = As<pmp::Joined>(server_again->Receive());
  ASSERT_TRUE(joined);
  EXPECT_EQ(joined->session, welcome->session);
  EXPECT_TRUE(joined->resume);
  EXPECT_EQ(joined->resume_token, welcome->resume_token);
  EXPECT_EQ(joined->received, 4u);
  server_again->Send(pmp::Resumed{welcome->session, 0});
  std::optional<pmp::Resumed> resumed = As<pmp::Resumed>(client_again->Receive());
  ASSERT_TRUE(resumed);
  EXPECT_EQ(resumed->session, welcome->session);
  server_again->Send(pmp::Data{.channel = "c", .peer = welcome->session}, TextFrames({"hi"}));
  EXPECT_TRUE(As<pmp::Data>(client_again->Receive()));
}

// ---- malformed input -----------------------------------------------------------------

TEST_F(BrokerTest, MalformedInputGetsError400AndOthersKeepWorking) {
  Broker broker;
  auto server = Dealer(broker);
  auto client = Dealer(broker);
  auto stranger = Dealer(broker);
  ASSERT_TRUE(Register(*server, "viz", true));
  const std::string session = Join(*client, *server, "viz");

  std::vector<pmp::Frames> garbage;
  garbage.push_back(TextFrames({"PMP"}));                           // too short
  garbage.push_back(TextFrames({"XXXX\x06\x80"}));                  // signature
  garbage.push_back(TextFrames({std::string("PMP1\x0f\x80", 6)}));  // unknown command
  garbage.push_back(TextFrames({std::string("PMP1\x06\x01", 6)}));  // header not a map
  garbage.push_back(FramesOf({std::string("PMP1\x05\x80", 6), "payload on BYE"}));
  for (RawDealer* sender : {stranger.get(), client.get(), server.get()}) {
    for (const pmp::Frames& frames : garbage) {
      pmp::Frames copy;
      for (const auto& f : frames) copy.emplace_back(f.data(), f.size());
      sender->SendFrames(std::move(copy));
      std::optional<pmp::Error> error = As<pmp::Error>(sender->Receive());
      ASSERT_TRUE(error) << "no ERROR for a malformed message";
      EXPECT_EQ(error->code, 400u);  // 400 before 404: decoding comes first
    }
  }
  // Nothing reached anyone else, no session ended, and relaying still works.
  client->Send(pmp::Data{.channel = "c"}, TextFrames({"still here"}));
  std::optional<pmp::Message> m = server->Receive();
  ASSERT_TRUE(As<pmp::Data>(m));
  EXPECT_EQ(As<pmp::Data>(m)->peer, session);
  EXPECT_EQ(Texts(m->payload), std::vector<std::string>{"still here"});
}

TEST_F(BrokerTest, MalformedMessagesAreNotLife) {
  Broker broker({"--config", dir_.Write("short.yaml", kShortHeartbeat)});
  auto server = Dealer(broker);
  auto client = Dealer(broker);
  ASSERT_TRUE(Register(*server, "viz", true));
  const std::string session = Join(*client, *server, "viz");
  // The client sends only garbage; the server stays alive; the client still expires.
  const auto deadline = Clock::now() + kDeadline;
  std::optional<pmp::Left> left;
  while (!left && Clock::now() < deadline) {
    client->SendFrames(TextFrames({"PMP"}));
    left = As<pmp::Left>(ReceiveKeepingAlive(*server, {server.get()}, milliseconds(40)));
  }
  ASSERT_TRUE(left);
  EXPECT_EQ(left->session, session);
  EXPECT_EQ(left->reason, "expired");
}

TEST_F(BrokerTest, SlowClientGetsDropsNotAStalledBroker) {
  // send_queue 10: the broker queues at most 10 messages for a peer that does not
  // read; the rest is dropped and counted, and everyone else is served meanwhile.
  const std::string admin = UniqueAdminEndpoint("procmod-broker-test");
  Broker broker(
      {"--admin", admin, "--config", dir_.Write("small-queue.yaml", "limits: {send_queue: 10}\n")});
  auto server = Dealer(broker);
  auto fast = Dealer(broker);
  ASSERT_TRUE(Register(*server, "viz", true));
  // The slow client reads nothing after its WELCOME and queues one message at most.
  zmq::socket_t slow(context_, zmq::socket_type::dealer);
  slow.set(zmq::sockopt::linger, 0);
  slow.set(zmq::sockopt::rcvhwm, 1);
  slow.connect(broker.endpoint());
  zmq::send_multipart(slow, pmp::Encode(ClientHello("viz", 0, "slow")));
  pmp::Frames welcome;
  zmq::pollitem_t item{slow.handle(), 0, ZMQ_POLLIN, 0};
  ASSERT_EQ(zmq::poll(&item, 1, kDeadline), 1);
  ASSERT_TRUE(zmq::recv_multipart(slow, std::back_inserter(welcome)));
  std::optional<pmp::Joined> slow_joined = As<pmp::Joined>(server->Receive());
  ASSERT_TRUE(slow_joined);
  const std::string fast_session = Join(*fast, *server, "viz", 0, "fast");

  const std::string block(64 * 1024, 'x');
  for (int i = 0; i < 500; ++i) {
    server->Send(pmp::Data{.channel = "flood", .peer = slow_joined->session}, TextFrames({block}));
  }
  // The broker takes the server's messages in order: once the fast client has this,
  // the whole flood went through the loop.
  server->Send(pmp::Data{.channel = "after", .peer = fast_session}, TextFrames({"hi"}));
  std::optional<pmp::Data> after = As<pmp::Data>(fast->Receive());
  ASSERT_TRUE(after);
  EXPECT_EQ(after->channel, "after");

  json info = Admin(admin, "process.info");
  EXPECT_GT(info.value("dropped", 0), 0) << info.dump();
  EXPECT_GT(info.value("relayed", 0), 0) << info.dump();
  json connections = Admin(admin, "connections.list");
  for (const json& peer : connections) {
    if (peer["session"] == slow_joined->session) {
      EXPECT_GT(peer.value("dropped", 0), 0) << peer.dump();
    } else {
      EXPECT_EQ(peer.value("dropped", 0), 0) << peer.dump();
    }
  }
}

// ---- admin endpoint ----------------------------------------------------------------

TEST_F(BrokerTest, AdminListsServicesAndConnectionsAndClosesSessions) {
  const std::string admin = UniqueAdminEndpoint("procmod-broker-test");
  Broker broker({"--admin", admin});
  auto server = Dealer(broker);
  auto first = Dealer(broker);
  auto second = Dealer(broker);
  std::optional<pmp::Welcome> registered = Register(*server, "viz", true);
  ASSERT_TRUE(registered);
  const std::string a = Join(*first, *server, "viz");
  const std::string b = Join(*second, *server, "viz", 0, "bob");

  json services = Admin(admin, "services.list");
  ASSERT_TRUE(services.is_array()) << services.dump();
  ASSERT_EQ(services.size(), 1u);
  EXPECT_EQ(services[0]["service"], "viz");
  EXPECT_EQ(services[0]["server"], registered->session);
  EXPECT_EQ(services[0]["server_name"], "viz-node");
  EXPECT_EQ(services[0]["role"], "server");
  EXPECT_EQ(services[0]["multi"], true);
  EXPECT_EQ(services[0]["clients"], (json{a, b}));

  json connections = Admin(admin, "connections.list");
  ASSERT_TRUE(connections.is_array()) << connections.dump();
  ASSERT_EQ(connections.size(), 3u);
  EXPECT_EQ(connections[0]["session"], registered->session);  // oldest first
  EXPECT_EQ(connections[0]["role"], "server");
  EXPECT_EQ(connections[0]["service"], "viz");
  EXPECT_EQ(connections[0]["clients"], 2);
  for (int i : {1, 2}) {
    EXPECT_EQ(connections[i]["role"], "client");
    EXPECT_EQ(connections[i]["service"], "viz");
    EXPECT_EQ(connections[i]["server"], registered->session);
    EXPECT_TRUE(connections[i].contains("rtt_us"));
    EXPECT_TRUE(connections[i].contains("msgs_in"));
  }
  EXPECT_EQ(connections[1]["session"], a);
  EXPECT_EQ(connections[2]["name"], "bob");

  json info = Admin(admin, "process.info");
  EXPECT_EQ(info["name"], "test-broker");
  EXPECT_EQ(info["role"], "broker");
  EXPECT_EQ(info["listen"], broker.endpoint());
  EXPECT_EQ(info["admin"], admin);
  EXPECT_EQ(info["pid"], broker.process().pid());
  EXPECT_EQ(info["services"], 1);
  EXPECT_EQ(info["connections"], 3);
  EXPECT_TRUE(info["uptime_ms"].is_number());

  // connections.close: BYE to the client, LEFT bye to its server.
  json closed = Admin(admin, "connections.close", json{{"session", a}});
  EXPECT_EQ(closed["closed"], true);
  std::optional<pmp::Bye> bye = As<pmp::Bye>(first->Receive());
  ASSERT_TRUE(bye);
  EXPECT_EQ(bye->reason, "closed by the administrator");
  std::optional<pmp::Left> left = As<pmp::Left>(server->Receive());
  ASSERT_TRUE(left);
  EXPECT_EQ(left->session, a);
  EXPECT_EQ(Admin(admin, "services.list")[0]["clients"], json{b});

  Result<Reply> unknown = AdminRequest(admin, "connections.close", Pack(json{{"session", a}}));
  EXPECT_EQ(unknown.status().pmp_code(), 404u);
  Result<Reply> collab = AdminRequest(admin, "collab.accept", Pack(json{{"enabled", false}}));
  EXPECT_EQ(collab.status().pmp_code(), 404u);
}

// ---- the process ---------------------------------------------------------------------

TEST_F(BrokerTest, SigtermSaysByeToEveryoneAndExits0WithinASecond) {
  const std::string admin = UniqueAdminEndpoint("procmod-broker-test");
  const std::string admin_file = admin.substr(std::string_view("ipc://").size());
  Broker broker({"--admin", admin});
  EXPECT_TRUE(std::filesystem::exists(admin_file));
  auto server = Dealer(broker);
  auto client = Dealer(broker);
  ASSERT_TRUE(Register(*server, "viz", true));
  Join(*client, *server, "viz");
  const auto signalled = Clock::now();
  broker.process().Signal(SIGTERM);
  for (RawDealer* peer : {server.get(), client.get()}) {
    std::optional<pmp::Bye> bye = As<pmp::Bye>(peer->Receive());
    ASSERT_TRUE(bye);
    EXPECT_EQ(bye->reason, "broker shutting down");
  }
  EXPECT_EQ(broker.process().Wait(kDeadline), 0);
  EXPECT_LT(Since(signalled), milliseconds(1000));
  EXPECT_FALSE(std::filesystem::exists(admin_file)) << "a clean exit removes its socket file";
}

TEST_F(BrokerTest, SigintExits0) {
  Broker broker;
  broker.process().Signal(SIGINT);
  EXPECT_EQ(broker.process().Wait(kDeadline), 0);
}

TEST_F(BrokerTest, BadConfigExits2NamingTheKey) {
  auto [code, output] =
      RunToExit({"--config", dir_.Write("typo.yaml", "hearbeat: {interval: 1s}\n")});
  EXPECT_EQ(code, 2);
  EXPECT_NE(output.find("typo.yaml:1"), std::string::npos) << output;
  EXPECT_NE(output.find("'hearbeat'"), std::string::npos) << output;

  std::tie(code, output) =
      RunToExit({"--config", dir_.Write("value.yaml", "name: b\nheartbeat:\n  interval: fast\n")});
  EXPECT_EQ(code, 2);
  EXPECT_NE(output.find("value.yaml:3"), std::string::npos) << output;
  EXPECT_NE(output.find("heartbeat.interval"), std::string::npos) << output;

  std::tie(code, output) = RunToExit({"--port", "70000"});
  EXPECT_EQ(code, 2) << output;
}

TEST_F(BrokerTest, NonLocalAdminEndpointExits2) {
  auto [code, output] = RunToExit({"--admin", "tcp://0.0.0.0:0", "--port", "0"});
  EXPECT_EQ(code, 2);
  EXPECT_NE(output.find("admin"), std::string::npos) << output;
  EXPECT_NE(output.find("not local"), std::string::npos) << output;
}

TEST_F(BrokerTest, PortInUseExits4) {
  zmq::socket_t holder(context_, zmq::socket_type::router);
  holder.set(zmq::sockopt::linger, 0);
  holder.bind("tcp://127.0.0.1:0");
  const std::string taken = holder.get(zmq::sockopt::last_endpoint);
  auto [code, output] = RunToExit({"--listen", taken, "--admin", "none"});
  EXPECT_EQ(code, 4) << output;
  EXPECT_NE(output.find(taken), std::string::npos) << output;
}

TEST_F(BrokerTest, ExampleConfigLoadsAndPassesCheckConfig) {
  const std::string example = std::string(PROCMOD_CONFIG_DIR) + "/broker.yaml";
  Result<Options> options = LoadConfig(example);
  ASSERT_TRUE(options.ok()) << options.status().ToString();
  EXPECT_EQ(options->name, "procmod-broker");
  EXPECT_EQ(options->listen, "tcp://127.0.0.1:5570");
  auto [code, output] = RunToExit({"--config", example, "--check-config"});
  EXPECT_EQ(code, 0) << output;
  EXPECT_NE(output.find("listen: tcp://127.0.0.1:5570"), std::string::npos) << output;
  EXPECT_NE(output.find("name: procmod-broker"), std::string::npos) << output;
}

TEST_F(BrokerTest, DefaultsAreTheBrokersOwn) {
  auto [code, output] = RunToExit({"--check-config"});
  EXPECT_EQ(code, 0) << output;
  EXPECT_NE(output.find("name: procmod-broker"), std::string::npos) << output;
  EXPECT_NE(output.find("listen: tcp://127.0.0.1:5570"), std::string::npos) << output;
  EXPECT_NE(output.find("endpoint: ipc:///tmp/procmod-procmod-broker.admin"), std::string::npos)
      << output;
  std::tie(code, output) = RunToExit({"--check-config", "--name", "gw", "--port", "6000"});
  EXPECT_NE(output.find("listen: tcp://127.0.0.1:6000"), std::string::npos) << output;
  EXPECT_NE(output.find("endpoint: ipc:///tmp/procmod-gw.admin"), std::string::npos) << output;
}

}  // namespace
}  // namespace procmod::testing
