#include "config_keys.h"

#include <utility>

#include "config/yaml_mark.h"

namespace procmod {

ConfigKeys::ConfigKeys(std::string path) : path_(std::move(path)) {
  try {
    root_.reset(YAML::LoadFile(path_));
  } catch (const YAML::Exception&) {
    // LoadConfig reported it already; the root stays empty: no keys.
  }
}

ConfigKeys& ConfigKeys::operator=(const ConfigKeys& other) {
  path_ = other.path_;
  root_.reset(other.root_);
  return *this;
}

bool ConfigKeys::Has(std::initializer_list<std::string_view> key_path) const {
  return FindKey(key_path).has_value();
}

std::string ConfigKeys::Where(std::initializer_list<std::string_view> key_path) const {
  std::optional<YAML::Node> key = FindKey(key_path);
  return key ? Located(path_, key->Mark(), "") : "";
}

std::vector<std::string> ConfigKeys::TopLevelKeys() const {
  std::vector<std::string> keys;
  if (!root_.IsMap()) return keys;
  for (const auto& entry : root_) keys.push_back(entry.first.as<std::string>(""));
  return keys;
}

// Walks the maps by iteration: yaml-cpp's operator[] on a node it cannot prove const
// would add the key it looks for. Nodes are rebound with reset()/emplace(), never
// assigned: assigning a Node writes into the node it refers to, in the tree.
std::optional<YAML::Node> ConfigKeys::FindKey(
    std::initializer_list<std::string_view> key_path) const {
  std::optional<YAML::Node> key;
  YAML::Node map;
  map.reset(root_);
  for (std::string_view name : key_path) {
    if (!map.IsMap()) return std::nullopt;
    std::optional<YAML::Node> value;
    for (auto it = map.begin(); it != map.end(); ++it) {
      if (it->first.IsScalar() && it->first.Scalar() == name) {
        key.emplace(it->first);
        value.emplace(it->second);
        break;
      }
    }
    if (!value) return std::nullopt;
    map.reset(*value);
  }
  return key;
}

}  // namespace procmod
