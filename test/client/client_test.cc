// The client façade (procmod::client) against real procmod-server processes,
// including the reconnect policy across a server restart.
#include "procmod/client.h"

#include <signal.h>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "procmod/admin_client.h"
#include "support/daemons.h"
#include "support/module_fixture.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"

namespace procmod::testing {
namespace {

class ClientTest : public ::testing::Test {
 protected:
  // procmod-server on this test's configuration with `extra` flags; its endpoint in
  // endpoint_.
  std::unique_ptr<Subprocess> StartServer(std::vector<std::string> extra) {
    extra.insert(extra.begin(), {PROCMOD_SERVER, "--config", config_});
    Daemon server = StartDaemon(std::move(extra), kServerReady);
    endpoint_ = server.endpoint;
    return std::move(server.process);
  }

  static Frames Text(std::string_view text) {
    Frames frames;
    frames.emplace_back(text.data(), text.size());
    return frames;
  }

  zmq::context_t context_;
  TempDir dir_;
  const std::string config_ = dir_.Write(
      "server.yaml", "heartbeat: {interval: 100ms, liveness: 3}\nadmin: {endpoint: none}\n");
  std::string endpoint_;
  Mailbox<std::string> events_;  // outlives the client and its callbacks
};

TEST_F(ClientTest, ConnectRequestAndSend) {
  auto server = StartServer({"--port", "0", "--multi-clients", "--name", "viz-1"});
  ClientOptions options;
  options.module.name = "app";
  Result<std::unique_ptr<Client>> client = Client::Connect(endpoint_, options);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  EXPECT_EQ((*client)->server().name(), "viz-1");
  Result<Reply> pong = (*client)->Request("ping", Text("hello")).get();
  ASSERT_TRUE(pong.ok()) << pong.status().ToString();
  EXPECT_EQ(pong->payload.at(0).to_string(), "hello");
  Result<Reply> unknown = (*client)->Request("no-such-method").get();
  EXPECT_EQ(unknown.status().pmp_code(), 404u);
  EXPECT_TRUE((*client)->Send("to everyone", "broadcast").ok());
}

TEST_F(ClientTest, ConnectFailsClearlyWhenDenied) {
  auto server = StartServer({"--port", "0", "--connect-id", "7"});
  ClientOptions options;
  options.module.connect_id = 8;
  Result<std::unique_ptr<Client>> client = Client::Connect(endpoint_, options);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().pmp_code(), 403u);
  EXPECT_NE(client.status().ToString().find("connect-id"), std::string::npos);
}

TEST_F(ClientTest, DataCallbacksDeliverCollabEvents) {
  auto server = StartServer({"--port", "0", "--multi-clients"});
  ClientOptions options;
  options.collab_news = true;
  Result<std::unique_ptr<Client>> client = Client::Connect(endpoint_, options);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  (*client)->OnData([this](const Connection&, std::string_view channel, Frames payload) {
    if (channel == "collab") events_.Push(payload.at(0).to_string());
  });
  // The subscription is a request of its own: a ping after it is answered after it.
  ASSERT_TRUE((*client)->Request("ping").get().ok());
  // A second client joins: the first hears of it.
  RawDealer other(context_, endpoint_);
  ASSERT_TRUE(other.Hello(MakeHello("client", "bob")).has_value());
  bool heard = false;
  while (std::optional<std::string> event = events_.Pop()) {
    if (event->find("\"joined\"") != std::string::npos && event->find("bob") != std::string::npos) {
      heard = true;
      break;
    }
  }
  EXPECT_TRUE(heard);
}

TEST_F(ClientTest, ReconnectPolicyBringsTheClientBackAfterAServerRestart) {
  const std::string port = std::to_string(FreeTcpPort(context_));
  auto server = StartServer({"--port", port, "--multi-clients"});
  ClientOptions options;
  options.module.reconnect = true;
  Result<std::unique_ptr<Client>> client = Client::Connect(endpoint_, options);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  const std::string first_session = (*client)->server().session();
  (*client)->OnConnected([this](const Connection& c) { events_.Push(c.session()); });

  server->Signal(SIGKILL);
  ASSERT_TRUE(server->Wait(kDeadline).has_value());
  server = StartServer({"--port", port, "--multi-clients"});

  // Back within the first backoff (1 s ± 25%) after the loss is noticed (300 ms).
  std::optional<std::string> session = events_.Pop(milliseconds(4000));
  ASSERT_TRUE(session.has_value()) << "the client did not come back";
  EXPECT_NE(*session, first_session);
  Result<Reply> pong = (*client)->Request("ping", Text("again")).get();
  ASSERT_TRUE(pong.ok()) << pong.status().ToString();
  EXPECT_EQ(pong->payload.at(0).to_string(), "again");
}

TEST_F(ClientTest, ReconnectStopsAtADeny) {
  const std::string port = std::to_string(FreeTcpPort(context_));
  auto server = StartServer({"--port", port, "--multi-clients"});
  ClientOptions options;
  options.module.reconnect = true;
  Result<std::unique_ptr<Client>> client = Client::Connect(endpoint_, options);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  auto run = std::async(std::launch::async, [&] { return (*client)->module().Run(); });
  server->Signal(SIGKILL);
  ASSERT_TRUE(server->Wait(kDeadline).has_value());
  // The new server wants another connect-id: DENY 403, and the policy gives up.
  server = StartServer({"--port", port, "--multi-clients", "--connect-id", "9"});
  ASSERT_EQ(run.wait_for(milliseconds(4000)), std::future_status::ready);
  EXPECT_EQ(run.get(), RunEnd::kPeerLost);
}

TEST_F(ClientTest, WithoutReconnectTheSessionJustEnds) {
  auto server = StartServer({"--port", "0"});
  ClientOptions options;
  options.module.resume.grace = milliseconds(0);  // no resume: the loss ends it at once
  Result<std::unique_ptr<Client>> client = Client::Connect(endpoint_, options);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  auto run = std::async(std::launch::async, [&] { return (*client)->module().Run(); });
  server->Signal(SIGKILL);
  ASSERT_EQ(run.wait_for(kDeadline), std::future_status::ready);
  EXPECT_EQ(run.get(), RunEnd::kPeerLost);
}

TEST_F(ClientTest, AKickedClientHearsTheAdministratorClosedItsSession) {
  const std::string admin = UniqueAdminEndpoint("procmod-client-kick");
  auto server = StartServer({"--port", "0", "--multi-clients", "--admin", admin});
  Result<std::unique_ptr<Client>> client = Client::Connect(endpoint_);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  (*client)->OnDisconnected([this](const Connection&, const Disconnect& how) {
    events_.Push(std::string(DisconnectReasonName(how.reason)) + ": " + how.message);
  });
  // What `procmod-monitor kick SESSION` sends.
  const std::vector<uint8_t> args =
      nlohmann::json::to_msgpack({{"session", (*client)->server().session()}});
  Result<Reply> closed =
      AdminRequest(admin, "connections.close", std::string(args.begin(), args.end()));
  ASSERT_TRUE(closed.ok()) << closed.status().ToString();
  EXPECT_EQ(events_.Pop(), std::optional<std::string>("bye: closed by the administrator"));
  server->Signal(SIGTERM);
  EXPECT_EQ(server->Wait(kDeadline), 0);
  RemoveIpcFile(admin);
}

TEST_F(ClientTest, WaitForServerAcceptsAReverseServer) {
  std::unique_ptr<Subprocess> server;
  Result<std::unique_ptr<Client>> client =
      Client::WaitForServer("tcp://127.0.0.1:0", {}, [&](const std::string& endpoint) {
        server = std::make_unique<Subprocess>(std::vector<std::string>{
            PROCMOD_SERVER, "--config", config_, "--reverse", "--client-url", endpoint});
      });
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  EXPECT_EQ((*client)->server().role(), "server");
  Result<Reply> pong = (*client)->Request("ping", Text("reverse")).get();
  ASSERT_TRUE(pong.ok()) << pong.status().ToString();
  client->reset();  // BYE: the reverse server exits 0
  EXPECT_EQ(server->Wait(kDeadline), 0);
}

// cdsrsrc:// with two ports: the module binds both, so the render server dials this
// process itself and its connection shows the address it dialed from. (The render
// server here dials from 127.0.0.2, a loopback address of its own, so that it cannot
// be mistaken for anything of this process's, which listens on 127.0.0.1.)
TEST_F(ClientTest, AReverseRenderServerShowsItsRealAddress) {
  std::vector<std::string> endpoints;
  std::optional<RawDealer> data;
  std::optional<RawDealer> render;
  Result<std::unique_ptr<Client>> client = Client::WaitForServer(
      "cdsrsrc://127.0.0.1:0/127.0.0.1:0", {}, [&](const std::string& endpoint) {
        endpoints.push_back(endpoint);
        if (endpoints.size() == 1) {
          data.emplace(context_, endpoint);
          data->Send(MakeHello("data-server", "ds"));
        } else {
          // ZeroMQ's "tcp://SOURCE;DESTINATION": dial from 127.0.0.2.
          render.emplace(context_,
                         "tcp://127.0.0.2:0;" + endpoint.substr(std::string_view("tcp://").size()));
          render->Send(MakeHello("render-server", "rs"));
        }
      });
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  ASSERT_EQ(endpoints.size(), 2u);
  EXPECT_NE(endpoints[0], endpoints[1]);
  EXPECT_EQ((*client)->module().ListenEndpoints(), endpoints);
  EXPECT_EQ((*client)->server().name(), "ds");
  EXPECT_EQ((*client)->server().address(), "127.0.0.1");
  EXPECT_EQ((*client)->render_server().name(), "rs");
  EXPECT_EQ((*client)->render_server().address(), "127.0.0.2");
}

TEST_F(ClientTest, RenderPairConnectsToADataAndARenderServer) {
  auto data = StartServer({"--port", "0", "--server-type", "data"});
  const std::string data_endpoint = endpoint_;
  auto render = StartServer({"--port", "0", "--server-type", "render"});
  Result<std::unique_ptr<Client>> client = Client::ConnectRenderPair(data_endpoint, endpoint_);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  EXPECT_EQ((*client)->server().role(), "data-server");
  EXPECT_EQ((*client)->render_server().role(), "render-server");
}

TEST_F(ClientTest, RenderPairRefusesTwoDataServers) {
  auto data = StartServer({"--port", "0", "--server-type", "data"});
  const std::string data_endpoint = endpoint_;
  auto other = StartServer({"--port", "0", "--server-type", "data"});
  Result<std::unique_ptr<Client>> client = Client::ConnectRenderPair(data_endpoint, endpoint_);
  ASSERT_FALSE(client.ok());
  EXPECT_NE(client.status().ToString().find("expected a render-server"), std::string::npos);
}

}  // namespace
}  // namespace procmod::testing
