// RelayedPeers: the clients a broker relays to this server, without sockets.
#include "session/relayed_peers.h"

#include <gtest/gtest.h>

#include "support/fake_clock.h"

namespace procmod {
namespace {

using std::chrono::seconds;
using testing::FakeClock;

pmp::Joined JoinedOf(std::string session, std::string name, std::string role = {}) {
  return pmp::Joined{std::move(session), std::move(name), std::move(role)};
}

class RelayedPeersTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  RelayedPeers relayed_;
};

TEST_F(RelayedPeersTest, AJoinedClientIsFoundByItsSessionAndItsLink) {
  PeerRecord& client = relayed_.Join(3, "via tcp://b:5555", JoinedOf("c-1", "alice"), clock_.Now());
  EXPECT_EQ(client.session, "c-1");
  EXPECT_EQ(client.name, "alice");
  EXPECT_EQ(client.role, "client");  // a JOINED without a role is a client's
  EXPECT_EQ(client.address, "via tcp://b:5555");
  EXPECT_EQ(client.connected_at, clock_.Now());
  EXPECT_EQ(relayed_.Find("c-1"), &client);
  EXPECT_EQ(relayed_.LinkOf("c-1"), 3u);
  EXPECT_EQ(relayed_.Find("c-2"), nullptr);
  EXPECT_EQ(relayed_.LinkOf("c-2"), 0u);
}

TEST_F(RelayedPeersTest, LeaveEndsOneSessionOnce) {
  relayed_.Join(3, "via b", JoinedOf("c-1", "alice"), clock_.Now());
  relayed_.Join(3, "via b", JoinedOf("c-2", "bob"), clock_.Now());
  std::optional<PeerRecord> left = relayed_.Leave("c-1");
  ASSERT_TRUE(left.has_value());
  EXPECT_EQ(left->name, "alice");
  EXPECT_FALSE(relayed_.Leave("c-1").has_value());  // a second LEFT finds nothing
  EXPECT_EQ(relayed_.size(), 1u);
}

TEST_F(RelayedPeersTest, ABrokerLinkThatEndsTakesOnlyItsOwnClients) {
  relayed_.Join(3, "via b1", JoinedOf("c-1", "alice"), clock_.Now());
  relayed_.Join(4, "via b2", JoinedOf("c-2", "bob"), clock_.Now());
  relayed_.Join(3, "via b1", JoinedOf("c-3", "carol"), clock_.Now());
  std::vector<PeerRecord> gone = relayed_.DropLink(3);
  ASSERT_EQ(gone.size(), 2u);
  EXPECT_EQ(relayed_.size(), 1u);
  EXPECT_NE(relayed_.Find("c-2"), nullptr);
  EXPECT_TRUE(relayed_.DropLink(3).empty());
}

TEST_F(RelayedPeersTest, TheOldestClientComesFirstItIsTheMaster) {
  relayed_.Join(3, "via b", JoinedOf("c-9", "first"), clock_.Now());
  clock_.Advance(seconds(1));
  relayed_.Join(3, "via b", JoinedOf("c-1", "second"), clock_.Now());
  relayed_.Join(3, "via b", JoinedOf("c-5", "third"), clock_.Now());
  std::vector<const PeerRecord*> order = relayed_.InJoinOrder();
  ASSERT_EQ(order.size(), 3u);
  EXPECT_EQ(order[0]->name, "first");
  EXPECT_EQ(order[1]->name, "second");
  EXPECT_EQ(order[2]->name, "third");
  // The master leaves: the next oldest is the master now.
  relayed_.Leave("c-9");
  EXPECT_EQ(relayed_.InJoinOrder().front()->name, "second");
}

TEST_F(RelayedPeersTest, DataRequestReplyAndAResumePingNameARelayedClient) {
  pmp::Message data;
  data.header = pmp::Data{"ch", "c-1"};
  ASSERT_NE(RelayedPeers::From(data), nullptr);
  EXPECT_EQ(*RelayedPeers::From(data), "c-1");
  pmp::Message ping;
  ping.header = pmp::Ping{};
  ASSERT_NE(RelayedPeers::From(ping), nullptr);
  EXPECT_TRUE(RelayedPeers::From(ping)->empty());  // no peer: the broker's own
  std::get<pmp::Ping>(ping.header).peer = "c-1";  // 1.2: about c-1's resumable session
  EXPECT_EQ(*RelayedPeers::From(ping), "c-1");
  pmp::Message broker_bye;
  broker_bye.header = pmp::Bye{"x"};
  EXPECT_EQ(RelayedPeers::From(broker_bye), nullptr);

  pmp::Header request = pmp::Request{1, "m", "", {}};
  EXPECT_TRUE(RelayedPeers::AddressTo("c-2", request));
  EXPECT_EQ(std::get<pmp::Request>(request).peer, "c-2");
  pmp::Header bye = pmp::Bye{"x"};
  EXPECT_FALSE(RelayedPeers::AddressTo("c-2", bye));  // cannot be relayed to one client
}

TEST_F(RelayedPeersTest, AResumableSessionOutlivesItsBrokerLinkUntilItsGraceEnds) {
  FakeClock& clock = clock_;
  relayed_.Join(7, "via b", pmp::Joined{"plain", "p", "client"}, clock.Now());
  PeerRecord& resumable =
      relayed_.Join(7, "via b", pmp::Joined{"kept", "k", "client"}, clock.Now());
  resumable.resume = std::make_shared<ResumeState>("t", std::chrono::seconds(5), 1 << 20);
  std::vector<PeerRecord*> kept;
  std::vector<PeerRecord> ended = relayed_.DropLink(7, &kept);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].session, "plain");
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0]->session, "kept");
  kept[0]->resume->Suspend(clock.Now());
  relayed_.Reattach("kept", 9);
  EXPECT_EQ(relayed_.LinkOf("kept"), 9u);
  clock.Advance(std::chrono::seconds(4));
  EXPECT_TRUE(relayed_.EndSuspended(clock.Now()).empty());
  clock.Advance(std::chrono::seconds(1));
  std::vector<PeerRecord> over = relayed_.EndSuspended(clock.Now());
  ASSERT_EQ(over.size(), 1u);
  EXPECT_EQ(over[0].session, "kept");
  EXPECT_EQ(relayed_.Find("kept"), nullptr);
}

TEST_F(RelayedPeersTest, ClientsOfALostBrokerAreLostUnlessWeClosedIt) {
  EXPECT_EQ(RelayedPeers::LossFor(DisconnectReason::kBye), DisconnectReason::kExpired);
  EXPECT_EQ(RelayedPeers::LossFor(DisconnectReason::kExpired), DisconnectReason::kExpired);
  EXPECT_EQ(RelayedPeers::LossFor(DisconnectReason::kForgotten), DisconnectReason::kExpired);
  EXPECT_EQ(RelayedPeers::LossFor(DisconnectReason::kClosed), DisconnectReason::kClosed);
}

}  // namespace
}  // namespace procmod
