// End to end: the real procmod-server binary, spawned on loopback with port 0 and
// spoken to in raw PMP/1 frames (RawDealer as its clients, RawRouter as the client a
// reverse server dials). Each test checks what a user of the daemon sees: the frames
// that come back, the lines it prints, how it exits and how fast.
//
// No fixed ports (the real endpoint comes from the "ready on" line), no admin endpoint
// unless the test is about it (then a unique ipc:// path), no sleeping to synchronise:
// every wait is for a line, a frame or an exit, with a deadline.
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "procmod/admin_client.h"
#include "procmod/config.h"
#include "support/daemons.h"
#include "support/module_fixture.h"
#include "support/proc_stats.h"
#include "support/raw_peer.h"
#include "support/recording_proxy.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"

#ifndef PROCMOD_SERVER
#error "PROCMOD_SERVER must name the procmod-server binary"
#endif
#ifndef PROCMOD_TEST_PEER
#error "PROCMOD_TEST_PEER must name the procmod_test_peer binary"
#endif
#ifndef PROCMOD_CONFIG_DIR
#error "PROCMOD_CONFIG_DIR must name the config/ directory of examples"
#endif

namespace procmod::testing {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::duration_cast;

constexpr std::string_view kConnectedPrefix = "procmod-server: connected to ";
// Used where a test waits for heartbeat expiry: 100 ms x 3 instead of 1 s x 3.
constexpr std::string_view kShortHeartbeat = "heartbeat: {interval: 100ms, liveness: 3}\n";

milliseconds Since(Clock::time_point start) {
  return duration_cast<milliseconds>(Clock::now() - start);
}

// procmod-server with `args`: one transcript of all it prints, `--admin none` unless
// `args` name one (see ServerProcess).
class Server : public ServerProcess {
 public:
  explicit Server(std::vector<std::string> args) : ServerProcess(PROCMOD_SERVER, std::move(args)) {}
};

// Runs procmod-server to completion with `args` (no --admin added: it must not get
// as far as binding); returns exit code and everything it printed.
std::pair<std::optional<int>, std::string> RunToExit(std::vector<std::string> args) {
  args.insert(args.begin(), PROCMOD_SERVER);
  Subprocess process(std::move(args), /*merge_stderr=*/true);
  std::string output = process.ReadAll(kDeadline);
  return {process.Wait(kDeadline), output};
}

std::string Pack(const json& value) {
  std::vector<uint8_t> bytes = json::to_msgpack(value);
  return std::string(bytes.begin(), bytes.end());
}

pmp::Request MakeRequest(uint64_t id, std::string method, const json& args = nullptr) {
  pmp::Request request{.id = id, .method = std::move(method)};
  if (!args.is_null()) request.args = Pack(args);
  return request;
}

// Sends REQUEST `method` and returns the REPLY with the same id. DATA that comes
// first (collab announcements, broadcasts) is skipped and appended to `skipped`.
std::optional<pmp::Message> Call(RawDealer& dealer, uint64_t id, std::string method,
                                 const json& args = nullptr, pmp::Frames payload = {},
                                 std::vector<pmp::Message>* skipped = nullptr) {
  dealer.Send(MakeRequest(id, std::move(method), args), std::move(payload));
  const auto deadline = Clock::now() + kDeadline;
  for (;;) {
    std::optional<pmp::Message> m =
        dealer.Receive(duration_cast<milliseconds>(deadline - Clock::now()));
    if (!m) {
      ADD_FAILURE() << "no REPLY to request " << id;
      return std::nullopt;
    }
    if (m->command() == pmp::Command::kData) {
      if (skipped != nullptr) skipped->push_back(std::move(*m));
      continue;
    }
    if (m->command() != pmp::Command::kReply) {
      ADD_FAILURE() << "expected REPLY, got " << pmp::CommandName(m->command());
      return std::nullopt;
    }
    EXPECT_EQ(std::get<pmp::Reply>(m->header).id, id);
    return m;
  }
}

// The REPLY code of `method` called with `args` (or -1 when none came).
int64_t CallCode(RawDealer& dealer, uint64_t id, std::string method, const json& args) {
  std::optional<pmp::Reply> reply = As<pmp::Reply>(Call(dealer, id, std::move(method), args));
  return reply ? static_cast<int64_t>(reply->code) : -1;
}

// The next collab event `dealer` receives: DATA on channel "collab", one JSON text.
std::optional<json> NextEvent(RawDealer& dealer) {
  std::optional<pmp::Message> m = dealer.Receive();
  std::optional<pmp::Data> data = As<pmp::Data>(m);
  if (!data || data->channel != "collab" || m->payload.size() != 1) {
    ADD_FAILURE() << "expected DATA on channel collab, got "
                  << (m ? std::string(pmp::CommandName(m->command())) +
                              (data ? " on channel '" + data->channel + "'" : "")
                        : std::string("nothing"));
    return std::nullopt;
  }
  json event = json::parse(Text(m->payload[0]), nullptr, /*allow_exceptions=*/false);
  EXPECT_TRUE(event.is_object()) << Text(m->payload[0]);
  return event;
}

// True when the next collab event on `dealer` is {"event": kind, "session": session}
// (and names `name`, when given).
::testing::AssertionResult GetsEvent(RawDealer& dealer, const std::string& kind,
                                     const std::string& session, const std::string& name = "") {
  std::optional<json> event = NextEvent(dealer);
  if (!event) return ::testing::AssertionFailure() << "no " << kind << " event";
  if (event->value("event", "") != kind || event->value("session", "") != session ||
      (!name.empty() && event->value("name", "") != name)) {
    return ::testing::AssertionFailure() << "expected " << kind << " of " << session << " '" << name
                                         << "', got " << event->dump();
  }
  return ::testing::AssertionSuccess();
}

// HELLO as `name` (connect-id `id`); the DENY that comes back, if one does.
std::optional<pmp::Deny> HelloDenied(RawDealer& dealer, const std::string& name, uint64_t id = 0) {
  dealer.Send(MakeHello("client", name, id));
  return As<pmp::Deny>(dealer.Receive());
}

// The next message that is not DATA (broadcasts, collab news), which is skipped.
std::optional<pmp::Message> ReceiveSkippingData(RawDealer& dealer,
                                                milliseconds timeout = kDeadline) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    std::optional<pmp::Message> m = dealer.Receive(
        std::max(milliseconds(0), duration_cast<milliseconds>(deadline - Clock::now())));
    if (!m || m->command() != pmp::Command::kData) return m;
  }
}

// ---------------------------------------------------------------------------------
// Forward, one client (F1-F4)
// ---------------------------------------------------------------------------------

TEST(ServerForward, WelcomesItsClientWithItsNameAndRole) {
  zmq::context_t context;
  Server server({"--port", "0", "--name", "e2e-single"});
  const std::string endpoint = server.WaitReady();
  EXPECT_EQ(endpoint.rfind("tcp://127.0.0.1:", 0), 0u) << endpoint;
  EXPECT_NE(endpoint, "tcp://127.0.0.1:0");  // the real port, not the requested 0

  RawDealer client(context, endpoint);
  std::optional<pmp::Welcome> welcome = client.Hello(MakeHello("client", "alice"));
  ASSERT_TRUE(welcome.has_value());
  EXPECT_FALSE(welcome->session.empty());
  EXPECT_EQ(welcome->role, "server");
  EXPECT_EQ(welcome->name, "e2e-single");
  EXPECT_EQ(welcome->version, std::string(pmp::kProtocolVersion));
  EXPECT_EQ(welcome->heartbeat_ms, 1000u);  // the defaults: 1 s x 3
  EXPECT_EQ(welcome->liveness, 3u);
  EXPECT_FALSE(welcome->multi);
}

TEST(ServerForward, SecondClientIsDenied409) {
  zmq::context_t context;
  Server server({"--port", "0"});
  const std::string endpoint = server.WaitReady();
  RawDealer first(context, endpoint);
  ASSERT_TRUE(first.Hello(MakeHello("client", "first")).has_value());

  RawDealer second(context, endpoint);
  std::optional<pmp::Deny> deny = HelloDenied(second, "second");
  ASSERT_TRUE(deny.has_value());
  EXPECT_EQ(deny->code, 409u);

  // A real client program sees the same refusal: it reports 409 and exits 5.
  Subprocess peer({PROCMOD_TEST_PEER, "client", "forward", "single", endpoint},
                  /*merge_stderr=*/true);
  std::optional<std::string> error = peer.WaitForLine("ERROR ", kDeadline);
  ASSERT_TRUE(error.has_value());
  EXPECT_NE(error->find("409"), std::string::npos) << *error;
  EXPECT_EQ(peer.Wait(kDeadline), 5);

  // The first client is still served.
  std::optional<pmp::Reply> reply = As<pmp::Reply>(Call(first, 1, "ping"));
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->code, 0u);
}

TEST(ServerForward, PingEchoesItsPayloadFrames) {
  zmq::context_t context;
  Server server({"--port", "0"});
  RawDealer client(context, server.WaitReady());
  ASSERT_TRUE(client.Hello(MakeHello()).has_value());

  const std::string binary("\x00\x01\xff payload", 11);
  std::optional<pmp::Message> m = Call(client, 7, "ping", nullptr, TextFrames({"one", "", binary}));
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(std::get<pmp::Reply>(m->header).code, 0u);
  ASSERT_EQ(m->payload.size(), 3u);
  EXPECT_EQ(Text(m->payload[0]), "one");
  EXPECT_EQ(Text(m->payload[1]), "");
  EXPECT_EQ(Text(m->payload[2]), binary);

  std::optional<pmp::Message> empty = Call(client, 8, "ping");
  ASSERT_TRUE(empty.has_value());
  EXPECT_EQ(std::get<pmp::Reply>(empty->header).code, 0u);
  EXPECT_TRUE(empty->payload.empty());

  EXPECT_EQ(CallCode(client, 9, "no.such.method", nullptr), 404);
}

TEST(ServerForward, InfoDescribesTheServer) {
  zmq::context_t context;
  Server server({"--port", "0", "--name", "info-srv"});
  RawDealer client(context, server.WaitReady());
  ASSERT_TRUE(client.Hello(MakeHello()).has_value());

  std::optional<pmp::Reply> reply = As<pmp::Reply>(Call(client, 1, "info"));
  ASSERT_TRUE(reply.has_value());
  ASSERT_EQ(reply->code, 0u) << reply->error;
  json info = json::from_msgpack(reply->result, true, /*allow_exceptions=*/false);
  ASSERT_TRUE(info.is_object()) << "result is not a msgpack map";
  EXPECT_EQ(info["name"], "info-srv");
  EXPECT_EQ(info["role"], "server");
  EXPECT_EQ(info["mode"], "forward");
  EXPECT_EQ(info["multi"], false);
  EXPECT_EQ(info["protocol"], std::string(pmp::kProtocolVersion));
  EXPECT_EQ(info.value("software", "").rfind("procmod ", 0), 0u) << info.dump();
  ASSERT_TRUE(info["uptime_ms"].is_number_unsigned()) << info.dump();
  EXPECT_LT(info["uptime_ms"].get<uint64_t>(), 60'000u);
  EXPECT_EQ(info["clients"], 1);
}

TEST(ServerForward, ExitsZeroAfterItsClientSaysBye) {
  zmq::context_t context;
  Server server({"--port", "0"});
  RawDealer client(context, server.WaitReady());
  ASSERT_TRUE(client.Hello(MakeHello("client", "leaver")).has_value());
  client.Send(pmp::Bye{"done"});
  EXPECT_EQ(server.Wait(), 0);
  EXPECT_NE(server.Transcript().find("done: peer left"), std::string::npos);
}

TEST(ServerForward, ExitsWith3WhenItsClientGoesSilent) {
  zmq::context_t context;
  TempDir dir;
  const std::string config = dir.Write("server.yaml", kShortHeartbeat);
  Server server({"--config", config, "--port", "0"});
  RawDealer client(context, server.WaitReady());
  std::optional<pmp::Welcome> welcome = client.Hello(MakeHello());
  ASSERT_TRUE(welcome.has_value());
  EXPECT_EQ(welcome->heartbeat_ms, 100u);  // the YAML file's heartbeat is in force
  EXPECT_EQ(welcome->liveness, 3u);
  const auto admitted = Clock::now();
  // The raw client never answers or pings: gone after 100 ms x 3.
  EXPECT_EQ(server.Wait(), 3);
  EXPECT_GE(Since(admitted), milliseconds(250));
  EXPECT_LT(Since(admitted), milliseconds(2000));
  EXPECT_NE(server.Transcript().find("done: peer lost"), std::string::npos);
}

TEST(ServerForward, ExitsWith3WhenItsClientProcessIsKilled) {
  TempDir dir;
  // Resume off: the session ends at expiry (the next test has it on).
  const std::string config =
      dir.Write("server.yaml", std::string(kShortHeartbeat) + "resume: {grace: 0s}\n");
  Server server({"--config", config, "--port", "0"});
  const std::string endpoint = server.WaitReady();

  // A real procmod client in a process of its own: pings, then holds its session.
  Subprocess client({PROCMOD_TEST_PEER, "client", "forward", "single", endpoint, "0", "hold"},
                    /*merge_stderr=*/true);
  ASSERT_TRUE(client.WaitForLine("HOLDING", kDeadline).has_value());
  ASSERT_TRUE(server.WaitFor("admitted client \"test-peer-client\"").has_value());

  // A live client heartbeats: the server keeps it well past 100 ms x 3.
  EXPECT_FALSE(server.Wait(milliseconds(500)).has_value());
  client.Signal(SIGKILL);
  const auto killed = Clock::now();
  EXPECT_EQ(client.Wait(kDeadline), 128 + SIGKILL);
  EXPECT_EQ(server.Wait(), 3);
  EXPECT_LT(Since(killed), milliseconds(2000));
}

TEST(ServerForward, WaitsOutTheResumeGraceThenExitsWith3WhenItsClientIsKilled) {
  TempDir dir;
  const std::string config =
      dir.Write("server.yaml", std::string(kShortHeartbeat) + "resume: {grace: 800ms}\n");
  Server server({"--config", config, "--port", "0"});
  const std::string endpoint = server.WaitReady();
  Subprocess client({PROCMOD_TEST_PEER, "client", "forward", "single", endpoint, "0", "hold"},
                    /*merge_stderr=*/true);
  ASSERT_TRUE(client.WaitForLine("HOLDING", kDeadline).has_value());
  ASSERT_TRUE(server.WaitFor("admitted client \"test-peer-client\"").has_value());
  client.Signal(SIGKILL);
  const auto killed = Clock::now();
  EXPECT_EQ(client.Wait(kDeadline), 128 + SIGKILL);
  // Suspended at expiry (300 ms), not ended: the server stays up for the grace period.
  ASSERT_TRUE(server.WaitFor("it may resume within 800ms").has_value());
  EXPECT_EQ(server.Wait(), 3);
  EXPECT_GE(Since(killed), milliseconds(800));
  EXPECT_LT(Since(killed), milliseconds(3000));
  EXPECT_NE(server.Transcript().find("not resumed within 800ms"), std::string::npos)
      << server.Transcript();
}

TEST(ServerForward, KeepsItsClientsSessionAcrossACutLinkAndExitsOnlyWhenTheClientIsGone) {
  TempDir dir;
  const std::string config =
      dir.Write("server.yaml", std::string(kShortHeartbeat) + "resume: {grace: 2s}\n");
  Server server({"--config", config, "--port", "0"});
  const std::string endpoint = server.WaitReady();
  // The client dials the server through a proxy that can cut the link, as a blip does.
  testing::RecordingProxy proxy(std::stoi(endpoint.substr(endpoint.rfind(':') + 1)));
  Subprocess client(
      {PROCMOD_TEST_PEER, "client", "forward", "single", proxy.endpoint(), "0", "hold"},
      /*merge_stderr=*/true);
  ASSERT_TRUE(client.WaitForLine("HOLDING", kDeadline).has_value());
  proxy.SetDown(true);
  proxy.Cut();
  ASSERT_TRUE(server.WaitFor("it may resume within 2s").has_value());
  proxy.SetDown(false);
  ASSERT_TRUE(server.WaitFor("resumed from 127.0.0.1").has_value());
  EXPECT_FALSE(client.Wait(milliseconds(300)).has_value()) << "the client's session goes on";
  EXPECT_FALSE(server.Wait(milliseconds(0)).has_value()) << "so does the server";
  // Now the client really goes: the server waits out the grace, then exits 3.
  client.Signal(SIGKILL);
  EXPECT_EQ(client.Wait(kDeadline), 128 + SIGKILL);
  EXPECT_EQ(server.Wait(), 3);
  EXPECT_NE(server.Transcript().find("not resumed within 2s"), std::string::npos);
}

TEST(ServerForward, ExitsWith4WhenNoClientComesWithinAcceptTimeout) {
  TempDir dir;
  const std::string config = dir.Write("server.yaml", "timeouts: {accept: 300ms}\n");
  Server server({"--config", config, "--port", "0"});
  server.WaitReady();
  EXPECT_EQ(server.Wait(), 4);
  EXPECT_GE(Since(server.ready_at()), milliseconds(250));
  EXPECT_LT(Since(server.ready_at()), milliseconds(2000));
  EXPECT_NE(server.Transcript().find("accept timeout"), std::string::npos);
}

// ---------------------------------------------------------------------------------
// Multiple clients (M1) and the collaboration rules
// ---------------------------------------------------------------------------------

TEST(ServerMulti, BroadcastReachesEveryOtherClientButNotTheSender) {
  zmq::context_t context;
  Server server({"--port", "0", "--multi-clients"});
  const std::string endpoint = server.WaitReady();
  RawDealer a(context, endpoint), b(context, endpoint), c(context, endpoint);
  std::optional<pmp::Welcome> wa = a.Hello(MakeHello("client", "a"));
  ASSERT_TRUE(wa.has_value());
  EXPECT_TRUE(wa->multi);
  ASSERT_TRUE(b.Hello(MakeHello("client", "b")).has_value());
  ASSERT_TRUE(c.Hello(MakeHello("client", "c")).has_value());

  b.Send(pmp::Data{.channel = "broadcast"}, TextFrames({"hello", "everyone"}));
  for (RawDealer* receiver : {&a, &c}) {
    // Skip the collab announcements of the joins; the broadcast follows them.
    std::optional<pmp::Message> m;
    do {
      m = receiver->Receive();
    } while (m && As<pmp::Data>(m) && As<pmp::Data>(m)->channel == "collab");
    std::optional<pmp::Data> data = As<pmp::Data>(m);
    ASSERT_TRUE(data.has_value());
    EXPECT_EQ(data->channel, "broadcast");
    ASSERT_EQ(m->payload.size(), 2u);
    EXPECT_EQ(Text(m->payload[0]), "hello");
    EXPECT_EQ(Text(m->payload[1]), "everyone");
  }
  // The sender: everything the server sent it before the reply to a later request
  // is collab news, never its own broadcast back.
  std::vector<pmp::Message> skipped;
  ASSERT_TRUE(Call(b, 1, "ping", nullptr, {}, &skipped).has_value());
  for (const pmp::Message& m : skipped) {
    EXPECT_EQ(std::get<pmp::Data>(m.header).channel, "collab");
  }
}

// collab.subscribe's REPLY result: the collaboration state when it was asked.
std::optional<json> Subscribe(RawDealer& dealer, uint64_t id, bool enabled = true) {
  std::optional<pmp::Reply> reply =
      As<pmp::Reply>(Call(dealer, id, "collab.subscribe", {{"enabled", enabled}}));
  if (!reply || reply->code != 0) {
    ADD_FAILURE() << "collab.subscribe failed";
    return std::nullopt;
  }
  return json::from_msgpack(reply->result);
}

// True when `dealer` has no DATA waiting: a ping is answered with nothing before it.
::testing::AssertionResult HeardNothing(RawDealer& dealer, uint64_t id) {
  std::vector<pmp::Message> skipped;
  if (!Call(dealer, id, "ping", nullptr, {}, &skipped)) {
    return ::testing::AssertionFailure() << "no answer to ping";
  }
  if (!skipped.empty()) {
    return ::testing::AssertionFailure()
           << skipped.size() << " DATA message(s) arrived, e.g. on channel '"
           << std::get<pmp::Data>(skipped.front().header).channel << "'";
  }
  return ::testing::AssertionSuccess();
}

TEST(ServerMulti, SubscribersHearOfJoinsLeavesAndTheMasterHandover) {
  zmq::context_t context;
  Server server({"--port", "0", "--multi-clients"});
  const std::string endpoint = server.WaitReady();

  auto a = std::make_unique<RawDealer>(context, endpoint);
  std::optional<pmp::Welcome> wa = a->Hello(MakeHello("client", "alice"));
  ASSERT_TRUE(wa.has_value());
  std::optional<json> state = Subscribe(*a, 1);  // the state now: alice is master
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ((*state)["subscribed"], true);
  EXPECT_EQ((*state)["master"], wa->session);
  EXPECT_EQ((*state)["master_name"], "alice");
  EXPECT_EQ((*state)["clients"], 1);

  RawDealer b(context, endpoint);
  std::optional<pmp::Welcome> wb = b.Hello(MakeHello("client", "bob"));
  ASSERT_TRUE(wb.has_value());
  EXPECT_TRUE(GetsEvent(*a, "joined", wb->session, "bob"));
  ASSERT_TRUE(Subscribe(b, 1).has_value());

  RawDealer c(context, endpoint);  // never subscribes: hears nothing
  std::optional<pmp::Welcome> wc = c.Hello(MakeHello("client", "carol"));
  ASSERT_TRUE(wc.has_value());
  for (RawDealer* d : {a.get(), &b}) {
    EXPECT_TRUE(GetsEvent(*d, "joined", wc->session, "carol"));
  }

  // The master leaves: the next oldest (bob) takes over, and subscribers hear it.
  a->Send(pmp::Bye{"done"});
  a.reset();
  std::optional<json> left = NextEvent(b);
  ASSERT_TRUE(left.has_value());
  EXPECT_EQ(left->value("event", ""), "left") << left->dump();
  EXPECT_EQ(left->value("session", ""), wa->session);
  EXPECT_EQ(left->value("name", ""), "alice");
  EXPECT_EQ(left->value("reason", ""), "bye");
  EXPECT_TRUE(GetsEvent(b, "master", wb->session, "bob"));
  EXPECT_TRUE(HeardNothing(c, 1));

  // Clients keep coming and going; the server keeps serving.
  b.Send(pmp::Bye{"done"});
  ASSERT_TRUE(Eventually([&] {  // bob's BYE is in: carol alone, and master
    std::optional<pmp::Reply> info = As<pmp::Reply>(Call(c, 2, "info"));
    return info && json::from_msgpack(info->result)["clients"] == 1;
  }));
  std::optional<json> carol_state = Subscribe(c, 3);
  ASSERT_TRUE(carol_state.has_value());
  EXPECT_EQ((*carol_state)["master"], wc->session);
  RawDealer d(context, endpoint);
  std::optional<pmp::Welcome> wd = d.Hello(MakeHello("client", "dave"));
  ASSERT_TRUE(wd.has_value());
  EXPECT_TRUE(GetsEvent(c, "joined", wd->session, "dave"));

  // Unsubscribed, carol hears nothing more.
  ASSERT_TRUE(Subscribe(c, 4, /*enabled=*/false).has_value());
  RawDealer e(context, endpoint);
  ASSERT_TRUE(e.Hello(MakeHello("client", "erin")).has_value());
  EXPECT_TRUE(HeardNothing(c, 5));
  EXPECT_TRUE(HeardNothing(d, 1));
  std::optional<pmp::Reply> info = As<pmp::Reply>(Call(c, 6, "info"));
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(json::from_msgpack(info->result)["clients"], 3);
  EXPECT_FALSE(server.Wait(milliseconds(0)).has_value());  // M1: still up
}

TEST(ServerMulti, CollabSubscribeRejectsBadArguments) {
  zmq::context_t context;
  Server server({"--port", "0", "--multi-clients"});
  const std::string endpoint = server.WaitReady();
  RawDealer a(context, endpoint);
  ASSERT_TRUE(a.Hello(MakeHello("client", "a")).has_value());
  EXPECT_EQ(CallCode(a, 1, "collab.subscribe", {{"enabled", "yes"}}), 400);
  EXPECT_EQ(CallCode(a, 2, "collab.subscribe", nullptr), 0);  // no args: subscribe
}

TEST(ServerMulti, OnlyTheMasterMayDisableFurtherConnections) {
  zmq::context_t context;
  Server server({"--port", "0", "--multi-clients"});
  const std::string endpoint = server.WaitReady();
  RawDealer master(context, endpoint), other(context, endpoint);
  ASSERT_TRUE(master.Hello(MakeHello("client", "master")).has_value());
  ASSERT_TRUE(other.Hello(MakeHello("client", "other")).has_value());

  EXPECT_EQ(CallCode(other, 1, "collab.accept", {{"enabled", false}}), 403);
  RawDealer still_welcome(context, endpoint);
  EXPECT_TRUE(still_welcome.Hello(MakeHello("client", "still")).has_value());

  EXPECT_EQ(CallCode(master, 2, "collab.accept", {{"enabled", false}}), 0);
  RawDealer refused(context, endpoint);
  std::optional<pmp::Deny> deny = HelloDenied(refused, "refused");
  ASSERT_TRUE(deny.has_value());
  EXPECT_EQ(deny->code, 409u);
  EXPECT_EQ(deny->reason, "further connections are disabled");
  // Those already in stay in.
  EXPECT_EQ(CallCode(master, 3, "ping", nullptr), 0);
  EXPECT_EQ(CallCode(other, 4, "ping", nullptr), 0);
  EXPECT_EQ(CallCode(still_welcome, 5, "ping", nullptr), 0);

  EXPECT_EQ(CallCode(master, 6, "collab.accept", {{"enabled", true}}), 0);
  RawDealer admitted_again(context, endpoint);
  EXPECT_TRUE(admitted_again.Hello(MakeHello("client", "again")).has_value());
}

TEST(ServerMulti, MasterChangesTheConnectIdForNewClients) {
  zmq::context_t context;
  Server server({"--port", "0", "--multi-clients"});
  const std::string endpoint = server.WaitReady();
  RawDealer master(context, endpoint), other(context, endpoint);
  ASSERT_TRUE(master.Hello(MakeHello("client", "master")).has_value());
  ASSERT_TRUE(other.Hello(MakeHello("client", "other")).has_value());

  EXPECT_EQ(CallCode(other, 1, "collab.connect_id", {{"id", 42}}), 403);
  EXPECT_EQ(CallCode(master, 2, "collab.connect_id", {{"id", 42}}), 0);

  RawDealer old_id(context, endpoint);
  std::optional<pmp::Deny> deny = HelloDenied(old_id, "old", 0);
  ASSERT_TRUE(deny.has_value());
  EXPECT_EQ(deny->code, 403u);
  RawDealer new_id(context, endpoint);
  EXPECT_TRUE(new_id.Hello(MakeHello("client", "new", 42)).has_value());
  EXPECT_EQ(CallCode(other, 3, "ping", nullptr), 0);  // admitted before: unaffected
}

TEST(ServerMulti, DisableFurtherConnectionsFlagStartsRefusing) {
  zmq::context_t context;
  Server server({"--port", "0", "--multi-clients", "--disable-further-connections"});
  RawDealer client(context, server.WaitReady());
  std::optional<pmp::Deny> deny = HelloDenied(client, "early");
  ASSERT_TRUE(deny.has_value());
  EXPECT_EQ(deny->code, 409u);
  EXPECT_EQ(deny->reason, "further connections are disabled");
}

// ---------------------------------------------------------------------------------
// Admin endpoint
// ---------------------------------------------------------------------------------

TEST(ServerAdmin, ListsClientsAndClosesASession) {
  zmq::context_t context;
  const std::string admin_endpoint = UniqueAdminEndpoint("procmod-e2e");
  Server server({"--port", "0", "--multi-clients", "--admin", admin_endpoint});
  const std::string endpoint = server.WaitReady();
  RawDealer alice(context, endpoint), bob(context, endpoint);
  ASSERT_TRUE(alice.Hello(MakeHello("client", "alice")).has_value());
  std::optional<pmp::Welcome> wb = bob.Hello(MakeHello("client", "bob"));
  ASSERT_TRUE(wb.has_value());

  RawDealer admin(context, admin_endpoint);
  admin.Send(MakeRequest(1, "connections.list"));
  std::optional<pmp::Reply> list = As<pmp::Reply>(admin.Receive());
  ASSERT_TRUE(list.has_value());
  ASSERT_EQ(list->code, 0u) << list->error;
  json peers = json::from_msgpack(list->result);
  ASSERT_TRUE(peers.is_array());
  ASSERT_EQ(peers.size(), 2u) << peers.dump();
  EXPECT_EQ(peers[0]["name"], "alice");
  EXPECT_EQ(peers[0]["role"], "client");
  EXPECT_EQ(peers[0]["master"], true);
  EXPECT_EQ(peers[1]["name"], "bob");
  EXPECT_EQ(peers[1]["master"], false);
  EXPECT_EQ(peers[1]["session"], wb->session);

  admin.Send(MakeRequest(2, "connections.close", {{"session", wb->session}}));
  std::optional<pmp::Reply> closed = As<pmp::Reply>(admin.Receive());
  ASSERT_TRUE(closed.has_value());
  EXPECT_EQ(closed->code, 0u) << closed->error;
  EXPECT_TRUE(As<pmp::Bye>(ReceiveSkippingData(bob)).has_value());  // bob is told

  admin.Send(MakeRequest(3, "connections.list"));
  std::optional<pmp::Reply> after = As<pmp::Reply>(admin.Receive());
  ASSERT_TRUE(after.has_value());
  json remaining = json::from_msgpack(after->result);
  ASSERT_EQ(remaining.size(), 1u) << remaining.dump();
  EXPECT_EQ(remaining[0]["name"], "alice");

  server.Signal(SIGTERM);
  EXPECT_EQ(server.Wait(), 0);
  // A clean exit leaves no socket file behind (libzmq would).
  EXPECT_FALSE(std::filesystem::exists(admin_endpoint.substr(std::string("ipc://").size())));
  RemoveIpcFile(admin_endpoint);
}

TEST(ServerAdmin, ASecondServerCannotTakeTheAdminEndpointOfALiveOne) {
  zmq::context_t context;
  const std::string admin_endpoint = UniqueAdminEndpoint("procmod-e2e-dup");
  Server first({"--port", "0", "--multi-clients", "--admin", admin_endpoint});
  first.WaitReady();

  auto [code, output] = RunToExit({"--port", "0", "--admin", admin_endpoint});
  EXPECT_EQ(code, 4) << output;
  EXPECT_NE(output.find("another process is listening there"), std::string::npos) << output;

  // The first server still answers on its admin endpoint.
  RawDealer admin(context, admin_endpoint);
  admin.Send(MakeRequest(1, "process.info"));
  std::optional<pmp::Reply> info = As<pmp::Reply>(admin.Receive());
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->code, 0u);
  first.Signal(SIGTERM);
  EXPECT_EQ(first.Wait(), 0);
  RemoveIpcFile(admin_endpoint);
}

TEST(ServerAdmin, AStaleSocketFileLeftByAKilledServerIsReused) {
  const std::string admin_endpoint = UniqueAdminEndpoint("procmod-e2e-stale");
  const std::string path = admin_endpoint.substr(std::string("ipc://").size());
  {  // What a SIGKILLed server leaves: a socket file nobody listens on.
    const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    ASSERT_EQ(bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
    close(fd);
  }
  ASSERT_TRUE(std::filesystem::exists(path));
  Server server({"--port", "0", "--admin", admin_endpoint});
  EXPECT_FALSE(server.WaitReady().empty());
  server.Signal(SIGTERM);
  EXPECT_EQ(server.Wait(), 0);
  RemoveIpcFile(admin_endpoint);
}

// ---------------------------------------------------------------------------------
// Reverse mode (R2, R3)
// ---------------------------------------------------------------------------------

TEST(ServerReverse, DialsTheClientAndExitsZeroOnBye) {
  zmq::context_t context;
  RawRouter client(context);
  Server server({"--reverse", "--client-url", client.endpoint(), "--name", "rev-srv"});
  std::optional<RawRouter::Incoming> in = client.AcceptHello("client", "raw-client");
  ASSERT_TRUE(in.has_value());
  const auto& hello = std::get<pmp::Hello>(in->message.header);
  EXPECT_EQ(hello.role, "server");
  EXPECT_EQ(hello.name, "rev-srv");
  EXPECT_EQ(hello.version, std::string(pmp::kProtocolVersion));

  std::optional<std::string> connected = server.WaitFor(kConnectedPrefix);
  ASSERT_TRUE(connected.has_value());
  EXPECT_EQ(connected->substr(connected->find(kConnectedPrefix) + kConnectedPrefix.size()),
            client.endpoint());
  client.SendTo(in->routing_id, pmp::Bye{"done"});
  EXPECT_EQ(server.Wait(), 0);
}

TEST(ServerReverse, DataServerTypeSaysSoInItsHello) {
  zmq::context_t context;
  RawRouter client(context);
  Server server({"--reverse", "--client-url", client.endpoint(), "--server-type", "data"});
  std::optional<RawRouter::Incoming> in = client.AcceptHello("client");
  ASSERT_TRUE(in.has_value());
  EXPECT_EQ(std::get<pmp::Hello>(in->message.header).role, "data-server");
  ASSERT_TRUE(server.WaitFor(kConnectedPrefix).has_value());
  client.SendTo(in->routing_id, pmp::Bye{"done"});
  EXPECT_EQ(server.Wait(), 0);
}

TEST(ServerReverse, KeepsDialingAClientThatDoesNotListenYetAndSaysSo) {
  zmq::context_t context;
  const std::string endpoint = FreeTcpEndpoint(context);
  const auto started = Clock::now();
  Server server({"--reverse", "--client-url", endpoint});
  // On stderr, at the first refusal and then at growing intervals.
  std::optional<std::string> refused =
      server.WaitFor("connection refused; retrying", milliseconds(3000));
  ASSERT_TRUE(refused.has_value());
  EXPECT_LT(Since(started), milliseconds(3000));
  EXPECT_NE(refused->find("procmod: " + endpoint + ": connection refused; retrying (attempt 1, "),
            std::string::npos)
      << *refused;
  EXPECT_NE(refused->find(" of 60s)"), std::string::npos) << *refused;

  RawRouter client(context, endpoint);  // the client starts listening at last
  std::optional<RawRouter::Incoming> in = client.AcceptHello("client");
  ASSERT_TRUE(in.has_value());
  ASSERT_TRUE(server.WaitFor(kConnectedPrefix).has_value());
  client.SendTo(in->routing_id, pmp::Bye{"done"});
  EXPECT_EQ(server.Wait(), 0);
}

TEST(ServerReverse, ConnectTimeoutFlagBoundsTheDialAndExits4) {
  zmq::context_t context;
  const std::string endpoint = FreeTcpEndpoint(context);
  const auto started = Clock::now();
  Server server({"--reverse", "--client-url", endpoint, "--connect-timeout", "1s"});
  EXPECT_EQ(server.Wait(), 4);
  EXPECT_GE(Since(started), milliseconds(1000));
  EXPECT_LT(Since(started), milliseconds(3000));
  const std::string transcript = server.Transcript();
  EXPECT_NE(transcript.find("connection refused; retrying (attempt 1, 0s of 1s)"),
            std::string::npos)
      << transcript;
  EXPECT_NE(transcript.find("within timeouts.connect: connection refused"), std::string::npos)
      << transcript;
}

TEST(ServerReverse, ConnectTimeoutFlagTakesADurationAndNamesItselfWhenBad) {
  auto [code, output] = RunToExit({"--reverse", "--client-url", "tcp://127.0.0.1:1",
                                   "--connect-timeout", "90s", "--check-config"});
  EXPECT_EQ(code, 0) << output;
  Result<Options> printed = LoadConfigFromString(output, "check-config output");
  ASSERT_TRUE(printed.ok()) << printed.status().ToString();
  EXPECT_EQ(printed->timeouts.connect, milliseconds(90'000));

  auto [bad_code, bad_output] = RunToExit({"--reverse", "--client-url", "tcp://127.0.0.1:1",
                                           "--connect-timeout", "soon", "--check-config"});
  EXPECT_EQ(bad_code, 2) << bad_output;
  EXPECT_NE(bad_output.find("--connect-timeout: "), std::string::npos) << bad_output;
}

// ---------------------------------------------------------------------------------
// Connect-id, session timeout, signals
// ---------------------------------------------------------------------------------

TEST(ServerConnectId, WrongIdIsDenied403RightIdIsWelcome) {
  zmq::context_t context;
  Server server({"--port", "0", "--connect-id", "7"});
  const std::string endpoint = server.WaitReady();
  RawDealer wrong(context, endpoint);
  std::optional<pmp::Deny> deny = HelloDenied(wrong, "wrong", 8);
  ASSERT_TRUE(deny.has_value());
  EXPECT_EQ(deny->code, 403u);
  RawDealer right(context, endpoint);
  EXPECT_TRUE(right.Hello(MakeHello("client", "right", 7)).has_value());
}

TEST(ServerSession, TimeoutEndsTheSessionWithBye) {
  zmq::context_t context;
  Server server({"--port", "0", "--timeout", "1s"});
  RawDealer client(context, server.WaitReady());
  ASSERT_TRUE(client.Hello(MakeHello()).has_value());
  EXPECT_TRUE(As<pmp::Bye>(ReceiveSkippingData(client, milliseconds(3000))).has_value());
  EXPECT_EQ(server.Wait(milliseconds(3000)), 0);
  const milliseconds ran = Since(server.ready_at());
  EXPECT_GE(ran, milliseconds(800));
  EXPECT_LT(ran, milliseconds(2000));
  EXPECT_NE(server.Transcript().find("session timeout"), std::string::npos);
}

// Sends `signal` to a server with one connected client (two when `multi`); each must
// get BYE and the server must exit 0 within a second.
void ExpectByeAndCleanExitOn(int signal, bool multi) {
  zmq::context_t context;
  std::vector<std::string> args = {"--port", "0"};
  if (multi) args.push_back("--multi-clients");
  Server server(args);
  const std::string endpoint = server.WaitReady();
  std::vector<std::unique_ptr<RawDealer>> clients;
  for (int i = 0; i < (multi ? 2 : 1); ++i) {
    clients.push_back(std::make_unique<RawDealer>(context, endpoint));
    ASSERT_TRUE(clients.back()->Hello(MakeHello("client", "c" + std::to_string(i))));
  }
  const auto signalled = Clock::now();
  server.Signal(signal);
  for (auto& client : clients) {
    EXPECT_TRUE(As<pmp::Bye>(ReceiveSkippingData(*client, milliseconds(1000))).has_value());
  }
  EXPECT_EQ(server.Wait(milliseconds(1000)), 0);
  EXPECT_LT(Since(signalled), milliseconds(1000));
}

TEST(ServerSignals, SigtermSaysByeAndExitsZero) {
  ExpectByeAndCleanExitOn(SIGTERM, /*multi=*/false);
}

TEST(ServerSignals, SigintSaysByeToEveryClientAndExitsZero) {
  ExpectByeAndCleanExitOn(SIGINT, /*multi=*/true);
}

// ---------------------------------------------------------------------------------
// Bad configuration and flags: exit 2, and the message says where
// ---------------------------------------------------------------------------------

class ServerConfig : public ::testing::Test {
 protected:
  // Runs the server on `yaml` (written as server.yaml); expects exit 2 and an output
  // that names the file at `line` and says each of `mentions`.
  void ExpectRejected(std::string_view yaml, int line,
                      std::initializer_list<std::string_view> mentions) {
    const std::string path = dir_.Write("server.yaml", yaml);
    // --listen, not --port: --port would also apply to client_url in reverse mode.
    auto [code, output] =
        RunToExit({"--config", path, "--listen", "tcp://127.0.0.1:0", "--admin", "none"});
    EXPECT_EQ(code, 2) << output;
    EXPECT_NE(output.find(path + ":" + std::to_string(line) + ":"), std::string::npos)
        << "expected " << path << ":" << line << ": in: " << output;
    ExpectMentions(output, mentions);
  }
  // Runs the server with `args`; expects exit 2 and an output that says each of
  // `mentions`.
  static void ExpectBadFlag(std::vector<std::string> args,
                            std::initializer_list<std::string_view> mentions) {
    auto [code, output] = RunToExit(std::move(args));
    EXPECT_EQ(code, 2) << output;
    ExpectMentions(output, mentions);
  }

  TempDir dir_;

 private:
  static void ExpectMentions(const std::string& output,
                             std::initializer_list<std::string_view> mentions) {
    for (std::string_view mention : mentions) {
      EXPECT_NE(output.find(mention), std::string::npos)
          << "expected '" << mention << "' in: " << output;
    }
  }
};

TEST_F(ServerConfig, UnknownKeySuggestsTheRightOne) {
  ExpectRejected("name: typo\nmultiple_connections: false\nhearbeat: {interval: 1s}\n", 3,
                 {"unknown key 'hearbeat'", "did you mean 'heartbeat'"});
}

TEST_F(ServerConfig, WrongTypeNamesTheKey) {
  ExpectRejected("name: typed\nheartbeat:\n  liveness: many\n", 3, {"heartbeat.liveness", "many"});
}

TEST_F(ServerConfig, BadDurationNamesTheKey) {
  ExpectRejected("timeouts:\n  accept: 1.5 s\n", 2, {"timeouts.accept", "duration"});
}

TEST_F(ServerConfig, MissingFileIsNamed) {
  const std::string path = "/nonexistent-procmod-e2e/server.yaml";
  auto [code, output] = RunToExit({"--config", path, "--port", "0", "--admin", "none"});
  EXPECT_EQ(code, 2);
  EXPECT_NE(output.find("cannot read " + path), std::string::npos) << output;
}

TEST_F(ServerConfig, YamlSyntaxErrorNamesFileAndLine) {
  // The flow map is never closed; yaml-cpp notices at the end of the file.
  ExpectRejected("name: broken\nheartbeat: {interval: 1s\n", 3, {"YAML syntax error"});
}

TEST_F(ServerConfig, ReverseModeWithoutClientUrlIsRejected) {
  ExpectRejected("name: rev\nmode: reverse\n", 2, {"client_url"});
  // The same from flags alone names the flag instead.
  ExpectBadFlag({"--reverse", "--admin", "none"}, {"--client-url"});
}

TEST_F(ServerConfig, ClientRoleIsRejected) {
  ExpectRejected("name: who\nrole: client\n", 2, {"role", "not a server role"});
}

TEST_F(ServerConfig, BadFlagValuesNameTheFlag) {
  ExpectBadFlag({"--port", "70000", "--admin", "none"}, {"--port", "70000"});
  ExpectBadFlag({"--server-type", "foo", "--port", "0", "--admin", "none"},
                {"--server-type", "foo"});
  ExpectBadFlag({"--timeout", "soon", "--port", "0", "--admin", "none"},
                {"--session-timeout", "soon"});
  ExpectBadFlag({"--no-such-flag", "--port", "0", "--admin", "none"}, {"--no-such-flag"});
}

TEST_F(ServerConfig, UnknownLogLevelIsRejected) {
  ExpectBadFlag({"--log-level", "loud", "--port", "0", "--admin", "none"}, {"--log-level", "loud"});
  // ... and in the file, with its line.
  ExpectRejected("name: noisy\nlog:\n  level: loud\n", 3, {"log.level"});
}

TEST(ServerCommandLine, CheckConfigPrintsEveryExampleAndExitsZero) {
  int examples = 0;
  for (const auto& entry : std::filesystem::directory_iterator(PROCMOD_CONFIG_DIR)) {
    if (entry.path().extension() != ".yaml") continue;
    ++examples;
    const std::string path = entry.path().string();
    SCOPED_TRACE(path);
    auto [code, output] = RunToExit({"--config", path, "--check-config"});
    EXPECT_EQ(code, 0) << output;
    EXPECT_NE(output.find("heartbeat:"), std::string::npos) << output;
    // What it prints is the file's configuration, and is itself a valid file.
    Result<Options> expected = LoadConfig(path);
    ASSERT_TRUE(expected.ok()) << expected.status().ToString();
    Result<Options> printed = LoadConfigFromString(output, "check-config output");
    ASSERT_TRUE(printed.ok()) << printed.status().ToString();
    EXPECT_EQ(printed->name, expected->name);
    EXPECT_EQ(printed->role, expected->role);
    EXPECT_EQ(printed->mode, expected->mode);
    EXPECT_EQ(printed->multiple_connections, expected->multiple_connections);
    EXPECT_EQ(printed->listen, expected->listen);
    EXPECT_EQ(printed->client_url, expected->client_url);
    EXPECT_EQ(printed->timeouts.connect, expected->timeouts.connect);
    EXPECT_EQ(printed->limits.max_connections, expected->limits.max_connections);
  }
  EXPECT_GE(examples, 5);
}

TEST(ServerCommandLine, CheckConfigShowsFlagsOverTheFile) {
  TempDir dir;
  const std::string path = dir.Write("server.yaml", "name: from-file\nconnect_id: 3\n");
  auto [code, output] =
      RunToExit({"--config", path, "--connect-id", "9", "--multi-clients", "--check-config"});
  EXPECT_EQ(code, 0) << output;
  Result<Options> printed = LoadConfigFromString(output, "check-config output");
  ASSERT_TRUE(printed.ok()) << printed.status().ToString();
  EXPECT_EQ(printed->name, "from-file");
  EXPECT_EQ(printed->connect_id, 9u);
  EXPECT_TRUE(printed->multiple_connections);
}

TEST(ServerCommandLine, HelpAndVersionExitZero) {
  auto [help_code, help] = RunToExit({"--help"});
  EXPECT_EQ(help_code, 0);
  EXPECT_NE(help.find("EXIT STATUS"), std::string::npos) << help;
  EXPECT_NE(help.find("--multi-clients"), std::string::npos) << help;
  auto [version_code, version] = RunToExit({"--version"});
  EXPECT_EQ(version_code, 0);
  EXPECT_EQ(version.rfind("procmod-server ", 0), 0u) << version;
}

// ---------------------------------------------------------------------------------
// Robustness and logging
// ---------------------------------------------------------------------------------

TEST(ServerRobustness, GarbageFromAStrangerNeitherStallsNorEndsAClient) {
  zmq::context_t context;
  Server server({"--port", "0"});
  const std::string endpoint = server.WaitReady();
  RawDealer client(context, endpoint);
  ASSERT_TRUE(client.Hello(MakeHello("client", "good")).has_value());
  RawDealer stranger(context, endpoint);

  using namespace std::string_literals;
  const std::vector<pmp::Frames> garbage = [] {
    std::vector<pmp::Frames> g;
    g.push_back(TextFrames({"XMP1\x01\x80"s}));  // wrong signature
    g.push_back(
        TextFrames({"PMP1\x01\x86\xaa"
                    "connect_"s}));                                // truncated header
    g.push_back(TextFrames({"PMP1\x7f\x80"s}));                    // unknown command
    g.push_back(TextFrames({""s, "no envelope, just payload"s}));  // no envelope
    g.push_back(TextFrames({"PMP"s}));                             // shorter than 6
    g.push_back(TextFrames({"PMP1\x04\x91\x01"s}));                // header not a map
    g.push_back(TextFrames({"PMP1\x05\x80"s, "payload"s}));        // payload on BYE
    return g;
  }();
  constexpr int kRounds = 21;
  for (int i = 0; i < kRounds; ++i) {
    pmp::Frames frames;
    for (const auto& f : garbage[i % garbage.size()]) frames.emplace_back(f.data(), f.size());
    stranger.SendFrames(std::move(frames));
    const std::string n = std::to_string(i);
    client.Send(MakeRequest(static_cast<uint64_t>(i), "ping"), TextFrames({n}));
  }
  for (int i = 0; i < kRounds; ++i) {
    std::optional<pmp::Message> reply = ReceiveSkippingData(client);
    std::optional<pmp::Reply> header = As<pmp::Reply>(reply);
    ASSERT_TRUE(header.has_value()) << "ping " << i << " not answered";
    EXPECT_EQ(header->id, static_cast<uint64_t>(i));
    EXPECT_EQ(header->code, 0u);
    ASSERT_EQ(reply->payload.size(), 1u);
    EXPECT_EQ(Text(reply->payload[0]), std::to_string(i));

    std::optional<pmp::Error> error = As<pmp::Error>(stranger.Receive());
    ASSERT_TRUE(error.has_value()) << "garbage " << i << " not answered with ERROR";
    EXPECT_EQ(error->code, 400u) << error->reason;
  }
  // The stranger got no session out of it; the client still has its own.
  std::optional<pmp::Deny> deny = HelloDenied(stranger, "late");
  ASSERT_TRUE(deny.has_value());
  EXPECT_EQ(deny->code, 409u);
  client.Send(pmp::Bye{"done"});
  EXPECT_EQ(server.Wait(), 0);
}

TEST(ServerLogging, JsonFormatWritesOneObjectPerLine) {
  zmq::context_t context;
  Server server({"--port", "0", "--log-format", "json"});
  RawDealer client(context, server.WaitReady());
  ASSERT_TRUE(client.Hello(MakeHello("client", "json-client \"quoted\"")).has_value());
  client.Send(pmp::Bye{"done"});
  ASSERT_EQ(server.Wait(), 0);

  int objects = 0;
  bool admit_line = false;
  for (const std::string& line : server.lines()) {
    if (line.rfind(kServerReady, 0) == 0) continue;  // stdout, not the log
    json entry = json::parse(line, nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(entry.is_object()) << "not one JSON object: " << line;
    ASSERT_TRUE(entry.contains("level") && entry["level"].is_string()) << line;
    ASSERT_TRUE(entry.contains("msg") && entry["msg"].is_string()) << line;
    ++objects;
    const std::string msg = entry["msg"];
    if (msg.find("admitted") != std::string::npos &&
        // Peer text is logged escaped ({:?}): a name cannot forge a line.
        msg.find(R"("json-client \"quoted\"")") != std::string::npos) {
      admit_line = true;
      EXPECT_EQ(entry["level"], "info");
    }
  }
  EXPECT_GE(objects, 3);  // starting, admitted, left, done
  EXPECT_TRUE(admit_line) << server.Transcript();
}

// ---------------------------------------------------------------------------------
// Recovery: hung clients give back what they held
// ---------------------------------------------------------------------------------

// 12 clients that hang (SIGSTOP, as a laptop's lid closing) while a burst of 64 KiB
// broadcasts is queued for them: once they expire, the server closes their
// connections and drops what it queued, so its descriptors are back where they were,
// and further bursts no longer pile up for them.
TEST(ServerRecovery, HungClientsExpireAndGiveBackTheirDescriptorsAndQueues) {
  TempDir dir;
  const std::string config =
      dir.Write("server.yaml", std::string(kShortHeartbeat) + "resume: {grace: 0s}\n");
  const std::string admin = UniqueAdminEndpoint("recovery");
  Server server({"--config", config, "--port", "0", "--multi-clients", "--admin", admin});
  const std::string url = server.WaitReady();
  ASSERT_FALSE(url.empty());
  zmq::context_t context;
  RawDealer sender(context, url);
  ASSERT_TRUE(sender.Hello(MakeHello("client", "sender")).has_value());
  auto peers = [&admin] {
    Result<Reply> list = AdminRequest(admin, "connections.list");
    return list.ok() ? json::from_msgpack(list->result, true, false).size() : size_t{0};
  };
  ASSERT_TRUE(Eventually([&] { return peers() == 1; }));
  const int baseline_fds = OpenFds(server.pid());
  ASSERT_GT(baseline_fds, 0);

  std::vector<std::unique_ptr<Subprocess>> hung;
  for (int i = 0; i < 12; ++i) {
    hung.push_back(std::make_unique<Subprocess>(
        std::vector<std::string>{PROCMOD_CLI, "ping", "-c", "0", "-i", "50ms", url}));
  }
  ASSERT_TRUE(Eventually([&] { return peers() == 13; })) << peers();
  for (auto& client : hung) client->Signal(SIGSTOP);
  const auto stopped_at = Clock::now();

  // Bursts for everyone while they hang: 12 x 200 x 64 KiB = 150 MiB if all were kept.
  const std::string chunk(64 * 1024, 'x');
  auto burst = [&](int count) {
    for (int i = 0; i < count; ++i) {
      sender.Send(pmp::Data{.channel = "broadcast"}, TextFrames({chunk}));
      // The sender must stay alive itself: its PINGs go out between the DATA.
      if (i % 50 == 0) sender.Send(pmp::Ping{.t = 1});
    }
  };
  burst(200);
  // Expiry (300 ms of silence), then the server closes their connections.
  ASSERT_TRUE(Eventually([&] { return peers() == 1; }, milliseconds(5000))) << peers();
  EXPECT_TRUE(Eventually(
      [&] {
        const int fds = OpenFds(server.pid());
        return fds >= 0 && fds <= baseline_fds;
      },
      milliseconds(5000)))
      << OpenFds(server.pid()) << " descriptors, " << baseline_fds << " before";
  std::printf(
      "recovery: 12 hung clients (heartbeat 100 ms x 3) expired and their descriptors "
      "given back %lld ms after they stopped\n",
      static_cast<long long>(Since(stopped_at).count()));

  // What they left is not queued any more: another 200 bursts cost next to nothing.
  const long after_expiry = RssKib(server.pid());
  burst(200);
  sender.Send(pmp::Request{.id = 7, .method = "ping"});  // a round trip: all 200 went through
  std::optional<pmp::Message> reply = ReceiveSkippingData(sender);
  ASSERT_TRUE(As<pmp::Reply>(reply).has_value());
  EXPECT_LT(RssKib(server.pid()) - after_expiry, 16 * 1024)
      << "the server kept queueing for clients that are gone";

  for (auto& client : hung) client->Signal(SIGKILL);  // stopped processes die by SIGKILL
  RemoveIpcFile(admin);
}

}  // namespace
}  // namespace procmod::testing
