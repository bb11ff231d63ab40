#include "table.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <optional>
#include <set>
#include <string_view>

namespace procmod::monitor {
namespace {

using json = nlohmann::json;

// printf into a std::string; every use here formats a handful of characters.
template <typename... Args>
std::string Format(const char* format, Args... args) {
  std::array<char, 64> buffer{};
  std::snprintf(buffer.data(), buffer.size(), format, args...);
  return buffer.data();
}

// A count or size with one decimal in the largest unit of `units` (each `step` times
// the last) that keeps the number below `step`.
std::string Scaled(double value, double step, std::initializer_list<const char*> units,
                   const char* suffix) {
  const char* unit = "";
  for (const char* u : units) {
    if (value < step) break;
    value /= step;
    unit = u;
  }
  return Format("%.1f%s%s", value, unit, suffix);
}

std::optional<int64_t> Number(const json& object, std::string_view key) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_number()) return std::nullopt;
  return it->get<int64_t>();
}

// A field as a table cell: strings as they are, booleans yes/no, "-" when absent.
std::string Cell(const json& object, std::string_view key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return "-";
  if (it->is_string()) return it->get<std::string>().empty() ? "-" : it->get<std::string>();
  if (it->is_boolean()) return it->get<bool>() ? "yes" : "no";
  return it->dump();
}

bool IsTrue(const json& object, std::string_view key) {
  auto it = object.find(key);
  return it != object.end() && it->is_boolean() && it->get<bool>();
}

std::string DurationCell(const json& object, std::string_view key) {
  std::optional<int64_t> ms = Number(object, key);
  return ms ? HumanDuration(*ms) : "-";
}

// "IN/OUT" of two counters, each shown by `human`.
template <typename F>
std::string PairCell(const json& object, std::string_view in, std::string_view out, F human) {
  std::optional<int64_t> a = Number(object, in), b = Number(object, out);
  if (!a || !b) return "-";
  return human(static_cast<uint64_t>(*a)) + "/" + human(static_cast<uint64_t>(*b));
}

// A CURVE key's first 8 characters: enough to tell keys apart at a glance (the
// whole key is in `list --json`).
std::string KeyCell(const json& peer) {
  const std::string key = peer.contains("public_key") && peer["public_key"].is_string()
                              ? peer["public_key"].get<std::string>()
                              : std::string();
  return key.empty() ? "-" : key.substr(0, 8) + "...";
}

// "suspended 42s": a session waiting for its peer to resume shows the time left.
std::string StateCell(const json& peer) {
  const std::string state = Cell(peer, "state");
  if (state != "suspended" || !Number(peer, "resume_left_ms")) return state;
  return state + " " + DurationCell(peer, "resume_left_ms");
}

std::vector<std::string> PeerRow(const json& peer, bool with_key) {
  std::optional<int64_t> rtt = Number(peer, "rtt_us");
  std::vector<std::string> row = {Cell(peer, "session"),
                                  Cell(peer, "name"),
                                  Cell(peer, "role"),
                                  Cell(peer, "address"),
                                  StateCell(peer),
                                  IsTrue(peer, "master") ? "yes" : "-",
                                  DurationCell(peer, "connected_ms"),
                                  DurationCell(peer, "idle_ms"),
                                  rtt ? HumanRtt(*rtt) : "-",
                                  PairCell(peer, "msgs_in", "msgs_out", HumanCount),
                                  PairCell(peer, "bytes_in", "bytes_out", HumanBytes),
                                  Cell(peer, "dropped")};
  if (with_key) row.push_back(KeyCell(peer));
  return row;
}

// process.info fields shown first, in this order, each with its human form.
struct InfoField {
  const char* key;    // in process.info
  const char* label;  // shown
  std::string (*show)(const json& info);
};

// Broker mode: "registered with URL", or "registering (attempt N) with URL".
std::string ShowBroker(const json& info) {
  auto it = info.find("broker");
  if (it == info.end() || !it->is_object()) return "-";
  const std::string state = it->value("state", "");
  std::string text = state;
  if (state == "registering") text += Format(" (attempt %lld)", it->value("attempt", 0LL));
  const std::string url = it->value("url", "");
  return url.empty() ? text : text + " with " + url;
}

std::string ShowHeartbeat(const json& info) {
  std::optional<int64_t> ms = Number(info, "heartbeat_ms"), n = Number(info, "liveness");
  if (!ms) return "-";
  return HumanDuration(*ms) + (n ? Format(" x %lld", static_cast<long long>(*n)) : "");
}

const std::vector<InfoField>& InfoFields() {
  static const std::vector<InfoField> fields = {
      {"name", "name", [](const json& i) { return Cell(i, "name"); }},
      {"role", "role", [](const json& i) { return Cell(i, "role"); }},
      {"mode", "mode", [](const json& i) { return Cell(i, "mode"); }},
      {"multi", "multi", [](const json& i) { return Cell(i, "multi"); }},
      {"listen", "listen", [](const json& i) { return Cell(i, "listen"); }},
      {"admin", "admin", [](const json& i) { return Cell(i, "admin"); }},
      {"pid", "pid", [](const json& i) { return Cell(i, "pid"); }},
      {"ranks", "ranks", [](const json& i) { return Cell(i, "ranks"); }},  // mpiexec -n
      {"uptime_ms", "uptime", [](const json& i) { return DurationCell(i, "uptime_ms"); }},
      {"expires_in_ms", "time left",  // the server's lifetime; "-" when it has none
       [](const json& i) { return DurationCell(i, "expires_in_ms"); }},
      {"accepting", "accepting", [](const json& i) { return Cell(i, "accepting"); }},
      {"broker", "broker", ShowBroker},  // broker mode only; "-" otherwise
      {"peers", "peers", [](const json& i) { return Cell(i, "peers"); }},
      {"heartbeat_ms", "heartbeat", ShowHeartbeat},
      {"protocol", "protocol", [](const json& i) { return Cell(i, "protocol"); }},
      {"software", "software", [](const json& i) { return Cell(i, "software"); }},
  };
  return fields;
}

}  // namespace

std::string HumanDuration(int64_t ms) {
  if (ms < 0) return "-";
  if (ms < 1000) return Format("%lldms", static_cast<long long>(ms));
  const long long s = ms / 1000;
  if (s < 60) return Format("%llds", s);
  if (s < 3600) return Format("%lldm%02llds", s / 60, s % 60);
  if (s < 86400) return Format("%lldh%02lldm", s / 3600, s % 3600 / 60);
  return Format("%lldd%02lldh", s / 86400, s % 86400 / 3600);
}

std::string HumanRtt(int64_t us) {
  if (us <= 0) return "-";  // no PING round trip measured yet
  if (us < 1000) return Format("%lldus", static_cast<long long>(us));
  if (us < 10'000) return Format("%.1fms", static_cast<double>(us) / 1e3);
  if (us < 1'000'000) return Format("%lldms", static_cast<long long>(us / 1000));
  return Format("%.1fs", static_cast<double>(us) / 1e6);
}

std::string HumanBytes(uint64_t bytes) {
  if (bytes < 1024) return Format("%lluB", static_cast<unsigned long long>(bytes));
  return Scaled(static_cast<double>(bytes), 1024, {"Ki", "Mi", "Gi", "Ti", "Pi"}, "B");
}

std::string HumanCount(uint64_t n) {
  if (n < 10'000) return Format("%llu", static_cast<unsigned long long>(n));
  return Scaled(static_cast<double>(n), 1000, {"k", "M", "G", "T"}, "");
}

std::string Table::Render() const {
  std::vector<size_t> width(header_.size(), 0);
  auto measure = [&width](const std::vector<std::string>& row) {
    for (size_t i = 0; i < std::min(row.size(), width.size()); ++i) {
      width[i] = std::max(width[i], row[i].size());
    }
  };
  measure(header_);
  for (const auto& row : rows_) measure(row);

  auto line = [&width](const std::vector<std::string>& row) {
    std::string out;
    for (size_t i = 0; i < width.size(); ++i) {
      const std::string& cell = i < row.size() ? row[i] : std::string();
      out += cell;
      if (i + 1 < width.size()) out += std::string(width[i] - cell.size() + 2, ' ');
    }
    out.erase(out.find_last_not_of(' ') + 1);  // no trailing blanks
    return out + "\n";
  };
  std::string out = line(header_);
  for (const auto& row : rows_) out += line(row);
  return out;
}

std::string ConnectionsTable(const json& peers) {
  // KEY only when some peer speaks CURVE: plain servers keep the narrower table.
  const bool with_key = std::any_of(peers.begin(), peers.end(), [](const json& p) {
    return p.is_object() && p.contains("public_key") && p["public_key"].is_string() &&
           !p["public_key"].get<std::string>().empty();
  });
  std::vector<std::string> header = {"SESSION",  "NAME",         "ROLE",          "ADDRESS",
                                     "STATE",    "MASTER",       "CONNECTED",     "IDLE",
                                     "PING-RTT", "MSGS(in/out)", "BYTES(in/out)", "DROPPED"};
  if (with_key) header.push_back("KEY");
  Table table(std::move(header));
  for (const json& peer : peers) {
    if (peer.is_object()) table.AddRow(PeerRow(peer, with_key));
  }
  return table.Render() + (table.empty() ? "(no connections)\n" : "");
}

std::string ServicesTable(const json& services) {
  Table table({"SERVICE", "SERVER", "NAME", "ROLE", "MULTI", "CLIENTS"});
  for (const json& service : services) {
    if (!service.is_object()) continue;
    std::string clients;
    if (service.contains("clients") && service["clients"].is_array()) {
      for (const json& c : service["clients"]) {
        if (!clients.empty()) clients += ",";
        clients += c.is_string() ? c.get<std::string>() : c.dump();
      }
    }
    table.AddRow({Cell(service, "service"), Cell(service, "server"), Cell(service, "server_name"),
                  Cell(service, "role"), Cell(service, "multi"), clients.empty() ? "-" : clients});
  }
  return table.Render() + (table.empty() ? "(no services)\n" : "");
}

std::string ProcessInfoText(const json& info) {
  std::vector<std::pair<std::string, std::string>> lines;
  std::set<std::string, std::less<>> shown = {"liveness"};  // part of "heartbeat"
  for (const InfoField& field : InfoFields()) {
    lines.emplace_back(field.label, field.show(info));
    shown.insert(field.key);
  }
  // Fields this monitor does not know yet (a newer process, a broker): as they came.
  for (const auto& [key, value] : info.items()) {
    if (!shown.contains(key)) lines.emplace_back(key, Cell(info, key));
  }
  size_t width = 0;
  for (const auto& [label, value] : lines) width = std::max(width, label.size());
  std::string out;
  for (const auto& [label, value] : lines) {
    out += label + ":" + std::string(width - label.size() + 2, ' ') + value + "\n";
  }
  return out;
}

}  // namespace procmod::monitor
