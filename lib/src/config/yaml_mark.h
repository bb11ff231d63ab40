// yaml_mark.h: how a message names a place in a YAML file: "server.yaml:7: ".
//
// yaml-cpp gives every node and every parse error a Mark, counting lines from 0. The
// loader (config.cc) and the daemons' checks on a whole configuration
// (lib/daemon/config_keys.h) name a place from that Mark, never by scanning the
// text, and count lines from 1 as editors do. docs/CONFIGURATION.md promises that a
// configuration error names the file, the line and the key.
//
//   Located("server.yaml", key.Mark(), "heartbeat.interval: expected ...")
//   // "server.yaml:7: heartbeat.interval: expected ..."
#ifndef PROCMOD_SRC_CONFIG_YAML_MARK_H_
#define PROCMOD_SRC_CONFIG_YAML_MARK_H_

#include <yaml-cpp/mark.h>

#include <string>
#include <string_view>

namespace procmod {

// "SOURCE:LINE: TEXT", or "SOURCE: TEXT" when yaml-cpp knows no position.
inline std::string Located(std::string_view source, const YAML::Mark& mark, std::string_view text) {
  std::string where(source);
  if (!mark.is_null()) where += ":" + std::to_string(mark.line + 1);
  return where + ": " + std::string(text);
}

}  // namespace procmod

#endif  // PROCMOD_SRC_CONFIG_YAML_MARK_H_
