// The reducers a parallel method can name (procmod/parallel.h).
#include <msgpack.hpp>

#include "procmod/parallel.h"

namespace procmod::reduce {

Reply Concatenate(std::vector<Reply>& answers) {
  msgpack::sbuffer results;
  msgpack::packer<msgpack::sbuffer> packer(results);
  packer.pack_array(static_cast<uint32_t>(answers.size()));
  Reply reply;
  for (Reply& answer : answers) {
    if (answer.result.empty()) {
      packer.pack_nil();
    } else {
      results.write(answer.result.data(), answer.result.size());  // one msgpack value already
    }
    for (zmq::message_t& frame : answer.payload) reply.payload.push_back(std::move(frame));
  }
  reply.result.assign(results.data(), results.size());
  return reply;
}

Reply Sum(std::vector<Reply>& answers) {
  int64_t whole = 0;
  double real = 0;
  bool all_whole = true;
  for (size_t rank = 0; rank < answers.size(); ++rank) {
    const std::string& result = answers[rank].result;
    msgpack::object_handle handle;
    try {
      handle = msgpack::unpack(result.data(), result.size());
    } catch (const std::exception&) {
      return Reply{500, "rank " + std::to_string(rank) + " gave no number to sum", {}, {}};
    }
    const msgpack::object& o = handle.get();
    switch (o.type) {
      case msgpack::type::POSITIVE_INTEGER:
        whole += static_cast<int64_t>(o.via.u64);
        real += static_cast<double>(o.via.u64);
        break;
      case msgpack::type::NEGATIVE_INTEGER:
        whole += o.via.i64;
        real += static_cast<double>(o.via.i64);
        break;
      case msgpack::type::FLOAT32:
      case msgpack::type::FLOAT64:
        all_whole = false;
        real += o.via.f64;
        break;
      default:
        return Reply{500, "rank " + std::to_string(rank) + " gave no number to sum", {}, {}};
    }
  }
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  if (all_whole) {
    packer.pack(whole);
  } else {
    packer.pack(real);
  }
  return Reply{0, {}, std::string(buffer.data(), buffer.size()), {}};
}

Reply First(std::vector<Reply>& answers) {
  if (answers.empty()) return Reply{};
  return std::move(answers.front());
}

}  // namespace procmod::reduce
