#include "parallel_services.h"

#include <unistd.h>

#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>

namespace procmod::server {
namespace {

using json = nlohmann::json;

std::string Pack(const json& value) {
  std::vector<uint8_t> bytes = json::to_msgpack(value);
  return std::string(bytes.begin(), bytes.end());
}

Reply Sum(RankRequest& request) {
  json args = request.args.empty()
                  ? json::object()
                  : json::from_msgpack(request.args, true, /*allow_exceptions=*/false);
  if (args.is_discarded() || !args.is_object() ||
      (args.contains("value") && !args["value"].is_number())) {
    return Reply{400, "parallel.sum takes args {value: number}", {}, {}};
  }
  const json value = args.value("value", json(1));
  const json mine = value.is_number_integer() ? json(value.get<int64_t>() * (request.rank + 1))
                                              : json(value.get<double>() * (request.rank + 1));
  return Reply{0, {}, Pack(mine), {}};
}

Reply Ranks(RankRequest& request) {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return Reply{0, {}, Pack(json{{"rank", request.rank}, {"host", host}, {"pid", getpid()}}), {}};
}

Reply Wait(RankRequest& request) {
  json args = request.args.empty()
                  ? json::object()
                  : json::from_msgpack(request.args, true, /*allow_exceptions=*/false);
  if (args.is_discarded() || !args.is_object() || !args.contains("ms") ||
      !args["ms"].is_number_unsigned() || args["ms"].get<uint64_t>() > 60'000) {
    return Reply{400, "parallel.wait takes args {ms: uint, at most 60000}", {}, {}};
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(args["ms"].get<uint64_t>()));
  return Reply{0, {}, Pack(json{{"waited_ms", args["ms"]}}), {}};
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
