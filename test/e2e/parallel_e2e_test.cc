// End to end: procmod-server as a parallel server, under Open MPI's real mpiexec
// with 2 and 4 ranks (--oversubscribe: CI has 2 cores), spoken to in raw PMP/1
// frames. Each test checks what the user of a parallel server sees: one REPLY with
// every rank's part, the single-client rules, the exit code every rank ends with,
// and a job that ends, with nothing left running, when a rank dies or hangs.
//
// The tests skip, saying why, when procmod was built without MPI (PROCMOD_MPI=OFF),
// except the one that checks a server started alone answers as a job of one rank.
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "procmod/admin_client.h"
#include "support/daemons.h"
#include "support/raw_peer.h"
#include "support/temp_dir.h"

#ifndef PROCMOD_SERVER
#error "PROCMOD_SERVER must name the procmod-server binary"
#endif

namespace procmod::testing {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::duration_cast;
using std::chrono::seconds;

// The whole job must be gone this long after it was told to end (or lost a rank).
constexpr milliseconds kJobEnds{15000};

#ifdef PROCMOD_MPIEXEC
constexpr const char* kMpiexec = PROCMOD_MPIEXEC;
#else
constexpr const char* kMpiexec = nullptr;
#endif

#define SKIP_WITHOUT_MPI()                                                                   \
  do {                                                                                       \
    if (kMpiexec == nullptr) {                                                               \
      GTEST_SKIP() << "procmod was built without MPI (PROCMOD_MPI=OFF): no parallel server"; \
    }                                                                                        \
  } while (0)

std::string Pack(const json& value) {
  std::vector<uint8_t> bytes = json::to_msgpack(value);
  return std::string(bytes.begin(), bytes.end());
}

json Unpack(const std::string& bytes) {
  return json::from_msgpack(bytes, true, /*allow_exceptions=*/false);
}

bool Alive(int64_t pid) { return kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH; }

// procmod-server under `mpiexec -n ranks`. Open MPI refuses root unless told, and CI
// runs as root: the two variables it asks for are set for the child. On the way out
// the job is ended as a user would (SIGTERM to mpiexec), then killed, and any rank
// still there (their pids come from the job's own answer) is killed too.
class ParallelServer : public ServerProcess {
 public:
  ParallelServer(int ranks, std::vector<std::string> args)
      : ServerProcess(kMpiexec, WithMpiexec(ranks, std::move(args))) {}
  ~ParallelServer() {
    if (!Wait(milliseconds(0))) {
      Signal(SIGTERM);
      if (!Wait(kJobEnds)) Signal(SIGKILL);
    }
    for (int64_t pid : rank_pids) {
      if (pid > 0 && Alive(pid)) kill(static_cast<pid_t>(pid), SIGKILL);
    }
  }

  std::vector<int64_t> rank_pids;  // filled by the tests that learn them

 private:
  static std::vector<std::string> WithMpiexec(int ranks, std::vector<std::string> args) {
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    // Containers often forbid the cross-memory attach Open MPI copies large messages
    // with between ranks on one host; plain copies through shared memory always work.
    setenv("OMPI_MCA_btl_vader_single_copy_mechanism", "none", 1);
    std::vector<std::string> argv = {"-n", std::to_string(ranks), "--oversubscribe",
                                     PROCMOD_SERVER};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }
};

pmp::Request MakeRequest(uint64_t id, std::string method, const json& args = nullptr) {
  pmp::Request request{.id = id, .method = std::move(method)};
  if (!args.is_null()) request.args = Pack(args);
  return request;
}

// The next message that is not DATA, sending a PING every 500 ms meanwhile, so that
// a wait longer than the server's heartbeat does not expire this client.
std::optional<pmp::Message> ReceiveAlive(RawDealer& dealer, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    const auto slice =
        std::min(milliseconds(500), duration_cast<milliseconds>(deadline - Clock::now()));
    std::optional<pmp::Message> m = dealer.Receive(std::max(milliseconds(1), slice));
    if (m && m->command() != pmp::Command::kData) return m;
    const auto now = duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch());
    dealer.Send(pmp::Ping{.t = static_cast<uint64_t>(now.count())});
  }
  return std::nullopt;
}

std::optional<pmp::Message> Call(RawDealer& dealer, uint64_t id, std::string method,
                                 const json& args = nullptr, pmp::Frames payload = {},
                                 milliseconds timeout = kJobEnds) {
  dealer.Send(MakeRequest(id, std::move(method), args), std::move(payload));
  std::optional<pmp::Message> m = ReceiveAlive(dealer, timeout);
  std::optional<pmp::Reply> reply = As<pmp::Reply>(m);
  if (!reply) {
    ADD_FAILURE() << "no REPLY to request " << id;
    return std::nullopt;
  }
  EXPECT_EQ(reply->id, id);
  return m;
}

// The REPLY's result, decoded; null (and a test failure) when it failed.
json ResultOf(const std::optional<pmp::Message>& m) {
  std::optional<pmp::Reply> reply = As<pmp::Reply>(m);
  if (!reply) return nullptr;
  EXPECT_EQ(reply->code, 0u) << reply->error;
  return Unpack(reply->result);
}

// Every rank's pid, from parallel.ranks (each rank answers for itself).
std::vector<int64_t> RankPids(RawDealer& dealer, uint64_t id) {
  json ranks = ResultOf(Call(dealer, id, "parallel.ranks"));
  std::vector<int64_t> pids;
  if (!ranks.is_array()) return pids;
  for (const json& r : ranks) pids.push_back(r.value("pid", int64_t{0}));
  return pids;
}

// True once none of `pids` is running, within `timeout`.
bool AllGone(const std::vector<int64_t>& pids, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    bool any = false;
    for (int64_t pid : pids) any = any || (pid > 0 && Alive(pid));
    if (!any) return true;
    if (Clock::now() > deadline) return false;
    usleep(20'000);  // polling a process table: there is nothing to wait on
  }
}

class ParallelServerTest : public ::testing::TestWithParam<int> {};

// ---------------------------------------------------------------------------------

TEST_P(ParallelServerTest, OneReplyCarriesEveryRanksPartAndTheJobEndsWithItsClient) {
  SKIP_WITHOUT_MPI();
  const int n = GetParam();
  TempDir dir;
  const std::string connection_file = dir.path() + "/server.json";
  const std::string admin = UniqueAdminEndpoint("parallel");
  ParallelServer server(n, {"--port", "0", "--connection-file", connection_file, "--admin", admin});
  std::optional<std::string> ready = server.WaitFor(kServerReady, kJobEnds);
  ASSERT_TRUE(ready.has_value()) << server.Transcript();
  EXPECT_NE(ready->find("(ranks: " + std::to_string(n) + ")"), std::string::npos) << *ready;
  std::string endpoint = ready->substr(ready->find(kServerReady) + kServerReady.size());
  endpoint = endpoint.substr(0, endpoint.find(' '));

  zmq::context_t context;
  RawDealer client(context, endpoint);
  ASSERT_TRUE(client.Hello(MakeHello("client", "parallel")).has_value());

  // parallel.sum: rank r answers value x (r + 1).
  EXPECT_EQ(ResultOf(Call(client, 1, "parallel.sum")), n * (n + 1) / 2);
  EXPECT_EQ(ResultOf(Call(client, 2, "parallel.sum", json{{"value", 10}})), 10 * n * (n + 1) / 2);

  // parallel.ranks: every rank, in order, each a process of its own.
  json ranks = ResultOf(Call(client, 3, "parallel.ranks"));
  ASSERT_TRUE(ranks.is_array()) << ranks.dump();
  ASSERT_EQ(ranks.size(), static_cast<size_t>(n));
  std::set<int64_t> pids;
  for (int r = 0; r < n; ++r) {
    EXPECT_EQ(ranks[static_cast<size_t>(r)].value("rank", -1), r);
    pids.insert(ranks[static_cast<size_t>(r)].value("pid", int64_t{0}));
  }
  EXPECT_EQ(pids.size(), static_cast<size_t>(n));
  server.rank_pids.assign(pids.begin(), pids.end());

  // A payload longer than one MPI slot comes back from every rank, whole.
  const std::string big(100'000, 'x');
  std::optional<pmp::Message> echo =
      Call(client, 4, "parallel.echo", nullptr, TextFrames({"small", big}));
  ASSERT_TRUE(echo.has_value());
  ASSERT_EQ(echo->payload.size(), static_cast<size_t>(2 * n));
  for (int r = 0; r < n; ++r) {
    EXPECT_EQ(Text(echo->payload[static_cast<size_t>(2 * r)]), "small");
    EXPECT_EQ(Text(echo->payload[static_cast<size_t>(2 * r + 1)]), big);
  }

  // info and the connection file say one server of n ranks.
  json info = ResultOf(Call(client, 5, "info"));
  EXPECT_EQ(info.value("ranks", 0), n);
  EXPECT_EQ(info["rank_info"].size(), static_cast<size_t>(n));
  std::ifstream file(connection_file);
  json written = json::parse(file, nullptr, /*allow_exceptions=*/false);
  EXPECT_EQ(written.value("ranks", 0), n) << written.dump();
  // ... and so does process.info, which procmod-monitor shows (rank 0 answers it).
  Result<Reply> process = AdminRequest(admin, "process.info");
  ASSERT_TRUE(process.ok()) << process.status().ToString();
  EXPECT_EQ(Unpack(process->result).value("ranks", 0), n);

  // F4: the one client says BYE; every rank exits 0, and so does mpiexec.
  client.Send(pmp::Bye{.reason = "done"});
  EXPECT_EQ(server.Wait(kJobEnds), 0) << server.Transcript();
  EXPECT_TRUE(AllGone(server.rank_pids, kJobEnds));
  RemoveIpcFile(admin);
}

INSTANTIATE_TEST_SUITE_P(Ranks, ParallelServerTest, ::testing::Values(2, 4),
                         [](const auto& info) { return std::to_string(info.param) + "Ranks"; });

TEST(ParallelServer, F3_RefusesASecondClientAndExitsThreeWhenItsClientIsLost) {
  SKIP_WITHOUT_MPI();
  TempDir dir;
  const std::string config = dir.path() + "/server.yaml";
  std::ofstream(config) << "heartbeat: {interval: 200ms, liveness: 3}\n";
  ParallelServer server(2, {"--port", "0", "--config", config});
  const std::string endpoint = server.WaitReady();
  ASSERT_FALSE(endpoint.empty()) << server.Transcript();

  zmq::context_t context;
  RawDealer first(context, endpoint);
  ASSERT_TRUE(first.Hello(MakeHello("client", "first")).has_value());
  server.rank_pids = RankPids(first, 1);

  RawDealer second(context, endpoint);
  second.Send(MakeHello("client", "second"));
  std::optional<pmp::Deny> deny = As<pmp::Deny>(second.Receive());
  ASSERT_TRUE(deny.has_value());
  EXPECT_EQ(deny->code, 409u);

  // The first client falls silent: after 600 ms it is lost, and every rank exits 3.
  EXPECT_EQ(server.Wait(kJobEnds), 3) << server.Transcript();
  EXPECT_TRUE(AllGone(server.rank_pids, kJobEnds));
}

TEST(ParallelServer, AKilledRankEndsTheJobAndItsRequestInFlightGetsAnError) {
  SKIP_WITHOUT_MPI();
  ParallelServer server(3, {"--port", "0"});
  const std::string endpoint = server.WaitReady();
  ASSERT_FALSE(endpoint.empty()) << server.Transcript();
  zmq::context_t context;
  RawDealer client(context, endpoint);
  ASSERT_TRUE(client.Hello(MakeHello("client", "victim")).has_value());
  server.rank_pids = RankPids(client, 1);
  ASSERT_EQ(server.rank_pids.size(), 3u);

  // Every rank waits 10 s in this request; rank 1 dies meanwhile.
  client.Send(MakeRequest(2, "parallel.wait", json{{"ms", 10000}}));
  usleep(300'000);  // let the request reach every rank (nothing to poll for from here)
  const auto killed_at = Clock::now();
  kill(static_cast<pid_t>(server.rank_pids[1]), SIGKILL);

  std::optional<pmp::Message> m = ReceiveAlive(client, kJobEnds);
  std::optional<pmp::Reply> reply = As<pmp::Reply>(m);
  ASSERT_TRUE(reply.has_value()) << "expected an ERROR reply; " << server.Transcript();
  EXPECT_EQ(reply->code, 503u) << reply->error;
  EXPECT_LT(Clock::now() - killed_at, seconds(9)) << "it waited for the request to finish";

  // The job ends in bounded time, mpiexec names the rank, and nothing is left.
  EXPECT_TRUE(server.Wait(kJobEnds).has_value()) << server.Transcript();
  EXPECT_NE(server.Transcript().find("rank 1"), std::string::npos) << server.Transcript();
  EXPECT_TRUE(AllGone(server.rank_pids, kJobEnds));
}

TEST(ParallelServer, AHungRankIsCaughtByTheWatchdogAndTheClientToldWhy) {
  SKIP_WITHOUT_MPI();
  ParallelServer server(2, {"--port", "0"});
  const std::string endpoint = server.WaitReady();
  ASSERT_FALSE(endpoint.empty()) << server.Transcript();
  zmq::context_t context;
  RawDealer client(context, endpoint);
  ASSERT_TRUE(client.Hello(MakeHello("client", "watched")).has_value());
  server.rank_pids = RankPids(client, 1);
  ASSERT_EQ(server.rank_pids.size(), 2u);

  // Rank 1 stops (as a rank stuck in a loop would): mpiexec sees nothing wrong.
  kill(static_cast<pid_t>(server.rank_pids[1]), SIGSTOP);
  const auto stopped_at = Clock::now();
  std::optional<pmp::Message> reply = Call(client, 2, "parallel.sum");
  std::optional<pmp::Reply> error = As<pmp::Reply>(reply);
  ASSERT_TRUE(error.has_value()) << server.Transcript();
  EXPECT_EQ(error->code, 503u);
  EXPECT_NE(error->error.find("rank 1"), std::string::npos) << error->error;

  std::optional<pmp::Bye> bye = As<pmp::Bye>(ReceiveAlive(client, kJobEnds));
  ASSERT_TRUE(bye.has_value()) << server.Transcript();
  EXPECT_NE(bye->reason.find("rank 1"), std::string::npos) << bye->reason;
  EXPECT_LT(Clock::now() - stopped_at, seconds(8));  // 3 s of silence, then the job ends

  EXPECT_EQ(server.Wait(kJobEnds), 3) << server.Transcript();
  kill(static_cast<pid_t>(server.rank_pids[1]), SIGCONT);
  EXPECT_TRUE(AllGone(server.rank_pids, kJobEnds));
}

TEST(ParallelServer, SigtermToMpiexecEndsEveryRank) {
  SKIP_WITHOUT_MPI();
  ParallelServer server(2, {"--port", "0", "--multi-clients"});
  const std::string endpoint = server.WaitReady();
  ASSERT_FALSE(endpoint.empty()) << server.Transcript();
  zmq::context_t context;
  RawDealer client(context, endpoint);
  ASSERT_TRUE(client.Hello(MakeHello("client", "watcher")).has_value());
  server.rank_pids = RankPids(client, 1);

  server.Signal(SIGTERM);
  std::optional<pmp::Bye> bye = As<pmp::Bye>(ReceiveAlive(client, kJobEnds));
  EXPECT_TRUE(bye.has_value()) << server.Transcript();
  EXPECT_TRUE(server.Wait(kJobEnds).has_value()) << server.Transcript();
  EXPECT_TRUE(AllGone(server.rank_pids, kJobEnds));
}

// Without mpiexec the same methods answer as a job of one rank: no MPI is needed.
TEST(ParallelServer, AServerStartedAloneIsAJobOfOneRank) {
  ServerProcess server(PROCMOD_SERVER, {"--port", "0"});
  const std::string endpoint = server.WaitReady();
  ASSERT_FALSE(endpoint.empty()) << server.Transcript();
  zmq::context_t context;
  RawDealer client(context, endpoint);
  ASSERT_TRUE(client.Hello(MakeHello("client", "alone")).has_value());
  EXPECT_EQ(ResultOf(Call(client, 1, "parallel.sum", json{{"value", 7}})), 7);
  json ranks = ResultOf(Call(client, 2, "parallel.ranks"));
  ASSERT_EQ(ranks.size(), 1u);
  EXPECT_EQ(ranks[0].value("pid", int64_t{0}), static_cast<int64_t>(server.pid()));
  EXPECT_EQ(ResultOf(Call(client, 3, "info")).value("ranks", 0), 1);
}

}  // namespace
}  // namespace procmod::testing
