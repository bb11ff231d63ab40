#include "parallel_services.h"

#include <unistd.h>

#include <chrono>
#include <thread>

#include "msgpack_json.h"

namespace procmod::server {
namespace {

using json = nlohmann::json;

Reply Sum(RankRequest& request) {
  std::optional<json> args = ArgsMap(request.args);
  if (!args || (args->contains("value") && !(*args)["value"].is_number())) {
    return Reply{400, "parallel.sum takes args {value: number}", {}, {}};
  }
  const json value = args->value("value", json(1));
  const json mine = value.is_number_integer() ? json(value.get<int64_t>() * (request.rank + 1))
                                              : json(value.get<double>() * (request.rank + 1));
  return Reply{0, {}, PackJson(mine), {}};
}

Reply Ranks(RankRequest& request) {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return Reply{
      0, {}, PackJson(json{{"rank", request.rank}, {"host", host}, {"pid", getpid()}}), {}};
}

Reply Wait(RankRequest& request) {
  std::optional<json> args = ArgsMap(request.args);
  if (!args || !args->contains("ms") || !(*args)["ms"].is_number_unsigned() ||
      (*args)["ms"].get<uint64_t>() > 60'000) {
    return Reply{400, "parallel.wait takes args {ms: uint, at most 60000}", {}, {}};
  }
  const uint64_t ms = (*args)["ms"].get<uint64_t>();
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return Reply{0, {}, PackJson(json{{"waited_ms", ms}}), {}};
}

Reply Echo(RankRequest& request) {
  Reply reply;
  reply.payload = std::move(request.payload);
  return reply;
}

}  // namespace

void RegisterParallelServices(ParallelJob& job) {
  job.Register("parallel.sum", Sum, reduce::Sum);
  job.Register("parallel.ranks", Ranks, reduce::Concatenate);
  job.Register("parallel.echo", Echo, reduce::Concatenate);
  job.Register("parallel.wait", Wait, reduce::First);
}

}  // namespace procmod::server
