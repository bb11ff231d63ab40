// config_keys.h: which keys a daemon's YAML file gives, and on which line.
//
// LoadConfig turns the file into Options, where a value the file gives and a default
// look the same. A daemon must tell them apart in two cases: when its own defaults
// differ from the library's (the broker's name and listen endpoint), and when a check
// on the whole configuration fails (a server in reverse mode without client_url) and
// the message must name the line of the key it is about, as the loader's own errors
// do (docs/CONFIGURATION.md). The line is the key's, from yaml-cpp's Mark, written as
// the loader writes it (yaml_mark.h): one way for every configuration message.
// Read the file only after LoadConfig accepted it; a file that no longer parses
// gives no keys.
//
//   ConfigKeys file("broker.yaml");
//   if (!file.Has({"listen"})) options.listen = kDefaultListen;
//   Fail(file.Where({"admin", "endpoint"}) + "admin.endpoint: ...");  // "broker.yaml:4: ..."
#ifndef PROCMOD_DAEMON_CONFIG_KEYS_H_
#define PROCMOD_DAEMON_CONFIG_KEYS_H_

#include <yaml-cpp/yaml.h>

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace procmod {

class ConfigKeys {
 public:
  // No file (the daemon runs on defaults): it gives no key.
  ConfigKeys() = default;
  explicit ConfigKeys(std::string path);

  ConfigKeys(const ConfigKeys&) = default;
  // Rebinds the root: assigning a YAML::Node would write into the node it refers to.
  ConfigKeys& operator=(const ConfigKeys& other);

  // The file gives `key_path` ({"admin", "endpoint"} for admin.endpoint), even with
  // an empty value.
  bool Has(std::initializer_list<std::string_view> key_path) const;

  // "FILE:LINE: " for the line of the key, to put before a message; "" when the file
  // does not give it (or there is no file), so a value from a flag or a default names
  // no line.
  std::string Where(std::initializer_list<std::string_view> key_path) const;

  // The top-level keys, in the file's order.
  std::vector<std::string> TopLevelKeys() const;

 private:
  // The key node of `key_path`: it carries the line.
  std::optional<YAML::Node> FindKey(std::initializer_list<std::string_view> key_path) const;

  std::string path_;
  YAML::Node root_;
};

}  // namespace procmod

#endif  // PROCMOD_DAEMON_CONFIG_KEYS_H_
