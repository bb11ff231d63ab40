#include "procmod/connection_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace procmod {
namespace {

using json = nlohmann::json;

json ToJson(const ConnectionInfo& info) {
  json j = {{"endpoint", info.endpoint},
            {"name", info.name},
            {"role", info.role},
            {"multi", info.multi},
            {"connect_id", info.connect_id},
            {"protocol", info.protocol},
            {"software", info.software},
            {"pid", info.pid},
            {"ranks", info.ranks}};
  if (!info.admin.empty()) j["admin"] = info.admin;
  if (!info.public_key.empty()) j["public_key"] = info.public_key;
  return j;
}

template <typename T>
void Take(const json& j, const char* key, T* out) {
  auto it = j.find(key);
  if (it != j.end() && !it->is_null()) {
    try {
      *out = it->get<T>();
    } catch (const json::exception&) {
      // A field of the wrong type is treated as absent; only `endpoint` is required.
    }
  }
}

}  // namespace

Status WriteConnectionFile(const std::string& path, const ConnectionInfo& info) {
  const std::string text = ToJson(info).dump(2) + "\n";
  const std::string temporary = path + ".tmp." + std::to_string(getpid());
  const int fd = open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return UnavailableError("cannot write connection file " + path + ": " + std::strerror(errno));
  }
  bool ok = fchmod(fd, 0600) == 0 &&  // open's mode is masked by the umask; 0600 is the point
            write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = close(fd) == 0 && ok;
  if (!ok || std::rename(temporary.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    std::remove(temporary.c_str());
    return UnavailableError("cannot write connection file " + path + ": " + why);
  }
  return Status();
}

Status LoadConnectionFile(const std::string& path, Options* options) {
  Result<ConnectionInfo> info = ReadConnectionFile(path);
  if (!info.ok()) return info.status();
  options->server_url = info->endpoint;
  options->connect_id = info->connect_id;
  if (!info->public_key.empty() && options->security.curve.server_public_key.empty()) {
    options->security.curve.server_public_key = info->public_key;
  }
  return Status();
}

Result<ConnectionInfo> ReadConnectionFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return InvalidArgumentError("cannot read connection file " + path + ": " +
                                std::strerror(errno));
  }
  std::stringstream text;
  text << in.rdbuf();
  json j = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) {
    return InvalidArgumentError("connection file " + path +
                                " is not a JSON object (procmod-server --connection-file "
                                "writes one)");
  }
  ConnectionInfo info;
  Take(j, "endpoint", &info.endpoint);
  if (info.endpoint.empty()) {
    return InvalidArgumentError("connection file " + path + " has no \"endpoint\"");
  }
  Take(j, "name", &info.name);
  Take(j, "role", &info.role);
  Take(j, "multi", &info.multi);
  Take(j, "connect_id", &info.connect_id);
  Take(j, "protocol", &info.protocol);
  Take(j, "software", &info.software);
  Take(j, "pid", &info.pid);
  Take(j, "admin", &info.admin);
  Take(j, "public_key", &info.public_key);
  Take(j, "ranks", &info.ranks);
  return info;
}

}  // namespace procmod
