// rank_wire.h: what rank 0 broadcasts to the other ranks of a parallel server, and
// what each rank answers, as bytes for MPI (one msgpack array each).
//
//   std::string bytes = EncodeCommand(RankCommand{.op = RankCommand::kRequest, ...});
//   Result<RankCommand> command = DecodeCommand(bytes);   // on every rank
//   std::string answer = EncodeAnswer(reply);             // back to rank 0
#ifndef PROCMOD_SRC_PARALLEL_RANK_WIRE_H_
#define PROCMOD_SRC_PARALLEL_RANK_WIRE_H_

#include <string>
#include <string_view>

#include "procmod/connection.h"
#include "procmod/result.h"

namespace procmod {

struct RankCommand {
  enum Op : uint8_t { kRequest = 1, kStop = 2 };
  Op op = kRequest;
  int exit_code = 0;  // kStop: what every rank exits with
  std::string method;
  std::string args;
  Frames payload;
};

std::string EncodeCommand(const RankCommand& command);
Result<RankCommand> DecodeCommand(std::string_view bytes);

std::string EncodeAnswer(const Reply& answer);
Result<Reply> DecodeAnswer(std::string_view bytes);

}  // namespace procmod

#endif  // PROCMOD_SRC_PARALLEL_RANK_WIRE_H_
