// IoLoop with an injected clock: its deadlines follow the clock it is given, so a
// rule that takes a minute of real time is checked in milliseconds.
#include "io/io_loop.h"

#include <gtest/gtest.h>

#include <future>

#include "support/fake_clock.h"

namespace procmod {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// A Clock the test moves while the I/O thread reads it.
class SharedFakeClock final : public Clock {
 public:
  TimePoint Now() const override { return TimePoint(seconds(1000)) + offset_.load(); }
  void Advance(Duration d) { offset_.store(offset_.load() + d); }

 private:
  std::atomic<Duration> offset_{Duration(0)};
};

// A ROUTER on loopback that takes the connection and never answers a HELLO.
class SilentServer {
 public:
  explicit SilentServer(zmq::context_t& context) : socket_(context, zmq::socket_type::router) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.bind("tcp://127.0.0.1:0");
    endpoint_ = socket_.get(zmq::sockopt::last_endpoint);
  }
  const std::string& endpoint() const { return endpoint_; }

 private:
  zmq::socket_t socket_;
  std::string endpoint_;
};

Options ClientOptions(milliseconds connect, milliseconds handshake) {
  Options options;
  options.role = Role::kClient;
  options.timeouts.connect = connect;
  options.timeouts.handshake = handshake;
  return options;
}

TEST(IoLoopClock, AMissingWelcomeFailsTheDialWhenTheClockSaysNotTheWall) {
  zmq::context_t context;
  SilentServer server(context);
  SharedFakeClock clock;
  Result<std::shared_ptr<IoLoop>> loop =
      IoLoop::Create(ClientOptions(seconds(60), seconds(30)), {}, clock);
  ASSERT_TRUE(loop.ok()) << loop.status().ToString();
  auto connected = std::async(std::launch::async,
                              [&] { return (*loop)->Connect(server.endpoint(), "server"); });
  // A minute of timeouts.connect passes on the injected clock (again and again: the
  // dial may start after the first advance); the loop notices at its next turn,
  // which Snapshot() asks for.
  const auto deadline = std::chrono::steady_clock::now() + seconds(10);
  while (connected.wait_for(milliseconds(20)) != std::future_status::ready &&
         std::chrono::steady_clock::now() < deadline) {
    clock.Advance(seconds(61));
    (void)(*loop)->Snapshot();
  }
  ASSERT_EQ(connected.wait_for(milliseconds(0)), std::future_status::ready)
      << "the dial did not end on the injected clock";
  Result<Connection> result = connected.get();
  ASSERT_FALSE(result.ok());
  EXPECT_TRUE(result.status().IsDeadlineExceeded()) << result.status().ToString();
  EXPECT_NE(result.status().message().find("within timeouts.connect"), std::string::npos);
  (*loop)->Shutdown();
}

TEST(IoLoopClock, BeforeItsDeadlineTheDialGoesOn) {
  zmq::context_t context;
  SilentServer server(context);
  SharedFakeClock clock;
  Result<std::shared_ptr<IoLoop>> loop =
      IoLoop::Create(ClientOptions(seconds(60), seconds(30)), {}, clock);
  ASSERT_TRUE(loop.ok());
  auto connected = std::async(std::launch::async,
                              [&] { return (*loop)->Connect(server.endpoint(), "server"); });
  clock.Advance(seconds(20));  // not yet timeouts.handshake, nor timeouts.connect
  for (int i = 0; i < 10; ++i) (void)(*loop)->Snapshot();
  EXPECT_EQ(connected.wait_for(milliseconds(200)), std::future_status::timeout);
  (*loop)->Stop();  // a Connect() still waiting gives up: kAborted
  Result<Connection> result = connected.get();
  EXPECT_TRUE(result.status().IsAborted()) << result.status().ToString();
  (*loop)->Shutdown();
}

}  // namespace
}  // namespace procmod
