// table.h: how procmod-monitor shows admin results to a person.
//
// Human units the way ss, docker ps and top print them: durations as 850ms, 12s,
// 3m12s, 2h05m, 3d04h; round trips as 850us, 1.2ms; sizes in IEC units (1.2KiB);
// large counts as 12.3k. Tables are plain text, columns separated by two spaces, no
// colour, so they read the same in a terminal, a log file and a pipe to grep.
//
// Everything here takes the JSON an admin method returned and tolerates a field that
// is missing or of another type (shown as "-"): the monitor talks to any admin
// endpoint, including ones newer or older than itself.
#ifndef PROCMOD_CLIENT_MONITOR_TABLE_H_
#define PROCMOD_CLIENT_MONITOR_TABLE_H_

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace procmod::monitor {

std::string HumanDuration(int64_t ms);   // 850ms 12s 3m12s 2h05m 3d04h
std::string HumanRtt(int64_t us);        // "-" when 0 (not measured yet), 850us, 1.2ms, 1.5s
std::string HumanBytes(uint64_t bytes);  // 512B 1.2KiB 3.4MiB 1.0GiB
std::string HumanCount(uint64_t n);      // 9999, 12.3k, 4.5M

// Left-aligned columns, as wide as their widest cell, two spaces apart; no trailing
// blanks. Rows shorter than the header are padded with empty cells.
class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  void AddRow(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  bool empty() const { return rows_.empty(); }
  std::string Render() const;  // header line, then one line per row

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// The `list` table for a connections.list result (an array of peer objects); an
// empty array gives the header and "(no connections)".
std::string ConnectionsTable(const nlohmann::json& peers);

// The `services` table for a broker's services.list result (an array of service
// objects); an empty array gives the header and "(no services)".
std::string ServicesTable(const nlohmann::json& services);

// The `info` text for a process.info result: one "key: value" line per field, known
// fields first in a fixed order and in human units, then any others as they came.
std::string ProcessInfoText(const nlohmann::json& info);

}  // namespace procmod::monitor

#endif  // PROCMOD_CLIENT_MONITOR_TABLE_H_
