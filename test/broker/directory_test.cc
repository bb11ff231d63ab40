// The broker's Directory: every admission and denial of PROTOCOL.md §12 and
// docs/BROKER.md, and what each end of a session sends. Pure state: time is passed
// in, nothing waits.
#include "directory.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace procmod::broker {
namespace {

using std::chrono::milliseconds;

const TimePoint kT0 = TimePoint{} + std::chrono::hours(1);
constexpr milliseconds kInterval{100};
constexpr uint32_t kLiveness = 3;

pmp::Hello ServerHello(std::string service, bool multi = false, uint64_t connect_id = 0,
                       std::string role = "server") {
  pmp::Hello h;
  h.role = std::move(role);
  h.name = "viz-node";
  h.version = "1.3";
  h.software = "procmod 0.1.0";
  h.heartbeat_ms = 1000;
  h.service = std::move(service);
  h.multi = multi;
  h.connect_id = connect_id;
  return h;
}

pmp::Hello ClientHello(std::string service, uint64_t connect_id = 0, std::string name = "alice") {
  pmp::Hello h;
  h.role = "client";
  h.name = std::move(name);
  h.version = "1.0";
  h.service = std::move(service);
  h.connect_id = connect_id;
  return h;
}

template <typename T>
const T* HeaderAs(const Outgoing& m) {
  return std::get_if<T>(&m.header);
}

bool IsHexSession(const std::string& s) {
  return s.size() == 16 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

class DirectoryTest : public ::testing::Test {
 protected:
  DirectoryTest() : directory_(DirectorySettings{"test-broker", {kInterval, kLiveness}, 3}) {}

  // Registers a server for `service` from routing id `id`; returns its session.
  std::string Register(const std::string& id, const std::string& service, bool multi = false,
                       uint64_t connect_id = 0, TimePoint now = kT0) {
    HelloOutcome o = directory_.Hello(id, ServerHello(service, multi, connect_id), "", now);
    EXPECT_TRUE(o.admitted) << o.deny_code << " " << o.reason;
    return o.session;
  }
  std::string Join(const std::string& id, const std::string& service, uint64_t connect_id = 0,
                   TimePoint now = kT0) {
    HelloOutcome o = directory_.Hello(id, ClientHello(service, connect_id), "", now);
    EXPECT_TRUE(o.admitted) << o.deny_code << " " << o.reason;
    return o.session;
  }
  void ExpectDeny(const HelloOutcome& o, uint32_t code, const std::string& reason,
                  const std::string& to) {
    EXPECT_FALSE(o.admitted);
    EXPECT_EQ(o.deny_code, code);
    EXPECT_EQ(o.reason, reason);
    ASSERT_EQ(o.out.size(), 1u);
    EXPECT_EQ(o.out[0].routing_id, to);
    const pmp::Deny* deny = HeaderAs<pmp::Deny>(o.out[0]);
    ASSERT_NE(deny, nullptr);
    EXPECT_EQ(deny->code, code);
    EXPECT_EQ(deny->reason, reason);
  }

  Directory directory_;
};

// ---- server registration ----------------------------------------------------

TEST_F(DirectoryTest, ServerGetsWelcomeFromTheBroker) {
  HelloOutcome o = directory_.Hello("S", ServerHello("viz", /*multi=*/true), "1.2.3.4", kT0);
  ASSERT_TRUE(o.admitted);
  EXPECT_TRUE(IsHexSession(o.session)) << o.session;
  ASSERT_EQ(o.out.size(), 1u);
  EXPECT_EQ(o.out[0].routing_id, "S");
  const pmp::Welcome* w = HeaderAs<pmp::Welcome>(o.out[0]);
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->session, o.session);
  EXPECT_EQ(w->role, "broker");
  EXPECT_EQ(w->name, "test-broker");
  EXPECT_EQ(w->version, std::string(pmp::kProtocolVersion));
  EXPECT_EQ(w->software, "procmod 0.1.0");
  EXPECT_EQ(w->heartbeat_ms, 100u);
  EXPECT_EQ(w->liveness, 3u);
  EXPECT_TRUE(w->multi);
  const Service* service = directory_.FindService("viz");
  ASSERT_NE(service, nullptr);
  EXPECT_EQ(service->server, "S");
  EXPECT_EQ(service->server_session, o.session);
  EXPECT_TRUE(service->multi);
  const Leg* leg = directory_.Find("S");
  ASSERT_NE(leg, nullptr);
  EXPECT_TRUE(leg->is_server());
  EXPECT_EQ(leg->peer.address, "1.2.3.4");
}

TEST_F(DirectoryTest, EveryServerRoleMayRegister) {
  for (const char* role : {"server", "data-server", "render-server"}) {
    HelloOutcome o =
        directory_.Hello(std::string("S-") + role, ServerHello(role, false, 0, role), "", kT0);
    EXPECT_TRUE(o.admitted) << role << ": " << o.reason;
  }
  EXPECT_EQ(directory_.services().size(), 3u);
}

TEST_F(DirectoryTest, OtherMajorVersionGets426NamingBoth) {
  pmp::Hello hello = ServerHello("viz");
  hello.version = "2.0";
  ExpectDeny(directory_.Hello("S", hello, "", kT0), 426,
             "protocol version 2.0 is not supported; this side speaks " +
                 std::string(pmp::kProtocolVersion),
             "S");
  hello.version = "one";
  EXPECT_EQ(directory_.Hello("S", hello, "", kT0).deny_code, 426u);
  hello = ClientHello("viz");
  hello.version = "0.9";
  EXPECT_EQ(directory_.Hello("C", hello, "", kT0).deny_code, 426u);
  EXPECT_EQ(directory_.size(), 0u);
}

TEST_F(DirectoryTest, UnknownRoleGets403) {
  pmp::Hello hello = ServerHello("viz");
  hello.role = "broker";
  HelloOutcome o = directory_.Hello("S", hello, "", kT0);
  EXPECT_EQ(o.deny_code, 403u);
  EXPECT_NE(o.reason.find("'broker'"), std::string::npos) << o.reason;
}

TEST_F(DirectoryTest, HelloWithoutServiceGetsDeny400) {
  ExpectDeny(directory_.Hello("S", ServerHello(""), "", kT0), 400,
             "HELLO to a broker needs a service", "S");
  ExpectDeny(directory_.Hello("C", ClientHello(""), "", kT0), 400,
             "HELLO to a broker needs a service", "C");
  EXPECT_EQ(directory_.size(), 0u);
}

TEST_F(DirectoryTest, SecondServerForAServiceGets409AndTheFirstStays) {
  const std::string first = Register("S1", "viz");
  ExpectDeny(directory_.Hello("S2", ServerHello("viz"), "", kT0), 409,
             "service viz already has a server", "S2");
  EXPECT_EQ(directory_.FindService("viz")->server_session, first);
  EXPECT_EQ(directory_.Find("S2"), nullptr);
}

TEST_F(DirectoryTest, ExpiredServersNameMayBeTakenByANewServer) {
  Register("S1", "viz", false, 0, kT0);
  EXPECT_EQ(directory_.Hello("S2", ServerHello("viz"), "", kT0).deny_code, 409u);
  EndOutcome expired = directory_.Expire(kT0 + kInterval * kLiveness);
  ASSERT_EQ(expired.ended.size(), 1u);
  EXPECT_EQ(expired.ended[0].why, "expired");
  EXPECT_EQ(directory_.FindService("viz"), nullptr);
  Register("S2", "viz", false, 0, kT0 + kInterval * kLiveness);
}

TEST_F(DirectoryTest, ServerThatSaidByeFreesItsService) {
  Register("S1", "viz");
  directory_.Bye("S1");
  EXPECT_EQ(directory_.FindService("viz"), nullptr);
  Register("S2", "viz");
}

// ---- client admission ---------------------------------------------------------

TEST_F(DirectoryTest, ClientOfUnknownServiceGets404) {
  Register("S", "viz");
  ExpectDeny(directory_.Hello("C", ClientHello("vis"), "", kT0), 404, "unknown service vis", "C");
}

TEST_F(DirectoryTest, ClientWithWrongConnectIdGets403) {
  Register("S", "viz", /*multi=*/true, /*connect_id=*/42);
  ExpectDeny(directory_.Hello("C", ClientHello("viz", 7), "", kT0), 403,
             "connect-id 7 does not match", "C");
  ExpectDeny(directory_.Hello("C", ClientHello("viz", 0), "", kT0), 403,
             "connect-id 0 does not match", "C");
  Join("C", "viz", 42);
}

TEST_F(DirectoryTest, ClientsHearTheOlderOfTheServersVersionAndTheBrokers) {
  // What the client may send (inline payloads need 1.1) must suit both hops.
  pmp::Hello server = ServerHello("viz", true);
  server.version = "1.0";
  ASSERT_TRUE(directory_.Hello("S", server, "", kT0).admitted);
  HelloOutcome c = directory_.Hello("C", ClientHello("viz"), "", kT0);
  ASSERT_TRUE(c.admitted);
  const pmp::Welcome* w = HeaderAs<pmp::Welcome>(c.out.at(0));
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->version, "1.0");
}

TEST_F(DirectoryTest, ClientGetsTheServersWelcomeAndTheServerGetsJoined) {
  HelloOutcome s = directory_.Hello("S", ServerHello("viz", true, 0, "data-server"), "", kT0);
  ASSERT_TRUE(s.admitted);
  HelloOutcome c = directory_.Hello("C", ClientHello("viz", 0, "alice"), "", kT0);
  ASSERT_TRUE(c.admitted);
  EXPECT_TRUE(IsHexSession(c.session));
  EXPECT_NE(c.session, s.session);
  ASSERT_EQ(c.out.size(), 2u);
  EXPECT_EQ(c.out[0].routing_id, "C");
  const pmp::Welcome* w = HeaderAs<pmp::Welcome>(c.out[0]);
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->session, c.session);
  EXPECT_EQ(w->role, "data-server");  // the server's
  EXPECT_EQ(w->name, "viz-node");     // the server's
  // The server says 1.3; the client's messages also cross the broker, so it hears
  // the older of the two.
  EXPECT_EQ(w->version, std::string(pmp::kProtocolVersion));
  EXPECT_EQ(w->software, "procmod 0.1.0");
  EXPECT_EQ(w->heartbeat_ms, 100u);  // the broker's: it is the acceptor of this leg
  EXPECT_EQ(w->liveness, 3u);
  EXPECT_TRUE(w->multi);
  EXPECT_EQ(c.out[1].routing_id, "S");
  const pmp::Joined* joined = HeaderAs<pmp::Joined>(c.out[1]);
  ASSERT_NE(joined, nullptr);
  EXPECT_EQ(joined->session, c.session);
  EXPECT_EQ(joined->name, "alice");
  EXPECT_EQ(joined->role, "client");
  EXPECT_EQ(directory_.client_count(), 1u);
  EXPECT_EQ(directory_.FindService("viz")->clients, std::vector<std::string>{c.session});
}

TEST_F(DirectoryTest, SingleServerAdmitsOneClientThen409ForGood) {
  Register("S", "viz", /*multi=*/false);
  Join("C1", "viz");
  const std::string reason = "service viz already has its client (single-connection server)";
  ExpectDeny(directory_.Hello("C2", ClientHello("viz"), "", kT0), 409, reason, "C2");
  // The slot is used once for good: after the client left, the server is ending.
  directory_.Bye("C1");
  ExpectDeny(directory_.Hello("C3", ClientHello("viz"), "", kT0), 409, reason, "C3");
}

TEST_F(DirectoryTest, ConnectIdIsCheckedBeforeTheSingleSlot) {
  Register("S", "viz", /*multi=*/false, /*connect_id=*/5);
  Join("C1", "viz", 5);
  EXPECT_EQ(directory_.Hello("C2", ClientHello("viz", 6), "", kT0).deny_code, 403u);
}

TEST_F(DirectoryTest, MultiServerAdmitsManyUpToMaxConnectionsInAll) {
  Register("S1", "viz", /*multi=*/true);
  Register("S2", "other", /*multi=*/true);
  Join("C1", "viz");
  Join("C2", "viz");
  Join("C3", "other");  // max_connections (3) counts clients of every service
  ExpectDeny(directory_.Hello("C4", ClientHello("viz"), "", kT0), 503, "at max_connections (3)",
             "C4");
  directory_.Bye("C2");
  Join("C4", "viz");
}

TEST_F(DirectoryTest, ServersDoNotCountTowardsMaxConnections) {
  for (int i = 0; i < 5; ++i) Register("S" + std::to_string(i), "svc" + std::to_string(i));
  EXPECT_EQ(directory_.client_count(), 0u);
  Join("C", "svc0");
}

TEST_F(DirectoryTest, DeniedHelloLeavesNoTrace) {
  Register("S", "viz");
  directory_.Hello("C", ClientHello("nope"), "", kT0);
  directory_.Hello("C", ClientHello("viz", 9), "", kT0);
  EXPECT_EQ(directory_.size(), 1u);
  EXPECT_EQ(directory_.Find("C"), nullptr);
  EXPECT_EQ(directory_.client_count(), 0u);
}

// ---- a HELLO on a leg that has a session ---------------------------------------

TEST_F(DirectoryTest, ClientHelloAgainReplacesItsSessionLeftByeFirst) {
  Register("S", "viz", /*multi=*/false);
  const std::string old_session = Join("C", "viz");
  HelloOutcome o = directory_.Hello("C", ClientHello("viz"), "", kT0);
  ASSERT_TRUE(o.admitted) << o.reason;  // same slot: a single server keeps its client
  EXPECT_EQ(o.replaced_session, old_session);
  EXPECT_NE(o.session, old_session);
  ASSERT_EQ(o.out.size(), 3u);
  const pmp::Left* left = HeaderAs<pmp::Left>(o.out[0]);
  ASSERT_NE(left, nullptr);
  EXPECT_EQ(o.out[0].routing_id, "S");
  EXPECT_EQ(left->session, old_session);
  EXPECT_EQ(left->reason, "bye");
  EXPECT_NE(HeaderAs<pmp::Welcome>(o.out[1]), nullptr);
  const pmp::Joined* joined = HeaderAs<pmp::Joined>(o.out[2]);
  ASSERT_NE(joined, nullptr);
  EXPECT_EQ(joined->session, o.session);
  EXPECT_EQ(directory_.FindSession(old_session), nullptr);
  EXPECT_EQ(directory_.client_count(), 1u);
  EXPECT_EQ(directory_.FindService("viz")->clients, std::vector<std::string>{o.session});
}

TEST_F(DirectoryTest, RefusedHelloAgainKeepsTheOldSession) {
  Register("S", "viz", true, 1);
  const std::string session = Join("C", "viz", 1);
  EXPECT_EQ(directory_.Hello("C", ClientHello("viz", 2), "", kT0).deny_code, 403u);
  EXPECT_EQ(directory_.Hello("C", ClientHello("nope", 1), "", kT0).deny_code, 404u);
  ASSERT_NE(directory_.Find("C"), nullptr);
  EXPECT_EQ(directory_.Find("C")->peer.session, session);
}

TEST_F(DirectoryTest, ServerHelloAgainSaysByeServerLeftToItsClients) {
  const std::string old_session = Register("S", "viz", true);
  Join("C1", "viz");
  Join("C2", "viz");
  HelloOutcome o = directory_.Hello("S", ServerHello("viz", false), "", kT0);
  ASSERT_TRUE(o.admitted) << o.reason;  // the live server may replace itself
  EXPECT_EQ(o.replaced_session, old_session);
  ASSERT_EQ(o.out.size(), 3u);
  for (int i = 0; i < 2; ++i) {
    const pmp::Bye* bye = HeaderAs<pmp::Bye>(o.out[i]);
    ASSERT_NE(bye, nullptr);
    EXPECT_EQ(bye->reason, "server left");
  }
  EXPECT_NE(HeaderAs<pmp::Welcome>(o.out[2]), nullptr);
  EXPECT_EQ(directory_.client_count(), 0u);
  EXPECT_EQ(directory_.Find("C1"), nullptr);
  const Service* service = directory_.FindService("viz");
  ASSERT_NE(service, nullptr);
  EXPECT_FALSE(service->multi);
  EXPECT_TRUE(service->clients.empty());
}

TEST_F(DirectoryTest, ServerCannotBeAClientOfItsOwnService) {
  Register("S", "viz", true);
  EXPECT_EQ(directory_.Hello("S", ClientHello("viz"), "", kT0).deny_code, 409u);
  EXPECT_NE(directory_.FindService("viz"), nullptr);
}

// ---- ends of sessions -----------------------------------------------------------

TEST_F(DirectoryTest, ClientByeSendsLeftByeToItsServer) {
  Register("S", "viz", true);
  const std::string session = Join("C", "viz");
  EndOutcome e = directory_.Bye("C");
  ASSERT_EQ(e.out.size(), 1u);
  EXPECT_EQ(e.out[0].routing_id, "S");
  const pmp::Left* left = HeaderAs<pmp::Left>(e.out[0]);
  ASSERT_NE(left, nullptr);
  EXPECT_EQ(left->session, session);
  EXPECT_EQ(left->reason, "bye");
  ASSERT_EQ(e.ended.size(), 1u);
  EXPECT_EQ(e.ended[0].why, "bye");
  EXPECT_EQ(directory_.client_count(), 0u);
  EXPECT_TRUE(directory_.FindService("viz")->clients.empty());
}

TEST_F(DirectoryTest, ClientExpirySendsLeftExpired) {
  Register("S", "viz", true);
  const std::string session = Join("C", "viz");
  directory_.Find("S")->peer.last_seen = kT0 + kInterval * 2;  // the server is alive
  EXPECT_TRUE(directory_.Expire(kT0 + kInterval * kLiveness - milliseconds(1)).ended.empty());
  EndOutcome e = directory_.Expire(kT0 + kInterval * kLiveness);
  ASSERT_EQ(e.out.size(), 1u);
  const pmp::Left* left = HeaderAs<pmp::Left>(e.out[0]);
  ASSERT_NE(left, nullptr);
  EXPECT_EQ(left->session, session);
  EXPECT_EQ(left->reason, "expired");
  EXPECT_NE(directory_.Find("S"), nullptr);
}

TEST_F(DirectoryTest, ServerByeSendsByeServerLeftToEachClientAndEndsTheService) {
  Register("S", "viz", true);
  Join("C1", "viz");
  Join("C2", "viz");
  EndOutcome e = directory_.Bye("S");
  ASSERT_EQ(e.out.size(), 2u);
  std::vector<std::string> to;
  for (const Outgoing& m : e.out) {
    to.push_back(m.routing_id);
    const pmp::Bye* bye = HeaderAs<pmp::Bye>(m);
    ASSERT_NE(bye, nullptr);
    EXPECT_EQ(bye->reason, "server left");
  }
  EXPECT_EQ(to, (std::vector<std::string>{"C1", "C2"}));
  EXPECT_EQ(e.ended.size(), 3u);
  EXPECT_EQ(directory_.size(), 0u);
  EXPECT_EQ(directory_.client_count(), 0u);
  EXPECT_EQ(directory_.FindService("viz"), nullptr);
}

TEST_F(DirectoryTest, ServerExpirySendsByeServerLostToEachClient) {
  Register("S", "viz", true);
  Join("C1", "viz");
  Join("C2", "viz");
  const TimePoint later = kT0 + kInterval * 2;
  directory_.Find("C1")->peer.last_seen = later;
  directory_.Find("C2")->peer.last_seen = later;
  EndOutcome e = directory_.Expire(kT0 + kInterval * kLiveness);
  ASSERT_EQ(e.out.size(), 2u);
  for (const Outgoing& m : e.out) {
    const pmp::Bye* bye = HeaderAs<pmp::Bye>(m);
    ASSERT_NE(bye, nullptr);
    EXPECT_EQ(bye->reason, "server lost");
  }
  EXPECT_EQ(directory_.size(), 0u);
}

TEST_F(DirectoryTest, ExpiryChecksEveryLegNotOnlyTheOldest) {
  Register("S1", "a", true);
  Register("S2", "b", true, 0, kT0 + milliseconds(50));
  Join("C1", "a", 0, kT0 + milliseconds(50));
  Join("C2", "b", 0, kT0);  // older than C1 and S2, and the only silent client
  directory_.Find("S1")->peer.last_seen = kT0 + milliseconds(200);
  EndOutcome e = directory_.Expire(kT0 + kInterval * kLiveness);
  ASSERT_EQ(e.ended.size(), 1u);
  EXPECT_EQ(e.ended[0].leg.peer.routing_id, "C2");
  e = directory_.Expire(kT0 + milliseconds(50) + kInterval * kLiveness);
  EXPECT_EQ(e.ended.size(), 2u);  // S2 and C1, both silent since +50 ms
}

TEST_F(DirectoryTest, ServerAndClientSilentTogetherEndAsServerLost) {
  Register("S", "viz", true);
  Join("C", "viz");
  EndOutcome e = directory_.Expire(kT0 + kInterval * kLiveness);
  ASSERT_EQ(e.out.size(), 1u);  // no LEFT to a server that is gone too
  EXPECT_EQ(std::get<pmp::Bye>(e.out[0].header).reason, "server lost");
  EXPECT_EQ(directory_.size(), 0u);
}

TEST_F(DirectoryTest, CloseSaysByeToTheLegThenWhatItsByeWouldCause) {
  Register("S", "viz", true);
  const std::string session = Join("C", "viz");
  EndOutcome e = directory_.Close(session);
  ASSERT_EQ(e.out.size(), 2u);
  EXPECT_EQ(e.out[0].routing_id, "C");
  EXPECT_EQ(std::get<pmp::Bye>(e.out[0].header).reason, "closed by the administrator");
  EXPECT_EQ(e.out[1].routing_id, "S");
  EXPECT_EQ(std::get<pmp::Left>(e.out[1].header).reason, "bye");
  EXPECT_TRUE(directory_.Close("0000000000000000").ended.empty());
}

TEST_F(DirectoryTest, AClientsMessageWithAnotherKeyEndsItsLegAndItsServerHearsLeftExpired) {
  Register("S", "viz", true);
  const std::string session = Join("C", "viz");
  directory_.Find("C")->peer.public_key = "alice-key";  // the relay records it at HELLO
  EXPECT_TRUE(directory_.CheckKey("C", "alice-key").ended.empty());
  EXPECT_TRUE(directory_.CheckKey("nobody", "mallory-key").ended.empty());
  EndOutcome e = directory_.CheckKey("C", "mallory-key");
  // Nothing goes to "C": that routing id leads to mallory now.
  ASSERT_EQ(e.out.size(), 1u);
  EXPECT_EQ(e.out[0].routing_id, "S");
  EXPECT_EQ(std::get<pmp::Left>(e.out[0].header).session, session);
  EXPECT_EQ(std::get<pmp::Left>(e.out[0].header).reason, "expired");  // as if lost
  ASSERT_EQ(e.ended.size(), 1u);
  EXPECT_EQ(e.ended[0].why, "taken over by another key");
  EXPECT_EQ(directory_.Find("C"), nullptr);
  EXPECT_EQ(directory_.FindService("viz")->clients.size(), 0u);
}

TEST_F(DirectoryTest, AServersMessageWithAnotherKeyEndsItsServiceAsServerLost) {
  Register("S", "viz", true);
  Join("C1", "viz");
  directory_.Find("S")->peer.public_key = "server-key";
  EndOutcome e = directory_.CheckKey("S", "");  // no key at all is another key too
  ASSERT_EQ(e.out.size(), 1u);
  EXPECT_EQ(e.out[0].routing_id, "C1");
  EXPECT_EQ(std::get<pmp::Bye>(e.out[0].header).reason, "server lost");
  ASSERT_EQ(e.ended.size(), 2u);
  EXPECT_EQ(e.ended.back().leg.peer.routing_id, "S");  // the leg itself comes last
  EXPECT_EQ(directory_.FindService("viz"), nullptr);
}

TEST_F(DirectoryTest, ShutdownSaysByeToEveryone) {
  Register("S", "viz", true);
  Join("C1", "viz");
  Join("C2", "viz");
  Outbox out = directory_.Shutdown("broker shutting down");
  ASSERT_EQ(out.size(), 3u);
  for (const Outgoing& m : out) {
    EXPECT_EQ(std::get<pmp::Bye>(m.header).reason, "broker shutting down");
  }
  EXPECT_EQ(directory_.size(), 0u);
  EXPECT_TRUE(directory_.services().empty());
}

// ---- heartbeats and routes -------------------------------------------------------

TEST_F(DirectoryTest, LegsSentNothingForAnIntervalAreDueAPing) {
  Register("S", "viz", true);
  Join("C", "viz");
  EXPECT_TRUE(directory_.DuePings(kT0 + kInterval - milliseconds(1)).empty());
  directory_.Find("C")->peer.last_sent = kT0 + milliseconds(50);
  EXPECT_EQ(directory_.DuePings(kT0 + kInterval), std::vector<std::string>{"S"});
}

TEST_F(DirectoryTest, RoutesFromAClientGoToItsServerWithItsSessionAsPeer) {
  Register("S", "viz", true);
  const std::string session = Join("C", "viz");
  Route r = directory_.RouteFrom("C", "");
  EXPECT_EQ(r.error_code, 0u);
  EXPECT_EQ(r.to, "S");
  EXPECT_EQ(r.peer, session);
  r = directory_.RouteFrom("C", "someone-else");  // a client cannot pose as another
  EXPECT_EQ(r.peer, session);
}

TEST_F(DirectoryTest, RoutesFromAServerNeedThePeerOfOneOfItsClients) {
  Register("S1", "viz", true);
  Register("S2", "other", true);
  const std::string mine = Join("C1", "viz");
  const std::string theirs = Join("C2", "other");
  Route r = directory_.RouteFrom("S1", mine);
  EXPECT_EQ(r.error_code, 0u);
  EXPECT_EQ(r.to, "C1");
  EXPECT_EQ(r.peer, "");
  r = directory_.RouteFrom("S1", "");
  EXPECT_EQ(r.error_code, 400u);
  EXPECT_EQ(r.reason, "relayed messages from a server need `peer`");
  r = directory_.RouteFrom("S1", theirs);
  EXPECT_EQ(r.error_code, 0u);
  EXPECT_TRUE(r.drop);
  EXPECT_EQ(r.reason, "unknown peer session " + theirs);
  r = directory_.RouteFrom("S1", directory_.Find("S2")->peer.session);  // not a client
  EXPECT_TRUE(r.drop);
  EXPECT_EQ(directory_.RouteFrom("X", "").error_code, 404u);
}

// ---- resume (PROTOCOL §12, §16.7) ---------------------------------------------

pmp::Hello ResumingServerHello(std::string service, bool multi = true, uint64_t grace_ms = 60000) {
  pmp::Hello h = ServerHello(std::move(service), multi);
  h.resume_grace_ms = grace_ms;
  return h;
}

pmp::Hello ResumableClientHello(std::string service, std::string name = "alice") {
  pmp::Hello h = ClientHello(std::move(service), 0, std::move(name));
  h.version = "1.2";
  h.resume = true;
  return h;
}

pmp::Resume ResumeOf(std::string session, std::string token, uint64_t received = 0,
                     std::string service = "viz") {
  return pmp::Resume{std::move(session), std::move(token), received, std::move(service)};
}

bool IsHexToken(const std::string& s) {
  return s.size() == 32 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

class DirectoryResumeTest : public DirectoryTest {
 protected:
  // A resuming server "S" of `service`, and a resumable client "C" of it; its
  // WELCOME (session and token).
  pmp::Welcome Setup(const std::string& service = "viz", bool multi = true) {
    EXPECT_TRUE(directory_.Hello("S", ResumingServerHello(service, multi), "", kT0).admitted);
    HelloOutcome o = directory_.Hello("C", ResumableClientHello(service), "10.0.0.1", kT0);
    EXPECT_TRUE(o.admitted) << o.reason;
    EXPECT_EQ(o.out.size(), 2u);
    return o.out.empty() ? pmp::Welcome{} : std::get<pmp::Welcome>(o.out[0].header);
  }
  // RESUME from `id`; the JOINED {resume} it sends to "S".
  std::optional<pmp::Joined> Forward(const std::string& id, const pmp::Resume& resume,
                                     TimePoint now = kT0, const std::string& key = "") {
    ResumeOutcome o = directory_.Resume(id, resume, "10.0.0.2", key, now);
    EXPECT_TRUE(o.forwarded) << o.deny_code << " " << o.reason;
    if (!o.forwarded || o.out.empty() || o.out.back().routing_id != "S") return std::nullopt;
    const pmp::Joined* joined = HeaderAs<pmp::Joined>(o.out.back());
    return joined ? std::optional<pmp::Joined>(*joined) : std::nullopt;
  }
  void ExpectRefused(const ResumeOutcome& o, uint32_t code, const std::string& reason,
                     const std::string& to) {
    EXPECT_FALSE(o.forwarded);
    EXPECT_EQ(o.deny_code, code);
    EXPECT_EQ(o.reason, reason);
    ASSERT_EQ(o.out.size(), 1u);
    EXPECT_EQ(o.out[0].routing_id, to);
    ASSERT_NE(HeaderAs<pmp::Deny>(o.out[0]), nullptr);
    EXPECT_EQ(HeaderAs<pmp::Deny>(o.out[0])->code, code);
    EXPECT_EQ(HeaderAs<pmp::Deny>(o.out[0])->reason, reason);
  }
};

TEST_F(DirectoryResumeTest, ResumableClientGetsATokenAndItsServerTheSameInJoined) {
  HelloOutcome server = directory_.Hello("S", ResumingServerHello("viz", true, 45000), "", kT0);
  ASSERT_TRUE(server.admitted);
  EXPECT_EQ(directory_.FindService("viz")->resume_grace_ms, 45000u);
  // The broker's own WELCOME to the server offers nothing: its leg does not resume.
  EXPECT_TRUE(std::get<pmp::Welcome>(server.out[0].header).resume_token.empty());
  HelloOutcome o = directory_.Hello("C", ResumableClientHello("viz"), "", kT0);
  ASSERT_TRUE(o.admitted);
  ASSERT_EQ(o.out.size(), 2u);
  const auto& welcome = std::get<pmp::Welcome>(o.out[0].header);
  const auto& joined = std::get<pmp::Joined>(o.out[1].header);
  EXPECT_TRUE(IsHexToken(welcome.resume_token)) << welcome.resume_token;
  EXPECT_EQ(welcome.resume_grace_ms, 45000u);  // the server's grace governs
  EXPECT_EQ(joined.resume_token, welcome.resume_token);
  EXPECT_FALSE(joined.resume);
  EXPECT_EQ(directory_.Find("C")->resume_token, welcome.resume_token);
  // Another client, another token.
  HelloOutcome other = directory_.Hello("C2", ResumableClientHello("viz"), "", kT0);
  EXPECT_NE(std::get<pmp::Welcome>(other.out[0].header).resume_token, welcome.resume_token);
}

TEST_F(DirectoryResumeTest, NoTokenUnlessTheClientAsksSpeaks12AndItsServerResumes) {
  ASSERT_TRUE(directory_.Hello("S1", ResumingServerHello("viz"), "", kT0).admitted);
  ASSERT_TRUE(directory_.Hello("S2", ServerHello("plain", true), "", kT0).admitted);
  pmp::Hello not_asking = ResumableClientHello("viz");
  not_asking.resume = false;
  pmp::Hello old = ResumableClientHello("viz");
  old.version = "1.1";
  const std::vector<std::pair<std::string, pmp::Hello>> cases = {
      {"C1", not_asking}, {"C2", old}, {"C3", ResumableClientHello("plain")}};
  for (const auto& [id, hello] : cases) {
    HelloOutcome o = directory_.Hello(id, hello, "", kT0);
    ASSERT_TRUE(o.admitted) << id;
    const auto& welcome = std::get<pmp::Welcome>(o.out[0].header);
    EXPECT_TRUE(welcome.resume_token.empty()) << id;
    EXPECT_EQ(welcome.resume_grace_ms, 0u) << id;
    EXPECT_TRUE(std::get<pmp::Joined>(o.out[1].header).resume_token.empty()) << id;
    EXPECT_FALSE(directory_.Find(id)->resumable()) << id;
  }
}

TEST_F(DirectoryResumeTest, LostClientResumesFromANewRoutingIdWithTheSameSession) {
  const pmp::Welcome welcome = Setup();
  directory_.Find("S")->peer.last_seen = kT0 + kInterval * 2;
  EndOutcome lost = directory_.Expire(kT0 + kInterval * kLiveness);
  ASSERT_EQ(lost.out.size(), 1u);  // as today: LEFT expired (the server suspends it)
  EXPECT_EQ(std::get<pmp::Left>(lost.out[0].header).reason, "expired");
  EXPECT_EQ(directory_.Find("C"), nullptr);

  std::optional<pmp::Joined> joined = Forward("C2", ResumeOf(welcome.session, "whatever", 7));
  ASSERT_TRUE(joined);
  EXPECT_EQ(joined->session, welcome.session);
  EXPECT_EQ(joined->role, "client");
  EXPECT_TRUE(joined->resume);
  EXPECT_EQ(joined->resume_token, "whatever");  // the server checks it, not the broker
  EXPECT_EQ(joined->received, 7u);
  EXPECT_EQ(directory_.Find("C2"), nullptr);  // not admitted before the server says so
  EXPECT_EQ(directory_.resumes().at(welcome.session).waiting.size(), 1u);

  ResumedOutcome o = directory_.Resumed("S", pmp::Resumed{welcome.session, 3}, kT0);
  EXPECT_EQ(o.routing_id, "C2");
  ASSERT_EQ(o.out.size(), 1u);
  EXPECT_EQ(o.out[0].routing_id, "C2");
  EXPECT_EQ(std::get<pmp::Resumed>(o.out[0].header).session, welcome.session);
  EXPECT_EQ(std::get<pmp::Resumed>(o.out[0].header).received, 3u);
  const Leg* leg = directory_.Find("C2");
  ASSERT_NE(leg, nullptr);
  EXPECT_EQ(leg->peer.session, welcome.session);
  EXPECT_EQ(leg->peer.address, "10.0.0.2");
  EXPECT_EQ(leg->resume_token, "whatever");
  EXPECT_EQ(directory_.client_count(), 1u);
  EXPECT_EQ(directory_.FindService("viz")->clients, std::vector<std::string>{welcome.session});
  EXPECT_TRUE(directory_.resumes().empty());
  Route r = directory_.RouteFrom("S", welcome.session);
  EXPECT_EQ(r.to, "C2");
  EXPECT_EQ(directory_.RouteFrom("C2", "").peer, welcome.session);
  // Another RESUMED for it answers nothing.
  EXPECT_TRUE(directory_.Resumed("S", pmp::Resumed{welcome.session, 3}, kT0).out.empty());
}

TEST_F(DirectoryResumeTest, ResumeTakesOverALiveLegWithItsTokenAndKeyOnly) {
  const pmp::Welcome welcome = Setup();
  directory_.Find("C")->peer.public_key = "alice-key";
  ExpectRefused(
      directory_.Resume("X", ResumeOf(welcome.session, std::string(32, '0')), "", "alice-key", kT0),
      410, "gone: no resumable session " + welcome.session, "X");
  ExpectRefused(directory_.Resume("X", ResumeOf(welcome.session, welcome.resume_token), "",
                                  "mallory-key", kT0),
                403, "session " + welcome.session + " belongs to another key", "X");
  EXPECT_NE(directory_.Find("C"), nullptr);  // refusals change nothing
  EXPECT_TRUE(directory_.resumes().empty());

  // The client noticed the loss first: its old leg ends as a lost one.
  ResumeOutcome o = directory_.Resume("C2", ResumeOf(welcome.session, welcome.resume_token), "",
                                      "alice-key", kT0);
  ASSERT_TRUE(o.forwarded);
  ASSERT_EQ(o.out.size(), 2u);
  EXPECT_EQ(o.out[0].routing_id, "S");
  EXPECT_EQ(std::get<pmp::Left>(o.out[0].header).reason, "expired");
  EXPECT_TRUE(std::get<pmp::Joined>(o.out[1].header).resume);
  EXPECT_EQ(std::get<pmp::Joined>(o.out[1].header).name, "alice");  // known from the leg
  ASSERT_EQ(o.ended.size(), 1u);
  EXPECT_EQ(o.ended[0].why, "replaced by a RESUME");
  EXPECT_EQ(directory_.Find("C"), nullptr);
  ASSERT_EQ(directory_.Resumed("S", pmp::Resumed{welcome.session, 0}, kT0).routing_id, "C2");
  EXPECT_EQ(directory_.Find("C2")->peer.public_key, "alice-key");
  EXPECT_EQ(directory_.Find("C2")->peer.name, "alice");
}

TEST_F(DirectoryResumeTest, ResumeOnALegOfTheSameRoutingIdEndsThatLegFirst) {
  const pmp::Welcome welcome = Setup();
  const std::string other = Join("C2", "viz");  // then C2 resumes alice's session
  ResumeOutcome o =
      directory_.Resume("C2", ResumeOf(welcome.session, welcome.resume_token), "", "", kT0);
  ASSERT_TRUE(o.forwarded);
  ASSERT_EQ(o.out.size(), 3u);  // LEFT for C2's own session, LEFT for C's, JOINED
  EXPECT_EQ(std::get<pmp::Left>(o.out[0].header).session, other);
  EXPECT_EQ(std::get<pmp::Left>(o.out[1].header).session, welcome.session);
  EXPECT_EQ(directory_.client_count(), 0u);
}

TEST_F(DirectoryResumeTest, RefusedResumes) {
  const pmp::Welcome welcome = Setup();
  ExpectRefused(
      directory_.Resume("X", ResumeOf(welcome.session, welcome.resume_token, 0, ""), "", "", kT0),
      410,
      "gone: no resumable session " + welcome.session + "; a RESUME to a broker needs `service`",
      "X");
  ExpectRefused(directory_.Resume("X", ResumeOf("0123456789abcdef", "t", 0, "vis"), "", "", kT0),
                404, "no server for service vis", "X");
  ExpectRefused(
      directory_.Resume("S", ResumeOf(welcome.session, welcome.resume_token), "", "", kT0), 409,
      "the server of service viz cannot resume a client", "S");
  ASSERT_TRUE(directory_.Hello("P", ServerHello("plain", true), "", kT0).admitted);
  ExpectRefused(directory_.Resume("X", ResumeOf("0123456789abcdef", "t", 0, "plain"), "", "", kT0),
                410, "gone: no resumable session 0123456789abcdef", "X");
  // A live leg of another service, or one that is not resumable: the same 410.
  ExpectRefused(directory_.Resume("X", ResumeOf(welcome.session, welcome.resume_token, 0, "plain"),
                                  "", "", kT0),
                410, "gone: no resumable session " + welcome.session, "X");
  const std::string plain = Join("C2", "viz");
  ExpectRefused(directory_.Resume("X", ResumeOf(plain, ""), "", "", kT0), 410,
                "gone: no resumable session " + plain, "X");
  EXPECT_TRUE(directory_.resumes().empty());
  EXPECT_EQ(directory_.client_count(), 2u);
}

TEST_F(DirectoryResumeTest, ServerByeWithPeerRefusesTheWaitingResumeWithItsReason) {
  const pmp::Welcome welcome = Setup();
  EXPECT_TRUE(directory_.Lost("C").out.size() == 1u);
  ASSERT_TRUE(Forward("C2", ResumeOf(welcome.session, "forged")));
  EndOutcome e =
      directory_.ServerBye("S", pmp::Bye{"gone: no resumable session x", welcome.session});
  ASSERT_EQ(e.out.size(), 1u);
  EXPECT_EQ(e.out[0].routing_id, "C2");
  EXPECT_EQ(std::get<pmp::Deny>(e.out[0].header).code, 410u);
  EXPECT_EQ(std::get<pmp::Deny>(e.out[0].header).reason, "gone: no resumable session x");
  EXPECT_TRUE(e.ended.empty());
  EXPECT_TRUE(directory_.resumes().empty());
  EXPECT_NE(directory_.Find("S"), nullptr);  // the server stays
  // With nothing waiting: the BYE ends nobody else's session.
  EXPECT_TRUE(directory_.ServerBye("S", pmp::Bye{"x", welcome.session}).out.empty());
}

TEST_F(DirectoryResumeTest, ServerByeWithPeerEndsThatClientWithoutLeft) {
  const pmp::Welcome welcome = Setup();
  const std::string other = Join("C2", "viz");
  EndOutcome e = directory_.ServerBye("S", pmp::Bye{"resume buffer full", welcome.session});
  ASSERT_EQ(e.out.size(), 1u);
  EXPECT_EQ(e.out[0].routing_id, "C");
  EXPECT_EQ(std::get<pmp::Bye>(e.out[0].header).reason, "resume buffer full");
  ASSERT_EQ(e.ended.size(), 1u);
  EXPECT_EQ(e.ended[0].why, "ended by its server");
  EXPECT_EQ(directory_.Find("C"), nullptr);
  EXPECT_NE(directory_.Find("C2"), nullptr);
  EXPECT_EQ(directory_.FindService("viz")->clients, std::vector<std::string>{other});
  // Not a client of its own, or no peer: nothing (a BYE without peer is the server's).
  ASSERT_TRUE(directory_.Hello("T", ServerHello("other", true), "", kT0).admitted);
  EXPECT_TRUE(directory_.ServerBye("T", pmp::Bye{"x", other}).out.empty());
  EXPECT_TRUE(directory_.ServerBye("C2", pmp::Bye{"x", other}).out.empty());
  EXPECT_NE(directory_.Find("C2"), nullptr);
}

TEST_F(DirectoryResumeTest, AServerAnswersItsSessionsResumesInOrder) {
  const pmp::Welcome welcome = Setup();
  directory_.Lost("C");
  ASSERT_TRUE(Forward("R1", ResumeOf(welcome.session, "forged")));
  ASSERT_TRUE(Forward("R2", ResumeOf(welcome.session, welcome.resume_token)));
  // The forged one first: refused; then the true one: admitted, not the forger.
  EndOutcome refused = directory_.ServerBye("S", pmp::Bye{"gone", welcome.session});
  ASSERT_EQ(refused.out.size(), 1u);
  EXPECT_EQ(refused.out[0].routing_id, "R1");
  EXPECT_EQ(directory_.Resumed("S", pmp::Resumed{welcome.session, 0}, kT0).routing_id, "R2");
  EXPECT_EQ(directory_.Find("R1"), nullptr);
}

TEST_F(DirectoryResumeTest, AResumeUnansweredInTimeIsGivenUpAndItsLateAnswerDiscarded) {
  const pmp::Welcome welcome = Setup();
  directory_.Lost("C");
  ASSERT_TRUE(Forward("R1", ResumeOf(welcome.session, welcome.resume_token)));
  directory_.Find("S")->peer.last_seen = kT0 + std::chrono::seconds(5);
  directory_.Expire(kT0 + std::chrono::seconds(5) - milliseconds(1));
  EXPECT_EQ(directory_.resumes().at(welcome.session).waiting.size(), 1u);
  directory_.Expire(kT0 + std::chrono::seconds(5));
  EXPECT_TRUE(directory_.resumes().at(welcome.session).waiting.empty());
  EXPECT_EQ(directory_.resumes().at(welcome.session).abandoned, 1u);
  // The client dials again; the late answer is R1's, and R1 waits no more: the
  // server, which holds the session admitted now, hears it lost again.
  const TimePoint later = kT0 + std::chrono::seconds(5);
  ASSERT_TRUE(Forward("R2", ResumeOf(welcome.session, welcome.resume_token), later));
  ResumedOutcome late = directory_.Resumed("S", pmp::Resumed{welcome.session, 0}, later);
  EXPECT_TRUE(late.routing_id.empty());
  ASSERT_EQ(late.out.size(), 1u);
  EXPECT_EQ(late.out[0].routing_id, "S");
  EXPECT_EQ(std::get<pmp::Left>(late.out[0].header).reason, "expired");
  EXPECT_EQ(directory_.Find("R1"), nullptr);
  // Then R2's answer.
  EXPECT_EQ(directory_.Resumed("S", pmp::Resumed{welcome.session, 0}, later).routing_id, "R2");
  EXPECT_TRUE(directory_.resumes().empty());
}

TEST_F(DirectoryResumeTest, ServerExpiryForgetsResumableClientsWithoutBye) {
  const pmp::Welcome welcome = Setup();
  const std::string plain = Join("C2", "viz");
  const TimePoint later = kT0 + kInterval * 2;
  directory_.Find("C")->peer.last_seen = later;
  directory_.Find("C2")->peer.last_seen = later;
  EndOutcome e = directory_.Expire(kT0 + kInterval * kLiveness);
  ASSERT_EQ(e.out.size(), 1u);  // only the client that cannot resume hears of it
  EXPECT_EQ(e.out[0].routing_id, "C2");
  EXPECT_EQ(std::get<pmp::Bye>(e.out[0].header).reason, "server lost");
  ASSERT_EQ(e.ended.size(), 3u);
  EXPECT_EQ(e.ended[0].why, "server lost; it may resume");
  EXPECT_EQ(directory_.size(), 0u);
  EXPECT_EQ(directory_.client_count(), 0u);
  // Its next message gets ERROR 404, and it RESUMEs; until a server registers, 404.
  EXPECT_EQ(directory_.RouteFrom("C", "").error_code, 404u);
  EXPECT_EQ(directory_.Resume("C", ResumeOf(welcome.session, welcome.resume_token), "", "", kT0)
                .deny_code,
            404u);
}

TEST_F(DirectoryResumeTest, ServerHelloAgainForgetsResumableClientsWithoutBye) {
  Setup();
  Join("C2", "viz");
  HelloOutcome o = directory_.Hello("S", ResumingServerHello("viz"), "", kT0);
  ASSERT_TRUE(o.admitted);
  ASSERT_EQ(o.out.size(), 2u);  // BYE to the plain client, the WELCOME
  EXPECT_EQ(o.out[0].routing_id, "C2");
  EXPECT_EQ(std::get<pmp::Bye>(o.out[0].header).reason, "server left");
}

TEST_F(DirectoryResumeTest, ServerByeEndsResumableClientsAndWaitingResumesForGood) {
  const pmp::Welcome welcome = Setup();
  const std::string other = Join("C2", "viz");
  directory_.Find("C2")->resume_token = "t";  // both resumable
  ASSERT_TRUE(directory_.Lost("C2").out.size() == 1u);
  ASSERT_TRUE(Forward("R", ResumeOf(other, "t")));
  EndOutcome e = directory_.Bye("S");
  ASSERT_EQ(e.out.size(), 2u);
  EXPECT_EQ(e.out[0].routing_id, "R");
  EXPECT_EQ(std::get<pmp::Deny>(e.out[0].header).code, 410u);
  EXPECT_EQ(std::get<pmp::Deny>(e.out[0].header).reason, "gone: server left");
  EXPECT_EQ(e.out[1].routing_id, "C");
  EXPECT_EQ(std::get<pmp::Bye>(e.out[1].header).reason, "server left");
  EXPECT_TRUE(directory_.resumes().empty());
}

TEST_F(DirectoryResumeTest, ServerExpiryDropsWaitingResumesSilently) {
  const pmp::Welcome welcome = Setup();
  directory_.Lost("C");
  ASSERT_TRUE(Forward("R", ResumeOf(welcome.session, welcome.resume_token)));
  EXPECT_EQ(directory_.Find("R"), nullptr);
  EndOutcome e = directory_.Lost("S");
  EXPECT_TRUE(e.out.empty());
  EXPECT_TRUE(directory_.resumes().empty());
}

TEST_F(DirectoryResumeTest, RestartedBrokerResumesIntoASingleServerWhoseSlotItTakes) {
  // A fresh directory knows no session: the server registers again, the client
  // RESUMEs with its service.
  ASSERT_TRUE(directory_.Hello("S", ResumingServerHello("viz", /*multi=*/false), "", kT0).admitted);
  std::optional<pmp::Joined> joined = Forward("C", ResumeOf("00112233445566778899", "t", 12));
  ASSERT_TRUE(joined);
  EXPECT_EQ(joined->name, "");
  EXPECT_EQ(joined->received, 12u);
  ASSERT_EQ(directory_.Resumed("S", pmp::Resumed{"00112233445566778899", 4}, kT0).routing_id, "C");
  const Leg* leg = directory_.Find("C");
  EXPECT_EQ(leg->peer.version, "1.2");
  EXPECT_EQ(leg->peer.payload_form, pmp::PayloadFormFor("1.2"));
  // It had the one slot: a newcomer is refused as for any single server's second client.
  EXPECT_EQ(directory_.Hello("D", ResumableClientHello("viz"), "", kT0).deny_code, 409u);
  // It is found by its old session id.
  EXPECT_EQ(directory_.FindSession("00112233445566778899"), leg);
}

TEST_F(DirectoryResumeTest, PingsAboutAResumableSessionAreForwardedBothWays) {
  const pmp::Welcome welcome = Setup();
  const std::string plain = Join("C2", "viz");
  const TimePoint now = kT0 + milliseconds(10);
  // Client -> server: with the client's session as peer, no echo.
  pmp::Ping from_client{.t = 1, .echo = 2, .ack = 5, .sent = 9, .resend = true};
  Outbox out = directory_.ForwardPing("C", from_client, now);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].routing_id, "S");
  const auto& to_server = std::get<pmp::Ping>(out[0].header);
  EXPECT_EQ(to_server.peer, welcome.session);
  EXPECT_EQ(to_server.ack, 5u);
  EXPECT_EQ(to_server.sent, 9u);
  EXPECT_TRUE(to_server.resend);
  EXPECT_FALSE(to_server.echo.has_value());
  EXPECT_GT(to_server.t, 0u);
  // A heartbeat PING without resume keys, or from a client that cannot resume: not.
  EXPECT_TRUE(directory_.ForwardPing("C", pmp::Ping{.t = 1}, now).empty());
  EXPECT_TRUE(directory_.ForwardPing("C2", pmp::Ping{.t = 1, .ack = 1}, now).empty());

  // Server -> client: the peer goes, the leg's echo comes.
  directory_.Find("C")->peer.echo = PingEcho{.t = 777, .received_at = kT0};
  out = directory_.ForwardPing("S", pmp::Ping{.t = 3, .ack = 4, .peer = welcome.session}, now);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].routing_id, "C");
  const auto& to_client = std::get<pmp::Ping>(out[0].header);
  EXPECT_EQ(to_client.peer, "");
  EXPECT_EQ(to_client.ack, 4u);
  EXPECT_FALSE(to_client.sent.has_value());
  EXPECT_FALSE(to_client.resend);
  EXPECT_EQ(to_client.echo, 777u);
  EXPECT_EQ(to_client.held, 10000u);
  // No peer (its own heartbeat), a client that cannot resume, or none: not.
  EXPECT_TRUE(directory_.ForwardPing("S", pmp::Ping{.t = 3, .ack = 4}, now).empty());
  EXPECT_TRUE(directory_.ForwardPing("S", pmp::Ping{.t = 3, .peer = plain}, now).empty());
  EXPECT_TRUE(directory_.ForwardPing("S", pmp::Ping{.t = 3, .peer = "nobody"}, now).empty());
}

TEST_F(DirectoryTest, LegsListOldestFirst) {
  Register("S", "viz", true);
  Join("C2", "viz");
  Join("C1", "viz");
  std::vector<std::string> ids;
  for (const Leg* leg : directory_.Legs()) ids.push_back(leg->peer.routing_id);
  EXPECT_EQ(ids, (std::vector<std::string>{"S", "C2", "C1"}));
}

}  // namespace
}  // namespace procmod::broker
