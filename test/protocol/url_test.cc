// The URLs procmod accepts (url.h): every scheme, ParaView's default ports, and the
// one line each malformed form gets. Tables, so a new case is one line.
#include "protocol/url.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace procmod {
namespace {

struct Good {
  std::string url;
  ConnectionUrl::Kind kind;
  bool render_client;
  std::string data_endpoint;
  std::string render_endpoint;
  std::string service;
};

TEST(ParseConnectionUrl, EverySchemeAndItsDefaultPorts) {
  const std::vector<Good> table = {
      // Plain endpoints pass as they are: who binds is the caller's business.
      {"tcp://127.0.0.1:5555", ConnectionUrl::kEndpoint, false, "tcp://127.0.0.1:5555", "", ""},
      {"tcp://*:0", ConnectionUrl::kEndpoint, false, "tcp://*:0", "", ""},
      {"ipc:///tmp/viz.sock", ConnectionUrl::kEndpoint, false, "ipc:///tmp/viz.sock", "", ""},
      {"broker+tcp://broker:5555/viz", ConnectionUrl::kForward, false, "tcp://broker:5555", "",
       "viz"},
      // cs://: one combined server, 11111 unless given.
      {"cs://viz-1", ConnectionUrl::kForward, false, "tcp://viz-1:11111", "", ""},
      {"cs://viz-1.example.org:1", ConnectionUrl::kForward, false, "tcp://viz-1.example.org:1", "",
       ""},
      {"cs://127.0.0.1:65535", ConnectionUrl::kForward, false, "tcp://127.0.0.1:65535", "", ""},
      {"cs://[::1]", ConnectionUrl::kForward, false, "tcp://[::1]:11111", "", ""},
      {"cs://[::1]:4000", ConnectionUrl::kForward, false, "tcp://[::1]:4000", "", ""},
      // csrc://: the client listens; no host is every interface, as in ParaView.
      {"csrc://", ConnectionUrl::kReverse, false, "tcp://*:11111", "", ""},
      {"csrc://:4000", ConnectionUrl::kReverse, false, "tcp://*:4000", "", ""},
      {"csrc://127.0.0.1", ConnectionUrl::kReverse, false, "tcp://127.0.0.1:11111", "", ""},
      {"csrc://127.0.0.1:0", ConnectionUrl::kReverse, false, "tcp://127.0.0.1:0", "", ""},
      {"csrc://*:4000", ConnectionUrl::kReverse, false, "tcp://*:4000", "", ""},
      // cdsrs://: a data server (11111) and a render server (22221).
      {"cdsrs://ds/rs", ConnectionUrl::kForward, true, "tcp://ds:11111", "tcp://rs:22221", ""},
      {"cdsrs://ds:1/rs:2", ConnectionUrl::kForward, true, "tcp://ds:1", "tcp://rs:2", ""},
      {"cdsrs://[::1]:1/rs", ConnectionUrl::kForward, true, "tcp://[::1]:1", "tcp://rs:22221", ""},
      // cdsrsrc://: the client listens on two ports.
      {"cdsrsrc:///", ConnectionUrl::kReverse, true, "tcp://*:11111", "tcp://*:22221", ""},
      {"cdsrsrc://:1/:2", ConnectionUrl::kReverse, true, "tcp://*:1", "tcp://*:2", ""},
      {"cdsrsrc://127.0.0.1:0/127.0.0.1:0", ConnectionUrl::kReverse, true, "tcp://127.0.0.1:0",
       "tcp://127.0.0.1:0", ""},
      {"cdsrsrc://127.0.0.1/", ConnectionUrl::kReverse, true, "tcp://127.0.0.1:11111",
       "tcp://*:22221", ""},
  };
  for (const Good& row : table) {
    Result<ConnectionUrl> parsed = ParseConnectionUrl(row.url);
    ASSERT_TRUE(parsed.ok()) << row.url << ": " << parsed.status().ToString();
    EXPECT_EQ(parsed->kind, row.kind) << row.url;
    EXPECT_EQ(parsed->render_client, row.render_client) << row.url;
    EXPECT_EQ(parsed->data_endpoint, row.data_endpoint) << row.url;
    EXPECT_EQ(parsed->render_endpoint, row.render_endpoint) << row.url;
    EXPECT_EQ(parsed->service, row.service) << row.url;
  }
}

struct Bad {
  std::string url;
  std::string why;  // the message after "bad URL 'URL': "
};

constexpr const char* kAccepted =
    "expected tcp://HOST:PORT, ipc://PATH, broker+tcp://HOST:PORT/SERVICE, cs://HOST[:PORT], "
    "csrc://[HOST][:PORT], cdsrs://DSHOST[:PORT]/RSHOST[:PORT] or "
    "cdsrsrc://[DSHOST][:PORT]/[RSHOST][:PORT]";

TEST(ParseConnectionUrl, EachMalformedFormIsOneLineNamingThePart) {
  const std::vector<Bad> table = {
      // No scheme, or one nobody knows: the accepted ones are listed.
      {"", kAccepted},
      {"127.0.0.1:11111", kAccepted},
      {"foo://x", std::string("unknown scheme 'foo://'; ") + kAccepted},
      {"inproc://x", std::string("unknown scheme 'inproc://'; ") + kAccepted},
      {"CS://viz", std::string("unknown scheme 'CS://'; ") + kAccepted},
      // cs://
      {"cs://", "HOST is missing: expected HOST[:PORT]"},
      {"cs://:11111", "HOST is missing: expected HOST[:PORT]"},
      {"cs://host:99999", "port 99999 is out of range 1-65535"},
      {"cs://host:0", "port 0 is out of range 1-65535"},
      {"cs://host:123456789012", "port 123456789012 is out of range 1-65535"},
      {"cs://host:", "port is missing after ':'"},
      {"cs://host:http", "port 'http' is not a number"},
      {"cs://host:-1", "port '-1' is not a number"},
      {"cs://host/x", "expected HOST[:PORT]"},
      {"cs://a/b", "expected HOST[:PORT]"},
      {"cs://*:11111", "'*' (every interface) is for listening; name the server's host"},
      {"cs://ho st", "HOST 'ho st' is not a host name or address"},
      {"cs://user@host", "HOST 'user@host' is not a host name or address"},
      {"cs://::1", "HOST '::1': put an IPv6 address in brackets, e.g. [::1]"},
      {"cs://[::1", "HOST '[::1' has no closing ']'"},
      {"cs://[::1]x", "expected HOST[:PORT]"},
      // csrc://: binding, so port 0 is fine but 65536 is not.
      {"csrc://:65536", "port 65536 is out of range 0-65535"},
      {"csrc://host:x", "port 'x' is not a number"},
      {"csrc://host/", "expected [HOST][:PORT]"},
      // cdsrs://
      {"cdsrs://a", "expected DSHOST[:PORT]/RSHOST[:PORT]"},
      {"cdsrs://a/b/c", "expected DSHOST[:PORT]/RSHOST[:PORT]"},
      {"cdsrs:///rs", "DSHOST is missing: expected DSHOST[:PORT]/RSHOST[:PORT]"},
      {"cdsrs://ds/", "RSHOST is missing: expected DSHOST[:PORT]/RSHOST[:PORT]"},
      {"cdsrs://ds:0/rs", "data server port 0 is out of range 1-65535"},
      {"cdsrs://ds/rs:99999", "render server port 99999 is out of range 1-65535"},
      {"cdsrs://ds/rs:", "render server port is missing after ':'"},
      {"cdsrs://ds/*", "'*' (every interface) is for listening; name the server's host"},
      // cdsrsrc://
      {"cdsrsrc://", "expected [DSHOST][:PORT]/[RSHOST][:PORT]"},
      {"cdsrsrc://:1", "expected [DSHOST][:PORT]/[RSHOST][:PORT]"},
      {"cdsrsrc://:70000/:1", "data server port 70000 is out of range 0-65535"},
      {"cdsrsrc://:1/:x", "render server port 'x' is not a number"},
      // broker+tcp:// keeps its messages.
      {"broker+tcp://broker:5555",
       "a broker URL names its service: broker+tcp://HOST:PORT/SERVICE"},
      {"broker+tcp://broker/viz", "the broker needs a port: broker+tcp://HOST:PORT/SERVICE"},
  };
  for (const Bad& row : table) {
    Result<ConnectionUrl> parsed = ParseConnectionUrl(row.url);
    ASSERT_FALSE(parsed.ok()) << row.url;
    EXPECT_TRUE(parsed.status().IsInvalidArgument()) << row.url;
    EXPECT_EQ(parsed.status().message(), "bad URL '" + row.url + "': " + row.why);
  }
}

TEST(ParsePeerUrl, DialsPlainEndpointsBrokersAndCs) {
  EXPECT_EQ(ParsePeerUrl("tcp://127.0.0.1:5555")->endpoint, "tcp://127.0.0.1:5555");
  EXPECT_EQ(ParsePeerUrl("ipc:///tmp/x")->endpoint, "ipc:///tmp/x");
  // The module also reaches its own threads and whatever else ZeroMQ knows.
  EXPECT_EQ(ParsePeerUrl("inproc://x")->endpoint, "inproc://x");
  Result<PeerUrl> broker = ParsePeerUrl("broker+tcp://b:1/viz");
  ASSERT_TRUE(broker.ok());
  EXPECT_EQ(broker->endpoint, "tcp://b:1");
  EXPECT_EQ(broker->service, "viz");
  // cs:// is what a reverse server's client_url may say.
  Result<PeerUrl> cs = ParsePeerUrl("cs://workstation");
  ASSERT_TRUE(cs.ok());
  EXPECT_EQ(cs->endpoint, "tcp://workstation:11111");
  EXPECT_EQ(cs->service, "");
  EXPECT_EQ(ParsePeerUrl("cs://127.0.0.1:4000")->endpoint, "tcp://127.0.0.1:4000");
}

TEST(ParsePeerUrl, RefusesWhatOneDialCannotBe) {
  EXPECT_EQ(ParsePeerUrl("cs://host:99999").status().message(),
            "bad URL 'cs://host:99999': port 99999 is out of range 1-65535");
  EXPECT_EQ(ParsePeerUrl("csrc://workstation:11111").status().message(),
            "bad URL 'csrc://workstation:11111': csrc:// is where a client listens (a reverse "
            "connection), not a peer to dial; a server dials that client as tcp://HOST:PORT or "
            "cs://HOST:PORT");
  EXPECT_EQ(ParsePeerUrl("cdsrs://ds/rs").status().message(),
            "bad URL 'cdsrs://ds/rs': cdsrs:// names a data server and a render server, not one "
            "peer; dial each as tcp://HOST:PORT or cs://HOST:PORT (procmod::Client takes the "
            "pair)");
  EXPECT_TRUE(ParsePeerUrl("cdsrsrc://:1/:2").status().IsInvalidArgument());
  EXPECT_TRUE(ParsePeerUrl("broker+tcp://b:1").status().IsInvalidArgument());
}

TEST(ParsePort, RangeDependsOnUse) {
  EXPECT_EQ(*ParsePort("1", PortUse::kDial), 1);
  EXPECT_EQ(*ParsePort("65535", PortUse::kDial), 65535);
  EXPECT_EQ(*ParsePort("0", PortUse::kBind), 0);  // any free port
  EXPECT_EQ(*ParsePort("00080", PortUse::kDial), 80);
  EXPECT_EQ(ParsePort("0", PortUse::kDial).status().message(), "0 is out of range 1-65535");
  EXPECT_EQ(ParsePort("65536", PortUse::kBind).status().message(), "65536 is out of range 0-65535");
  // Too long for a port, and for an int: out of range, not an overflow.
  EXPECT_EQ(ParsePort("123456789012", PortUse::kBind).status().message(),
            "123456789012 is out of range 0-65535");
  EXPECT_EQ(ParsePort("", PortUse::kDial).status().message(), "is missing after ':'");
  EXPECT_EQ(ParsePort("8o", PortUse::kDial).status().message(), "'8o' is not a number");
  EXPECT_EQ(ParsePort("-1", PortUse::kBind).status().message(), "'-1' is not a number");
  EXPECT_EQ(ParsePort("+80", PortUse::kDial).status().message(), "'+80' is not a number");
}

TEST(SplitHostPort, SplitsAtTheLastColon) {
  EXPECT_EQ(SplitHostPort("host:80")->host, "host");
  EXPECT_EQ(SplitHostPort("host:80")->port, "80");
  EXPECT_EQ(SplitHostPort("[::1]:80")->host, "[::1]");
  EXPECT_EQ(SplitHostPort("[::1]:80")->port, "80");
  EXPECT_EQ(SplitHostPort(":80")->host, "");  // the caller judges an empty host
  EXPECT_EQ(SplitHostPort("host:")->port, "");
  EXPECT_FALSE(SplitHostPort("host"));
  EXPECT_FALSE(SplitHostPort(""));
}

TEST(ParseTcpEndpoint, GoodForms) {
  struct Case {
    std::string endpoint;
    PortUse use;
    std::string host;
    int port;
  };
  for (const Case& c : std::vector<Case>{
           {"tcp://127.0.0.1:11111", PortUse::kDial, "127.0.0.1", 11111},
           {"tcp://viz-1.example.org:1", PortUse::kDial, "viz-1.example.org", 1},
           {"tcp://[::1]:65535", PortUse::kDial, "[::1]", 65535},
           {"tcp://*:0", PortUse::kBind, "*", 0},
           {"tcp://[::]:0", PortUse::kBind, "[::]", 0},
       }) {
    Result<TcpEndpoint> parsed = ParseTcpEndpoint(c.endpoint, c.use);
    ASSERT_TRUE(parsed.ok()) << c.endpoint << ": " << parsed.status().message();
    EXPECT_EQ(parsed->host, c.host) << c.endpoint;
    EXPECT_EQ(parsed->port, c.port) << c.endpoint;
  }
}

TEST(ParseTcpEndpoint, BadFormsSayWhy) {
  struct Case {
    std::string endpoint;
    PortUse use;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {"tcp://host", PortUse::kDial, "expected tcp://HOST:PORT"},  // no port
           {"ipc:///tmp/x:1", PortUse::kDial, "expected tcp://HOST:PORT"},
           {"host:80", PortUse::kDial, "expected tcp://HOST:PORT"},
           {"", PortUse::kBind, "expected tcp://HOST:PORT"},
           {"tcp://host:", PortUse::kDial, "port is missing after ':'"},
           {"tcp://host:http", PortUse::kDial, "port 'http' is not a number"},
           {"tcp://[::1]", PortUse::kDial, "port '1]' is not a number"},
           {"tcp://host:0", PortUse::kDial, "port 0 is out of range 1-65535"},
           {"tcp://host:65536", PortUse::kBind, "port 65536 is out of range 0-65535"},
           {"tcp://host:999999", PortUse::kBind, "port 999999 is out of range 0-65535"},
       }) {
    Result<TcpEndpoint> parsed = ParseTcpEndpoint(c.endpoint, c.use);
    ASSERT_FALSE(parsed.ok()) << c.endpoint;
    EXPECT_TRUE(parsed.status().IsInvalidArgument()) << c.endpoint;
    EXPECT_EQ(parsed.status().message(), c.message) << c.endpoint;
  }
}

TEST(WithPort, ReplacesThePortWhateverItWas) {
  EXPECT_EQ(*WithPort("tcp://0.0.0.0:11111", 4000), "tcp://0.0.0.0:4000");
  EXPECT_EQ(*WithPort("tcp://[::1]:1", 0), "tcp://[::1]:0");
  EXPECT_EQ(*WithPort("tcp://host:oops", 5), "tcp://host:5");  // the old port goes anyway
  EXPECT_EQ(*WithPort("tcp://:1", 2), "tcp://:2");
  EXPECT_FALSE(WithPort("tcp://host", 1));  // no port to replace
  EXPECT_FALSE(WithPort("ipc:///tmp/a:b", 1));
  EXPECT_FALSE(WithPort("broker+tcp://b:1/s", 1));
}

}  // namespace
}  // namespace procmod
