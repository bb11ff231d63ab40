// msgpack_json.h: a REQUEST's args and a REPLY's result are msgpack on the wire; the
// server's services read and write them as nlohmann::json values.
#ifndef PROCMOD_SERVER_MSGPACK_JSON_H_
#define PROCMOD_SERVER_MSGPACK_JSON_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace procmod::server {

inline std::string PackJson(const nlohmann::json& value) {
  std::vector<uint8_t> bytes = nlohmann::json::to_msgpack(value);
  return std::string(bytes.begin(), bytes.end());
}

// A REQUEST's args as a map: {} when there are none, nothing when they are not one.
inline std::optional<nlohmann::json> ArgsMap(std::string_view args) {
  if (args.empty()) return nlohmann::json::object();
  nlohmann::json map = nlohmann::json::from_msgpack(args, true, /*allow_exceptions=*/false);
  if (map.is_discarded() || !map.is_object()) return std::nullopt;
  return map;
}

}  // namespace procmod::server

#endif  // PROCMOD_SERVER_MSGPACK_JSON_H_
