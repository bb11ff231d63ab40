#include "parallel/rank_wire.h"

#include <msgpack.hpp>

namespace procmod {
namespace {

using Packer = msgpack::packer<msgpack::sbuffer>;

void PackBytes(Packer& packer, const void* data, size_t size) {
  packer.pack_bin(static_cast<uint32_t>(size));
  packer.pack_bin_body(static_cast<const char*>(data), static_cast<uint32_t>(size));
}

void PackFrames(Packer& packer, const Frames& frames) {
  packer.pack_array(static_cast<uint32_t>(frames.size()));
  for (const zmq::message_t& frame : frames) PackBytes(packer, frame.data(), frame.size());
}

std::string Take(msgpack::sbuffer& buffer) { return std::string(buffer.data(), buffer.size()); }

// The element `index` of `array` as bytes (bin or str), or nothing.
std::optional<std::string> BytesAt(const msgpack::object& array, uint32_t index) {
  const msgpack::object& o = array.via.array.ptr[index];
  if (o.type == msgpack::type::BIN) return std::string(o.via.bin.ptr, o.via.bin.size);
  if (o.type == msgpack::type::STR) return std::string(o.via.str.ptr, o.via.str.size);
  return std::nullopt;
}

std::optional<Frames> FramesAt(const msgpack::object& array, uint32_t index) {
  const msgpack::object& o = array.via.array.ptr[index];
  if (o.type != msgpack::type::ARRAY) return std::nullopt;
  Frames frames;
  frames.reserve(o.via.array.size);
  for (uint32_t i = 0; i < o.via.array.size; ++i) {
    std::optional<std::string> bytes = BytesAt(o, i);
    if (!bytes) return std::nullopt;
    frames.emplace_back(bytes->data(), bytes->size());
  }
  return frames;
}

// The one msgpack array `bytes` holds, with at least `size` elements.
Result<msgpack::object_handle> Unpack(std::string_view bytes, uint32_t size, const char* what) {
  msgpack::object_handle handle;
  try {
    handle = msgpack::unpack(bytes.data(), bytes.size());
  } catch (const std::exception& e) {
    return InternalError(std::string("undecodable ") + what + " between ranks: " + e.what());
  }
  const msgpack::object& o = handle.get();
  if (o.type != msgpack::type::ARRAY || o.via.array.size < size) {
    return InternalError(std::string("malformed ") + what + " between ranks");
  }
  return handle;
}

}  // namespace

std::string EncodeCommand(const RankCommand& command) {
  msgpack::sbuffer buffer;
  Packer packer(buffer);
  packer.pack_array(5);
  packer.pack(static_cast<uint8_t>(command.op));
  packer.pack(command.exit_code);
  packer.pack(command.method);
  PackBytes(packer, command.args.data(), command.args.size());
  PackFrames(packer, command.payload);
  return Take(buffer);
}

Result<RankCommand> DecodeCommand(std::string_view bytes) {
  Result<msgpack::object_handle> handle = Unpack(bytes, 5, "command");
  if (!handle.ok()) return handle.status();
  const msgpack::object& o = handle->get();
  const msgpack::object* items = o.via.array.ptr;
  RankCommand command;
  std::optional<std::string> method = BytesAt(o, 2);
  std::optional<std::string> args = BytesAt(o, 3);
  std::optional<Frames> payload = FramesAt(o, 4);
  if (items[0].type != msgpack::type::POSITIVE_INTEGER || !method || !args || !payload ||
      (items[1].type != msgpack::type::POSITIVE_INTEGER &&
       items[1].type != msgpack::type::NEGATIVE_INTEGER)) {
    return InternalError("malformed command between ranks");
  }
  command.op = static_cast<RankCommand::Op>(items[0].via.u64);
  command.exit_code = static_cast<int>(items[1].via.i64);
  command.method = std::move(*method);
  command.args = std::move(*args);
  command.payload = std::move(*payload);
  return command;
}

std::string EncodeAnswer(const Reply& answer) {
  msgpack::sbuffer buffer;
  Packer packer(buffer);
  packer.pack_array(4);
  packer.pack(answer.code);
  packer.pack(answer.error);
  PackBytes(packer, answer.result.data(), answer.result.size());
  PackFrames(packer, answer.payload);
  return Take(buffer);
}

Result<Reply> DecodeAnswer(std::string_view bytes) {
  Result<msgpack::object_handle> handle = Unpack(bytes, 4, "answer");
  if (!handle.ok()) return handle.status();
  const msgpack::object& o = handle->get();
  std::optional<std::string> error = BytesAt(o, 1);
  std::optional<std::string> result = BytesAt(o, 2);
  std::optional<Frames> payload = FramesAt(o, 3);
  if (o.via.array.ptr[0].type != msgpack::type::POSITIVE_INTEGER || !error || !result || !payload) {
    return InternalError("malformed answer between ranks");
  }
  return Reply{static_cast<uint32_t>(o.via.array.ptr[0].via.u64), std::move(*error),
               std::move(*result), std::move(*payload)};
}

}  // namespace procmod
