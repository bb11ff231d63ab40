#include "session/identity_table.h"

#include <gtest/gtest.h>

#include "support/fake_clock.h"

namespace procmod {
namespace {

using std::chrono::milliseconds;
using testing::FakeClock;

pmp::Hello ClientHello(std::string name = "c", uint64_t connect_id = 0) {
  pmp::Hello h;
  h.role = "client";
  h.name = std::move(name);
  h.version = "1.0";
  h.connect_id = connect_id;
  return h;
}

AdmissionPolicy Single() { return AdmissionPolicy{}; }
AdmissionPolicy Multi(size_t max) {
  AdmissionPolicy p;
  p.multi = true;
  p.max_connections = max;
  return p;
}

class IdentityTableTest : public ::testing::Test {
 protected:
  FakeClock clock_;
};

TEST_F(IdentityTableTest, SingleAdmitsOneClientThenDenies409) {
  IdentityTable table(Single());
  Admission first = table.Admit("r1", ClientHello("a"), "127.0.0.1", clock_.Now());
  ASSERT_TRUE(first.admitted);
  EXPECT_EQ(first.peer->name, "a");
  EXPECT_EQ(first.peer->session.size(), 16u);
  Admission second = table.Admit("r2", ClientHello("b"), "127.0.0.1", clock_.Now());
  EXPECT_FALSE(second.admitted);
  EXPECT_EQ(second.deny_code, 409u);
  EXPECT_EQ(table.size(), 1u);  // the denied HELLO is forgotten
  EXPECT_EQ(table.Find("r2"), nullptr);
}

TEST_F(IdentityTableTest, SingleSlotIsNotReusedAfterTheClientLeaves) {
  IdentityTable table(Single());
  ASSERT_TRUE(table.Admit("r1", ClientHello(), "", clock_.Now()).admitted);
  ASSERT_TRUE(table.Remove("r1"));
  EXPECT_EQ(table.Admit("r2", ClientHello(), "", clock_.Now()).deny_code, 409u);
}

TEST_F(IdentityTableTest, MultiAdmitsUpToMaxConnectionsThen503) {
  IdentityTable table(Multi(2));
  EXPECT_TRUE(table.Admit("r1", ClientHello(), "", clock_.Now()).admitted);
  EXPECT_TRUE(table.Admit("r2", ClientHello(), "", clock_.Now()).admitted);
  Admission third = table.Admit("r3", ClientHello(), "", clock_.Now());
  EXPECT_FALSE(third.admitted);
  EXPECT_EQ(third.deny_code, 503u);
  ASSERT_TRUE(table.Remove("r1"));  // a client leaves: room again
  EXPECT_TRUE(table.Admit("r3", ClientHello(), "", clock_.Now()).admitted);
}

TEST_F(IdentityTableTest, ConnectIdMismatchIs403) {
  AdmissionPolicy policy = Single();
  policy.connect_id = 42;
  IdentityTable table(policy);
  Admission wrong = table.Admit("r1", ClientHello("c", 7), "", clock_.Now());
  EXPECT_EQ(wrong.deny_code, 403u);
  EXPECT_NE(wrong.reason.find("connect-id"), std::string::npos);
  EXPECT_TRUE(table.Admit("r1", ClientHello("c", 42), "", clock_.Now()).admitted);
}

TEST_F(IdentityTableTest, ConnectIdIsCheckedBeforeBusy) {
  AdmissionPolicy policy = Single();
  policy.connect_id = 1;
  IdentityTable table(policy);
  ASSERT_TRUE(table.Admit("r1", ClientHello("c", 1), "", clock_.Now()).admitted);
  EXPECT_EQ(table.Admit("r2", ClientHello("c", 2), "", clock_.Now()).deny_code, 403u);
}

TEST_F(IdentityTableTest, OtherMajorVersionIs426NamingBoth) {
  IdentityTable table(Single());
  pmp::Hello hello = ClientHello();
  hello.version = "2.3";
  Admission a = table.Admit("r1", hello, "", clock_.Now());
  EXPECT_EQ(a.deny_code, 426u);
  EXPECT_NE(a.reason.find("2.3"), std::string::npos);
  EXPECT_NE(a.reason.find("1.0"), std::string::npos);
  hello.version = "1.7";  // same major, newer minor: fine
  EXPECT_TRUE(table.Admit("r1", hello, "", clock_.Now()).admitted);
  hello.version = "one";
  EXPECT_EQ(table.Admit("r2", hello, "", clock_.Now()).deny_code, 426u);
}

TEST_F(IdentityTableTest, RoleNotAcceptedIs403) {
  IdentityTable table(Single());
  pmp::Hello hello = ClientHello();
  hello.role = "render-server";
  Admission a = table.Admit("r1", hello, "", clock_.Now());
  EXPECT_EQ(a.deny_code, 403u);
  EXPECT_NE(a.reason.find("client"), std::string::npos);
}

TEST_F(IdentityTableTest, SingleModeHasOneSlotPerAcceptedRole) {
  AdmissionPolicy policy;
  policy.accepted_roles = {"data-server", "render-server"};
  IdentityTable table(policy);
  pmp::Hello ds = ClientHello("ds");
  ds.role = "data-server";
  pmp::Hello rs = ClientHello("rs");
  rs.role = "render-server";
  EXPECT_TRUE(table.Admit("r1", ds, "", clock_.Now()).admitted);
  EXPECT_TRUE(table.Admit("r2", rs, "", clock_.Now()).admitted);
  EXPECT_EQ(table.Admit("r3", ds, "", clock_.Now()).deny_code, 409u);
}

TEST_F(IdentityTableTest, HelloFromKnownRoutingIdReplacesItsSession) {
  IdentityTable table(Single());
  Admission first = table.Admit("r1", ClientHello("old"), "", clock_.Now());
  const std::string old_session = first.peer->session;
  Admission again = table.Admit("r1", ClientHello("new"), "", clock_.Now());
  ASSERT_TRUE(again.admitted);  // its own slot, even in single mode
  EXPECT_TRUE(again.replaced);
  EXPECT_EQ(again.replaced_session, old_session);
  EXPECT_NE(again.peer->session, old_session);
  EXPECT_EQ(table.FindSession(old_session), nullptr);
  EXPECT_EQ(table.FindSession(again.peer->session)->name, "new");
  EXPECT_EQ(table.size(), 1u);
}

TEST_F(IdentityTableTest, DisabledAcceptingDeniesNewcomersButKeepsPeers) {
  IdentityTable table(Multi(10));
  ASSERT_TRUE(table.Admit("r1", ClientHello(), "", clock_.Now()).admitted);
  table.SetAccepting(false);
  Admission a = table.Admit("r2", ClientHello(), "", clock_.Now());
  EXPECT_EQ(a.deny_code, 409u);
  EXPECT_EQ(a.reason, "further connections are disabled");
  EXPECT_NE(table.Find("r1"), nullptr);
  table.SetAccepting(true);
  EXPECT_TRUE(table.Admit("r2", ClientHello(), "", clock_.Now()).admitted);
}

TEST_F(IdentityTableTest, ExpireChecksEveryPeerNotOnlyTheOldest) {
  IdentityTable table(Multi(10));
  HeartbeatPolicy heartbeat({milliseconds(100), 3});
  ASSERT_TRUE(table.Admit("old", ClientHello("old"), "", clock_.Now()).admitted);
  clock_.Advance(milliseconds(50));
  ASSERT_TRUE(table.Admit("mid", ClientHello("mid"), "", clock_.Now()).admitted);
  ASSERT_TRUE(table.Admit("new", ClientHello("new"), "", clock_.Now()).admitted);
  // The oldest peer stays alive; the middle one falls silent.
  clock_.Advance(milliseconds(200));
  table.Find("old")->last_seen = clock_.Now();
  table.Find("new")->last_seen = clock_.Now();
  clock_.Advance(milliseconds(100));
  std::vector<PeerRecord> gone = table.Expire(clock_.Now(), heartbeat);
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].name, "mid");
  EXPECT_EQ(table.size(), 2u);
  EXPECT_EQ(table.FindSession(gone[0].session), nullptr);
}

TEST_F(IdentityTableTest, NextDeadlineIsTheEarliestPingOrExpiry) {
  IdentityTable table(Multi(10));
  HeartbeatPolicy heartbeat({milliseconds(100), 3});
  const TimePoint fallback = clock_.Now() + std::chrono::seconds(10);
  EXPECT_EQ(table.NextDeadline(heartbeat, fallback), fallback);
  ASSERT_TRUE(table.Admit("r1", ClientHello(), "", clock_.Now()).admitted);
  EXPECT_EQ(table.NextDeadline(heartbeat, fallback), clock_.Now() + milliseconds(100));
}

TEST_F(IdentityTableTest, SnapshotShowsTheRecord) {
  IdentityTable table(Multi(10));
  Admission a = table.Admit("r1", ClientHello("viz"), "10.0.0.5", clock_.Now());
  a.peer->msgs_in = 3;
  a.peer->bytes_out = 99;
  clock_.Advance(milliseconds(1500));
  std::vector<PeerInfo> peers = table.Snapshot(clock_.Now());
  ASSERT_EQ(peers.size(), 1u);
  EXPECT_EQ(peers[0].name, "viz");
  EXPECT_EQ(peers[0].role, "client");
  EXPECT_EQ(peers[0].address, "10.0.0.5");
  EXPECT_EQ(peers[0].state, "admitted");
  EXPECT_EQ(peers[0].connected_for, milliseconds(1500));
  EXPECT_EQ(peers[0].idle_for, milliseconds(1500));
  EXPECT_EQ(peers[0].msgs_in, 3u);
  EXPECT_EQ(peers[0].bytes_out, 99u);
}

}  // namespace
}  // namespace procmod

namespace procmod {
namespace {

TEST(IdentityTableMaster, OldestClientIsMasterAndHandsOverWhenItLeaves) {
  testing::FakeClock clock;
  AdmissionPolicy policy;
  policy.multi = true;
  IdentityTable table(policy);
  pmp::Hello hello;
  hello.role = "client";
  hello.version = "1.0";
  EXPECT_EQ(table.MasterSession(), "");
  const std::string first = table.Admit("r1", hello, "", clock.Now()).peer->session;
  const std::string second = table.Admit("r2", hello, "", clock.Now()).peer->session;
  table.Admit("r3", hello, "", clock.Now());
  EXPECT_EQ(table.MasterSession(), first);
  std::vector<PeerInfo> peers = table.Snapshot(clock.Now());
  ASSERT_EQ(peers.size(), 3u);
  EXPECT_TRUE(peers[0].master);
  EXPECT_FALSE(peers[1].master);
  ASSERT_TRUE(table.Remove("r1"));
  EXPECT_EQ(table.MasterSession(), second);  // the oldest remaining client
}

// ---- resume (PMP/1.2) -------------------------------------------------------------

class IdentityTableResumeTest : public ::testing::Test {
 protected:
  // One admitted, resumable client "a" from routing id r1, public key `key`.
  PeerRecord& AdmitResumable(const std::string& key = {}) {
    Admission a = table_.Admit("r1", ClientHello("a"), "127.0.0.1", clock_.Now());
    EXPECT_TRUE(a.admitted);
    a.peer->public_key = key;
    a.peer->resume = std::make_shared<ResumeState>(NewResumeToken(), std::chrono::seconds(10),
                                                   1 << 20);
    return *a.peer;
  }
  pmp::Resume ResumeOf(const PeerRecord& peer) {
    return pmp::Resume{peer.session, peer.resume->token(), 0};
  }

  FakeClock clock_;
  IdentityTable table_{Single()};
  HeartbeatPolicy heartbeat_{HeartbeatSettings{milliseconds(100), 3}};
};

TEST_F(IdentityTableResumeTest, ASilentResumablePeerIsSuspendedWithItsSlotThenEndsAfterTheGrace) {
  const std::string session = AdmitResumable().session;
  clock_.Advance(milliseconds(300));
  std::vector<PeerRecord*> suspended;
  EXPECT_TRUE(table_.Expire(clock_.Now(), heartbeat_, &suspended).empty());
  ASSERT_EQ(suspended.size(), 1u);
  EXPECT_TRUE(suspended[0]->suspended());
  EXPECT_EQ(table_.size(), 1u) << "kept, with its slot";
  EXPECT_FALSE(table_.Admit("r2", ClientHello("b"), "", clock_.Now()).admitted)
      << "single mode: the slot is still the suspended session's";
  EXPECT_EQ(table_.Snapshot(clock_.Now()).at(0).state, "suspended");
  EXPECT_EQ(table_.Snapshot(clock_.Now()).at(0).resume_left, std::chrono::seconds(10));
  EXPECT_EQ(table_.NextDeadline(heartbeat_, TimePoint::max()),
            clock_.Now() + std::chrono::seconds(10))
      << "no PING or expiry for it: only the end of its grace";
  clock_.Advance(std::chrono::seconds(9));
  EXPECT_TRUE(table_.Expire(clock_.Now(), heartbeat_).empty());
  clock_.Advance(std::chrono::seconds(1));
  std::vector<PeerRecord> ended = table_.Expire(clock_.Now(), heartbeat_);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].session, session);
  EXPECT_TRUE(ended[0].suspended()) << "the caller tells a grace's end from an expiry";
  EXPECT_TRUE(table_.empty());
}

TEST_F(IdentityTableResumeTest, ResumeMovesTheSessionToTheNewRoutingIdAndAddress) {
  PeerRecord& peer = AdmitResumable();
  const std::string session = peer.session;
  const pmp::Resume resume = ResumeOf(peer);
  clock_.Advance(milliseconds(300));
  table_.Expire(clock_.Now(), heartbeat_);
  IdentityTable::Resumption r = table_.Resume("r9", resume, "127.0.0.2", "", clock_.Now());
  ASSERT_NE(r.peer, nullptr) << r.reason;
  EXPECT_EQ(r.peer->routing_id, "r9");
  EXPECT_EQ(r.peer->address, "127.0.0.2");
  EXPECT_FALSE(r.peer->suspended());
  EXPECT_EQ(table_.Find("r1"), nullptr);
  EXPECT_EQ(table_.Find("r9"), r.peer);
  EXPECT_EQ(table_.FindSession(session), r.peer);
}

TEST_F(IdentityTableResumeTest, ASessionStillAdmittedElsewhereIsTakenOver) {
  PeerRecord& peer = AdmitResumable();
  IdentityTable::Resumption r = table_.Resume("r2", ResumeOf(peer), "", "", clock_.Now());
  ASSERT_NE(r.peer, nullptr) << r.reason;
  EXPECT_EQ(r.peer->routing_id, "r2");
  EXPECT_EQ(r.peer->address, "127.0.0.1") << "an unknown address keeps the old one";
  EXPECT_EQ(table_.size(), 1u);
}

TEST_F(IdentityTableResumeTest, AWrongTokenAnUnknownSessionAndAnEndedOneAllGet410) {
  PeerRecord& peer = AdmitResumable();
  pmp::Resume forged = ResumeOf(peer);
  forged.token = std::string(32, '0');
  IdentityTable::Resumption r = table_.Resume("r2", forged, "", "", clock_.Now());
  EXPECT_EQ(r.peer, nullptr);
  EXPECT_EQ(r.deny_code, 410u);
  EXPECT_EQ(table_.Find("r1")->routing_id, "r1") << "the owner keeps its session";

  r = table_.Resume("r2", pmp::Resume{"0123456789abcdef", forged.token, 0}, "", "", clock_.Now());
  EXPECT_EQ(r.deny_code, 410u);

  const pmp::Resume genuine = ResumeOf(peer);
  table_.Remove("r1");
  r = table_.Resume("r2", genuine, "", "", clock_.Now());
  EXPECT_EQ(r.deny_code, 410u) << "an ended session's token is worth nothing";
  EXPECT_EQ(r.reason, "gone: no resumable session " + genuine.session);
}

TEST_F(IdentityTableResumeTest, ASessionAdmittedWithoutResumeCannotBeResumed) {
  Admission a = table_.Admit("r1", ClientHello("a"), "", clock_.Now());
  ASSERT_TRUE(a.admitted);
  IdentityTable::Resumption r =
      table_.Resume("r2", pmp::Resume{a.peer->session, std::string(32, '0'), 0}, "", "",
                    clock_.Now());
  EXPECT_EQ(r.deny_code, 410u);
}

TEST_F(IdentityTableResumeTest, WithCurveAResumeMustComeWithTheHellosKey) {
  PeerRecord& peer = AdmitResumable("KEY-OF-ALICE");
  IdentityTable::Resumption r =
      table_.Resume("r2", ResumeOf(peer), "", "KEY-OF-MALLORY", clock_.Now());
  EXPECT_EQ(r.peer, nullptr);
  EXPECT_EQ(r.deny_code, 403u);
  EXPECT_EQ(table_.Find("r1")->routing_id, "r1");
  r = table_.Resume("r2", ResumeOf(*table_.Find("r1")), "", "KEY-OF-ALICE", clock_.Now());
  EXPECT_NE(r.peer, nullptr) << r.reason;
}

}  // namespace
}  // namespace procmod
