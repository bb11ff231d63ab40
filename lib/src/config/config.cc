#include "procmod/config.h"

#include <cstdlib>

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <system_error>
#include <utility>
#include <vector>

#include "config/did_you_mean.h"
#include "config/number_text.h"  // AllDigits, WholeNumberRange, DurationRange
#include "config/yaml_mark.h"    // Located
#include "procmod/launch.h"

namespace procmod {
namespace {

using std::chrono::milliseconds;

constexpr std::string_view kDurationLike = "a duration like 500ms, 2s or 5m";
constexpr std::string_view kSizeLike = "a size like 512, 64KiB or 64MiB";
constexpr std::string_view kBoolean = "true or false";

// ---- numbers with units ---------------------------------------------------

struct Unit {
  std::string_view name;
  uint64_t scale;
};

// Largest first: FormatScaled picks the first unit that divides the value.
constexpr Unit kDurationUnits[] = {{"h", 3'600'000}, {"m", 60'000}, {"s", 1000}, {"ms", 1}};
constexpr Unit kSizeFormatUnits[] = {
    {"GiB", uint64_t{1} << 30}, {"MiB", uint64_t{1} << 20}, {"KiB", uint64_t{1} << 10}, {"B", 1}};
// KiB/MiB/GiB are powers of 1024 and KB/MB/GB powers of 1000, as IEC 80000-13 has it.
constexpr Unit kSizeParseUnits[] = {
    {"", 1},      {"B", 1},     {"KiB", 1 << 10},  {"MiB", 1 << 20},     {"GiB", uint64_t{1} << 30},
    {"KB", 1000}, {"kB", 1000}, {"MB", 1'000'000}, {"GB", 1'000'000'000}};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// "<digits><unit>" scaled by the unit's factor. nullopt for any other shape, an
// unknown unit, or a result above `limit` (so an overflow is an error, not a wrap).
std::optional<uint64_t> ParseScaled(std::string_view text, std::span<const Unit> units,
                                    uint64_t limit) {
  if (text.empty() || !IsDigit(text.front())) return std::nullopt;
  uint64_t number = 0;
  auto [rest, error] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (error != std::errc()) return std::nullopt;
  std::string_view unit(rest, static_cast<size_t>(text.data() + text.size() - rest));
  for (const Unit& u : units) {
    if (u.name != unit) continue;
    if (number > limit / u.scale) return std::nullopt;
    return number * u.scale;
  }
  return std::nullopt;
}

// "<digits>.<digits><unit>", e.g. "1.5s" or "0.25m", in the unit's smallest part:
// nullopt unless it comes to a whole number of them (so "0.0001s" is an error, not 0).
std::optional<uint64_t> ParseDecimal(std::string_view text, std::span<const Unit> units,
                                     uint64_t limit) {
  const size_t dot = text.find('.');
  if (dot == std::string_view::npos) return ParseScaled(text, units, limit);
  const std::string_view fraction_and_unit = text.substr(dot + 1);
  const size_t unit_at =
      std::min(fraction_and_unit.find_first_not_of("0123456789"), fraction_and_unit.size());
  const std::string_view fraction = fraction_and_unit.substr(0, unit_at);
  const std::string_view unit = fraction_and_unit.substr(unit_at);
  // Nine digits keep fraction * scale within 64 bits for every unit here.
  if (fraction.empty() || fraction.size() > 9 || unit.empty()) return std::nullopt;
  std::optional<uint64_t> whole =
      ParseScaled(std::string(text.substr(0, dot)) + std::string(unit), units, limit);
  if (!whole) return std::nullopt;
  uint64_t digits = 0;
  std::from_chars(fraction.data(), fraction.data() + fraction.size(), digits);
  uint64_t scale = 0;
  for (const Unit& u : units) {
    if (u.name == unit) scale = u.scale;
  }
  uint64_t denominator = 1;
  for (size_t i = 0; i < fraction.size(); ++i) denominator *= 10;
  if (digits * scale % denominator != 0) return std::nullopt;
  const uint64_t part = digits * scale / denominator;
  if (*whole > limit - part) return std::nullopt;
  return *whole + part;
}

// The value in the largest unit that divides it exactly: 1000 ms -> "1s".
std::string FormatScaled(uint64_t value, std::span<const Unit> units) {
  for (const Unit& u : units) {
    if (value % u.scale == 0) return std::to_string(value / u.scale) + std::string(u.name);
  }
  return std::to_string(value);  // unreachable: the last unit has scale 1
}

std::string FormatSize(uint64_t bytes) {
  return bytes == 0 ? "0B" : FormatScaled(bytes, kSizeFormatUnits);
}

std::optional<uint64_t> ParseWholeNumber(std::string_view text) {
  if (!AllDigits(text)) return std::nullopt;  // no sign, no 0x: what the docs show
  uint64_t value = 0;
  auto [rest, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc()) return std::nullopt;
  return value;
}

// ---- message pieces -------------------------------------------------------

// `text` in double quotes, escaped and cut at 60 bytes (at a UTF-8 character
// boundary), so a bad value cannot garble or flood the one-line message.
std::string Quoted(std::string_view text) {
  constexpr size_t kMaxBytes = 60;
  size_t keep = std::min(text.size(), kMaxBytes);
  auto continuation = [](char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; };
  while (keep > 0 && keep < text.size() && continuation(text[keep])) --keep;
  std::string out = "\"";
  for (char c : text.substr(0, keep)) {
    auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte == 0x7F) {
      constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xF];
    } else {
      out += c;
    }
  }
  return out + (keep < text.size() ? "\"..." : "\"");
}

std::string Expected(std::string_view what, std::string_view got) {
  return "expected " + std::string(what) + ", got " + std::string(got);
}

std::string Join(std::span<const std::string_view> words) {
  std::string joined;
  for (std::string_view word : words) {
    if (!joined.empty()) joined += ", ";
    joined += word;
  }
  return joined;
}

// What a node is, for "got ...": a map, a list, nothing, or the quoted text.
std::string Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return Quoted(node.Scalar());
    default:
      return "nothing";
  }
}

// A quoted scalar is a string in YAML even when it reads "true" or "5". Booleans and
// numbers refuse it, so a stray pair of quotes gets a hint instead of a puzzle.
bool IsQuoted(const YAML::Node& node) { return node.IsScalar() && node.Tag() == "!"; }

std::string DescribeLiteral(const YAML::Node& node) {
  return Describe(node) + (IsQuoted(node) ? " (quoted, so a string: drop the quotes)" : "");
}

// Collects every error of one document, so a user fixes them all in one go.
class Diagnostics {
 public:
  explicit Diagnostics(std::string_view source) : source_(source) {}

  void Add(const YAML::Mark& mark, std::string text) { errors_.push_back({mark, std::move(text)}); }
  bool empty() const { return errors_.empty(); }

  // One line per error, in line order.
  Status ToStatus() {
    std::stable_sort(errors_.begin(), errors_.end(),
                     [](const auto& a, const auto& b) { return a.first.line < b.first.line; });
    std::string message;
    for (const auto& [mark, text] : errors_) {
      if (!message.empty()) message += "\n";
      message += Located(source_, mark, text);
    }
    return InvalidArgumentError(message);
  }

 private:
  std::string source_;
  std::vector<std::pair<YAML::Mark, std::string>> errors_;
};

// ---- the map reader -------------------------------------------------------

// Reads one YAML map of the schema. Each getter names a key valid at this level and
// leaves its output alone when the key is absent (so Options defaults stand). Finish()
// reports the keys of the map no getter asked for, with the asked ones as did-you-mean
// candidates: the getters are the schema, written once. A reader of a missing (or
// null) map reads nothing; a reader of a non-map reports that once and reads nothing.
class MapReader {
 public:
  MapReader(Diagnostics* diagnostics, std::string path, const YAML::Node& node,
            const YAML::Mark& mark);

  bool Has(std::string_view key) const;
  void String(std::string_view key, std::string* out);
  void Bool(std::string_view key, bool* out);
  template <typename T>
  void WholeNumber(std::string_view key, T* out, uint64_t min,
                   uint64_t max = std::numeric_limits<T>::max());
  void Duration(std::string_view key, milliseconds* out, milliseconds min,
                milliseconds max = milliseconds::max());
  template <typename T>  // size_t or uint64_t
  void Size(std::string_view key, T* out, uint64_t min);
  // A sequence of strings ([tcp://127.0.0.1:22221]); [] for none.
  void StringList(std::string_view key, std::vector<std::string>* out);
  // A sequence of durations ([5m, 1m]), each at least `min`.
  void DurationList(std::string_view key, std::vector<milliseconds>* out, milliseconds min);
  void Choice(std::string_view key, std::vector<std::string_view> choices, std::string* out);
  MapReader Map(std::string_view key);
  void Finish();

 private:
  struct Entry {
    std::string name;
    YAML::Node key;
    YAML::Node value;
    bool asked = false;
  };

  void Index(const YAML::Node& node);
  // The entry of `key`, or nullptr; either way `key` becomes valid at this level.
  Entry* Lookup(std::string_view key);
  // The entry of `key` when present with a scalar value; else nullptr, reporting a
  // value of another type as not being `what`.
  Entry* ScalarEntry(std::string_view key, std::string_view what);
  void Error(const Entry& entry, std::string_view text);
  std::string PathOf(std::string_view key) const;

  Diagnostics* diagnostics_;
  std::string path_;  // dotted path of this map; "" at the top level
  std::vector<Entry> entries_;
  std::vector<std::string_view> valid_keys_;  // string literals of the getters' calls
};

MapReader::MapReader(Diagnostics* diagnostics, std::string path, const YAML::Node& node,
                     const YAML::Mark& mark)
    : diagnostics_(diagnostics), path_(std::move(path)) {
  if (!node.IsDefined() || node.IsNull()) return;  // absent or empty: all defaults
  if (!node.IsMap()) {
    diagnostics_->Add(mark, path_.empty()
                                ? Expected("a map of keys at the top level", Describe(node))
                                : path_ + ": " + Expected("a map of keys", Describe(node)));
    return;
  }
  Index(node);
}

void MapReader::Index(const YAML::Node& node) {
  for (auto it = node.begin(); it != node.end(); ++it) {
    // Copies: it-> is a proxy object, so a reference into it would dangle.
    const YAML::Node key = it->first;
    const YAML::Node value = it->second;
    if (!key.IsScalar()) {
      diagnostics_->Add(key.Mark(), Expected("a key name", Describe(key)));
      continue;
    }
    auto same = [&](const Entry& e) { return e.name == key.Scalar(); };
    if (auto first = std::find_if(entries_.begin(), entries_.end(), same);
        first != entries_.end()) {
      diagnostics_->Add(key.Mark(), "duplicate key '" + PathOf(key.Scalar()) +
                                        "' (first given on line " +
                                        std::to_string(first->key.Mark().line + 1) + ")");
      continue;
    }
    entries_.push_back({key.Scalar(), key, value});
  }
}

bool MapReader::Has(std::string_view key) const {
  return std::any_of(entries_.begin(), entries_.end(),
                     [&](const Entry& e) { return e.name == key; });
}

MapReader::Entry* MapReader::Lookup(std::string_view key) {
  valid_keys_.push_back(key);
  for (Entry& entry : entries_) {
    if (entry.name != key) continue;
    entry.asked = true;
    return &entry;
  }
  return nullptr;
}

MapReader::Entry* MapReader::ScalarEntry(std::string_view key, std::string_view what) {
  Entry* entry = Lookup(key);
  if (entry == nullptr || entry->value.IsScalar()) return entry;
  Error(*entry, Expected(what, Describe(entry->value)));
  return nullptr;
}

// Errors point at the key's line: a null value's own mark is on the next token.
void MapReader::Error(const Entry& entry, std::string_view text) {
  diagnostics_->Add(entry.key.Mark(), PathOf(entry.name) + ": " + std::string(text));
}

std::string MapReader::PathOf(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

void MapReader::String(std::string_view key, std::string* out) {
  if (Entry* entry = ScalarEntry(key, "a string (\"\" for none)")) *out = entry->value.Scalar();
}

void MapReader::Bool(std::string_view key, bool* out) {
  Entry* entry = ScalarEntry(key, kBoolean);
  if (entry == nullptr) return;
  bool value = false;
  if (IsQuoted(entry->value) || !YAML::convert<bool>::decode(entry->value, value)) {
    return Error(*entry, Expected(kBoolean, DescribeLiteral(entry->value)));
  }
  *out = value;
}

template <typename T>
void MapReader::WholeNumber(std::string_view key, T* out, uint64_t min, uint64_t max) {
  const std::string expected = WholeNumberRange(min, max);
  Entry* entry = ScalarEntry(key, expected);
  if (entry == nullptr) return;
  const std::string& text = entry->value.Scalar();
  std::optional<uint64_t> value = IsQuoted(entry->value) ? std::nullopt : ParseWholeNumber(text);
  if (!value) return Error(*entry, Expected(expected, DescribeLiteral(entry->value)));
  if (*value < min || *value > max) return Error(*entry, Expected(expected, text));
  *out = static_cast<T>(*value);
}

void MapReader::Duration(std::string_view key, milliseconds* out, milliseconds min,
                         milliseconds max) {
  Entry* entry = ScalarEntry(key, kDurationLike);
  if (entry == nullptr) return;
  Result<milliseconds> value = ParseDuration(entry->value.Scalar());
  if (!value.ok()) return Error(*entry, value.status().message());
  if (*value < min || *value > max) {
    return Error(*entry, Expected(DurationRange(min, max), entry->value.Scalar()));
  }
  *out = *value;
}

void MapReader::StringList(std::string_view key, std::vector<std::string>* out) {
  constexpr std::string_view kWhat = "a list of strings like [tcp://127.0.0.1:22221]";
  Entry* entry = Lookup(key);
  if (entry == nullptr) return;
  if (!entry->value.IsSequence()) return Error(*entry, Expected(kWhat, Describe(entry->value)));
  std::vector<std::string> values;
  for (const YAML::Node& item : entry->value) {
    if (!item.IsScalar()) return Error(*entry, Expected(kWhat, Describe(item)));
    values.push_back(item.Scalar());
  }
  *out = std::move(values);
}

void MapReader::DurationList(std::string_view key, std::vector<milliseconds>* out,
                             milliseconds min) {
  constexpr std::string_view kWhat = "a list of durations like [5m, 1m]";
  Entry* entry = Lookup(key);
  if (entry == nullptr) return;
  if (!entry->value.IsSequence()) return Error(*entry, Expected(kWhat, Describe(entry->value)));
  std::vector<milliseconds> values;
  for (const YAML::Node& item : entry->value) {
    Result<milliseconds> value =
        item.IsScalar()
            ? ParseDuration(item.Scalar())
            : Result<milliseconds>(InvalidArgumentError(Expected(kWhat, Describe(item))));
    if (!value.ok()) return Error(*entry, value.status().message());
    if (*value < min) {
      return Error(*entry, Expected(DurationRange(min, milliseconds::max()), item.Scalar()));
    }
    values.push_back(*value);
  }
  *out = std::move(values);
}

template <typename T>
void MapReader::Size(std::string_view key, T* out, uint64_t min) {
  Entry* entry = ScalarEntry(key, kSizeLike);
  if (entry == nullptr) return;
  Result<uint64_t> value = ParseSize(entry->value.Scalar());
  if (!value.ok()) return Error(*entry, value.status().message());
  if (*value < min || *value > std::numeric_limits<T>::max()) {
    return Error(*entry, Expected("a size of at least " + FormatSize(min), entry->value.Scalar()));
  }
  *out = static_cast<T>(*value);
}

void MapReader::Choice(std::string_view key, std::vector<std::string_view> choices,
                       std::string* out) {
  const std::string expected = "one of " + Join(choices);
  Entry* entry = ScalarEntry(key, expected);
  if (entry == nullptr) return;
  const std::string& text = entry->value.Scalar();
  if (std::find(choices.begin(), choices.end(), text) != choices.end()) {
    *out = text;
    return;
  }
  std::string message = Expected(expected, Quoted(text));
  std::string_view suggestion = Suggest(text, choices);
  if (!suggestion.empty()) message += " (did you mean '" + std::string(suggestion) + "'?)";
  Error(*entry, message);
}

MapReader MapReader::Map(std::string_view key) {
  Entry* entry = Lookup(key);
  if (entry == nullptr) return MapReader(diagnostics_, PathOf(key), YAML::Node(), YAML::Mark());
  return MapReader(diagnostics_, PathOf(key), entry->value, entry->key.Mark());
}

void MapReader::Finish() {
  for (const Entry& entry : entries_) {
    if (entry.asked) continue;
    std::string message = "unknown key '" + PathOf(entry.name) + "'";
    std::string_view suggestion = Suggest(entry.name, valid_keys_);
    if (!suggestion.empty()) message += " (did you mean '" + PathOf(suggestion) + "'?)";
    diagnostics_->Add(entry.key.Mark(), message);
  }
}

// ---- the schema -----------------------------------------------------------

void ReadHeartbeat(MapReader r, HeartbeatOptions* heartbeat) {
  r.Duration("interval", &heartbeat->interval, milliseconds(1));
  r.WholeNumber("liveness", &heartbeat->liveness, 1);
  r.Finish();
}

void ReadTimeouts(MapReader r, TimeoutOptions* timeouts) {
  r.Duration("accept", &timeouts->accept, milliseconds(0));
  r.Duration("connect", &timeouts->connect, milliseconds(0));
  r.Duration("reregister", &timeouts->reregister, milliseconds(0));
  // A zero handshake deadline would drop every peer before its WELCOME.
  r.Duration("handshake", &timeouts->handshake, milliseconds(1));
  r.Duration("session", &timeouts->session, milliseconds(0));
  r.Duration("send", &timeouts->send, milliseconds(0));
  r.Finish();
}

void ReadLimits(MapReader r, LimitOptions* limits) {
  r.WholeNumber("max_connections", &limits->max_connections, 1);
  // Below 64 bytes not even a HELLO fits.
  r.Size("max_message_size", &limits->max_message_size, 64);
  r.WholeNumber("send_queue", &limits->send_queue, 1);
  r.WholeNumber("receive_queue", &limits->receive_queue, 1);
  r.Finish();
}

void ReadResume(MapReader r, ResumeOptions* resume) {
  r.Duration("grace", &resume->grace, milliseconds(0));  // 0: resume off
  // At least 64 KiB, so that it cannot be set so small that ordinary traffic fills it
  // between two acks and ends sessions.
  r.Size("buffer", &resume->buffer, 64 * 1024);
  r.Finish();
}

// Returns whether the file gave admin.endpoint (else the caller derives it from name).
bool ReadAdmin(MapReader r, AdminOptions* admin) {
  const bool given = r.Has("endpoint");
  r.String("endpoint", &admin->endpoint);
  if (admin->endpoint == "none") admin->endpoint.clear();
  r.Finish();
  return given;
}

void ReadSecurity(MapReader r, SecurityOptions* security) {
  MapReader curve = r.Map("curve");
  curve.String("secret_key_file", &security->curve.secret_key_file);
  curve.String("authorized_keys_dir", &security->curve.authorized_keys_dir);
  curve.String("server_public_key", &security->curve.server_public_key);
  curve.String("render_server_public_key", &security->curve.render_server_public_key);
  curve.Finish();
  r.Finish();
}

void ReadLog(MapReader r, LogOptions* log) {
  r.Choice("level", {"trace", "debug", "info", "warn", "error", "off"}, &log->level);
  r.Choice("format", {"text", "json"}, &log->format);
  r.Finish();
}

void ReadRoleAndMode(MapReader& r, Options* options) {
  std::string role(RoleName(options->role));
  r.Choice("role", {"server", "data-server", "render-server", "client"}, &role);
  options->role = ParseRole(role).value_or(options->role);
  std::string mode(ModeName(options->mode));
  r.Choice("mode", {"forward", "reverse", "broker"}, &mode);
  options->mode = ParseMode(mode).value_or(options->mode);
}

void ReadTopLevel(MapReader r, Options* options) {
  r.String("name", &options->name);
  ReadRoleAndMode(r, options);
  r.Bool("multiple_connections", &options->multiple_connections);
  r.String("listen", &options->listen);
  r.StringList("extra_listen", &options->extra_listen);
  r.String("client_url", &options->client_url);
  r.String("server_url", &options->server_url);
  r.String("render_server_url", &options->render_server_url);
  r.Bool("render_client", &options->render_client);
  r.String("broker_url", &options->broker_url);
  r.String("service", &options->service);
  r.WholeNumber("connect_id", &options->connect_id, 0);
  r.Bool("accept_connections", &options->accept_connections);
  r.String("connection_file", &options->connection_file);
  r.String("lifetime_command", &options->lifetime_command);
  r.Duration("lifetime_command_interval", &options->lifetime_command_interval, milliseconds(100));
  r.DurationList("lifetime_warnings", &options->lifetime_warnings, milliseconds(1));
  ReadHeartbeat(r.Map("heartbeat"), &options->heartbeat);
  ReadTimeouts(r.Map("timeouts"), &options->timeouts);
  ReadLimits(r.Map("limits"), &options->limits);
  ReadResume(r.Map("resume"), &options->resume);
  // After name: the default admin endpoint is derived from it.
  if (!ReadAdmin(r.Map("admin"), &options->admin)) {
    options->admin.endpoint = DefaultAdminEndpoint(options->name);
  }
  ReadSecurity(r.Map("security"), &options->security);
  ReadLog(r.Map("log"), &options->log);
  // Bounded so that closing never hangs (docs/CONFIGURATION.md).
  r.Duration("linger", &options->linger, milliseconds(0), milliseconds(1000));
  r.Finish();
}

Result<Options> ReadDocument(const YAML::Node& root, std::string_view source) {
  Diagnostics diagnostics(source);
  Options options;
  ReadTopLevel(MapReader(&diagnostics, "", root, root.Mark()), &options);
  if (!diagnostics.empty()) return diagnostics.ToStatus();
  return options;
}

Result<std::string> ReadFile(const std::string& path) {
  auto cannot_read = [&](int error) {
    return InvalidArgumentError("cannot read " + path + ": " +
                                std::error_code(error, std::generic_category()).message());
  };
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                       &std::fclose);
  if (!file) return cannot_read(errno);
  std::string text;
  char buffer[8192];
  while (size_t n = std::fread(buffer, 1, sizeof buffer, file.get())) text.append(buffer, n);
  if (std::ferror(file.get())) return cannot_read(errno);  // e.g. EISDIR
  return text;
}

// ---- dumping --------------------------------------------------------------

template <typename T>
void Put(YAML::Emitter& out, std::string_view key, const T& value) {
  out << YAML::Key << std::string(key) << YAML::Value << value;
}

void Put(YAML::Emitter& out, std::string_view key, std::string_view value) {
  out << YAML::Key << std::string(key) << YAML::Value << std::string(value);
}

void BeginSection(YAML::Emitter& out, std::string_view key) {
  out << YAML::Key << std::string(key) << YAML::Value << YAML::BeginMap;
}

void DumpTopLevelScalars(YAML::Emitter& out, const Options& o) {
  Put(out, "name", o.name);
  Put(out, "role", RoleName(o.role));
  Put(out, "mode", ModeName(o.mode));
  Put(out, "multiple_connections", o.multiple_connections);
  Put(out, "listen", o.listen);
  out << YAML::Key << "extra_listen" << YAML::Value << YAML::Flow << YAML::BeginSeq;
  for (const std::string& endpoint : o.extra_listen) out << endpoint;
  out << YAML::EndSeq;
  Put(out, "client_url", o.client_url);
  Put(out, "server_url", o.server_url);
  Put(out, "render_server_url", o.render_server_url);
  Put(out, "render_client", o.render_client);
  Put(out, "broker_url", o.broker_url);
  Put(out, "service", o.service);
  Put(out, "connect_id", o.connect_id);
  Put(out, "accept_connections", o.accept_connections);
  Put(out, "connection_file", o.connection_file);
  Put(out, "lifetime_command", o.lifetime_command);
  Put(out, "lifetime_command_interval", FormatDuration(o.lifetime_command_interval));
  out << YAML::Key << "lifetime_warnings" << YAML::Value << YAML::Flow << YAML::BeginSeq;
  for (milliseconds warning : o.lifetime_warnings) out << FormatDuration(warning);
  out << YAML::EndSeq;
}

void DumpSections(YAML::Emitter& out, const Options& o) {
  BeginSection(out, "heartbeat");
  Put(out, "interval", FormatDuration(o.heartbeat.interval));
  Put(out, "liveness", o.heartbeat.liveness);
  out << YAML::EndMap;
  BeginSection(out, "timeouts");
  Put(out, "accept", FormatDuration(o.timeouts.accept));
  Put(out, "connect", FormatDuration(o.timeouts.connect));
  Put(out, "reregister", FormatDuration(o.timeouts.reregister));
  Put(out, "handshake", FormatDuration(o.timeouts.handshake));
  Put(out, "session", FormatDuration(o.timeouts.session));
  Put(out, "send", FormatDuration(o.timeouts.send));
  out << YAML::EndMap;
  BeginSection(out, "limits");
  Put(out, "max_connections", o.limits.max_connections);
  Put(out, "max_message_size", FormatSize(o.limits.max_message_size));
  Put(out, "send_queue", o.limits.send_queue);
  Put(out, "receive_queue", o.limits.receive_queue);
  out << YAML::EndMap;
  BeginSection(out, "resume");
  Put(out, "grace", FormatDuration(o.resume.grace));
  Put(out, "buffer", FormatSize(o.resume.buffer));
  out << YAML::EndMap;
  BeginSection(out, "admin");
  Put(out, "endpoint", o.admin.endpoint.empty() ? "none" : o.admin.endpoint);
  out << YAML::EndMap;
}

void DumpMoreSections(YAML::Emitter& out, const Options& o) {
  BeginSection(out, "security");
  BeginSection(out, "curve");
  Put(out, "secret_key_file", o.security.curve.secret_key_file);
  Put(out, "authorized_keys_dir", o.security.curve.authorized_keys_dir);
  Put(out, "server_public_key", o.security.curve.server_public_key);
  Put(out, "render_server_public_key", o.security.curve.render_server_public_key);
  out << YAML::EndMap << YAML::EndMap;
  BeginSection(out, "log");
  Put(out, "level", o.log.level);
  Put(out, "format", o.log.format);
  out << YAML::EndMap;
  Put(out, "linger", FormatDuration(o.linger));
}

// A file's relative paths name files beside it, as sshd_config's and a systemd
// unit's do, so a configuration works from any current directory. A public key
// option holds a key or a file: it is a path only when that file exists.
void ResolvePathsAgainst(const std::filesystem::path& folder, Options& o) {
  auto resolve = [&folder](std::string& path) {
    if (path.empty() || std::filesystem::path(path).is_absolute()) return;
    path = std::filesystem::absolute(folder / path).lexically_normal().string();
  };
  auto resolve_key = [&folder, &resolve](std::string& key_or_file) {
    std::error_code error;
    if (!key_or_file.empty() && std::filesystem::is_regular_file(folder / key_or_file, error)) {
      resolve(key_or_file);
    }
  };
  CurveOptions& curve = o.security.curve;
  resolve(curve.secret_key_file);
  resolve(curve.authorized_keys_dir);
  resolve_key(curve.server_public_key);
  resolve_key(curve.render_server_public_key);
  resolve(o.connection_file);
}

// ---- launch profiles (procmod/launch.h) ------------------------------------
// The same reader as the server's configuration, so a profile's errors read alike.

void ReadProfile(MapReader r, LaunchProfile* p) {
  r.Choice("kind", {"local", "ssh", "batch"}, &p->kind);
  MapReader server = r.Map("server");
  server.String("command", &p->command);
  server.StringList("args", &p->args);
  server.WholeNumber("ranks", &p->ranks, 0, 1'000'000);
  server.String("mpiexec", &p->mpiexec);
  server.StringList("mpiexec_args", &p->mpiexec_args);
  server.String("listen", &p->listen);
  server.Duration("walltime", &p->walltime, milliseconds(0));
  server.Finish();
  r.Duration("ready_timeout", &p->ready_timeout, milliseconds(1));
  MapReader ssh = r.Map("ssh");
  ssh.String("command", &p->ssh);
  ssh.String("host", &p->host);
  ssh.String("user", &p->user);
  ssh.WholeNumber("port", &p->port, 1, 65535);
  ssh.String("identity", &p->identity);
  ssh.StringList("options", &p->ssh_options);
  ssh.Finish();
  MapReader batch = r.Map("batch");
  batch.String("submit", &p->submit);
  batch.String("status", &p->status);
  batch.String("cancel", &p->cancel);
  batch.String("script", &p->script);
  batch.String("shared_dir", &p->shared_dir);
  batch.Finish();
  MapReader via = r.Map("via");
  via.String("broker", &p->broker);
  via.String("service", &p->service);
  via.Finish();
  r.Finish();
}

// What each kind cannot do without, said at the line of the key that chose it.
void CheckProfile(const YAML::Node& root, const LaunchProfile& p, Diagnostics* diagnostics) {
  const YAML::Mark kind_mark = root["kind"] ? root["kind"].Mark() : root.Mark();
  if (p.kind.empty()) diagnostics->Add(root.Mark(), "kind: required: local, ssh or batch");
  if (p.kind == "ssh" && p.host.empty()) {
    diagnostics->Add(kind_mark, "ssh.host: required for kind ssh (the host to run the server on)");
  }
  if (p.kind == "batch" && p.shared_dir.empty()) {
    diagnostics->Add(kind_mark,
                     "batch.shared_dir: required for kind batch (a folder this machine and "
                     "the compute nodes both see, for the connection file)");
  }
  if (p.broker.empty() != p.service.empty()) {
    diagnostics->Add(root["via"] ? root["via"].Mark() : kind_mark,
                     "via: needs both broker (tcp://HOST:PORT) and service");
  }
}

// "ssh.host=node7" into `root`: the value is YAML, so lists and numbers work.
Status ApplyOverride(YAML::Node root, const std::string& assignment) {
  const size_t equals = assignment.find('=');
  if (equals == std::string::npos || equals == 0) {
    return InvalidArgumentError("--set " + assignment +
                                ": expected KEY=VALUE, e.g. ssh.host=node7");
  }
  std::vector<std::string> keys;
  std::string_view path(assignment.data(), equals);
  for (size_t start = 0; start <= path.size();) {
    const size_t dot = std::min(path.find('.', start), path.size());
    keys.emplace_back(path.substr(start, dot - start));
    start = dot + 1;
  }
  YAML::Node value;
  try {
    value = YAML::Load(assignment.substr(equals + 1));
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError("--set " + assignment + ": " + e.msg);
  }
  YAML::Node node = root;
  for (size_t i = 0; i + 1 < keys.size(); ++i) {
    if (node[keys[i]] && !node[keys[i]].IsMap()) {
      return InvalidArgumentError("--set " + assignment + ": " + keys[i] + " is not a map");
    }
    node.reset(node[keys[i]]);
  }
  node[keys.back()] = value;
  return Status();
}

}  // namespace

Result<LaunchProfile> LoadLaunchProfile(const std::string& path,
                                        const std::vector<std::string>& overrides) {
  Result<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  try {
    YAML::Node root = YAML::Load(*text);
    if (!root.IsDefined() || root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
    for (const std::string& assignment : overrides) {
      if (!root.IsMap()) break;  // ReadProfile says what is wrong with it
      if (Status s = ApplyOverride(root, assignment); !s.ok()) return s;
    }
    Diagnostics diagnostics(path);
    LaunchProfile profile;
    profile.source = path;
    profile.name = std::filesystem::path(path).stem().string();
    ReadProfile(MapReader(&diagnostics, "", root, root.Mark()), &profile);
    if (diagnostics.empty()) CheckProfile(root, profile, &diagnostics);
    if (!diagnostics.empty()) return diagnostics.ToStatus();
    const std::filesystem::path folder = std::filesystem::path(path).parent_path();
    // As ssh reads it: ~/ is the home folder; another relative path, the profile's.
    const char* home = std::getenv("HOME");
    if (profile.identity.rfind("~/", 0) == 0 && home != nullptr) {
      profile.identity = std::string(home) + profile.identity.substr(1);
    } else if (!profile.identity.empty() && std::filesystem::path(profile.identity).is_relative()) {
      profile.identity = (folder / profile.identity).string();
    }
    return profile;
  } catch (const YAML::ParserException& e) {
    return InvalidArgumentError(Located(path, e.mark, "YAML syntax error: " + e.msg));
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError(Located(path, e.mark, e.msg));
  }
}

Result<std::string> FindLaunchProfile(const std::string& name, std::vector<std::string> dirs) {
  std::error_code error;
  if (name.find('/') != std::string::npos || std::filesystem::is_regular_file(name, error)) {
    if (std::filesystem::is_regular_file(name, error)) return name;
    return NotFoundError("no profile file " + name);
  }
  if (dirs.empty()) {
    const char* xdg = std::getenv("XDG_CONFIG_HOME");
    const char* home = std::getenv("HOME");
    if (xdg != nullptr && *xdg != '\0') {
      dirs.push_back(std::string(xdg) + "/procmod/profiles");
    } else if (home != nullptr) {
      dirs.push_back(std::string(home) + "/.config/procmod/profiles");
    }
    dirs.push_back("/etc/procmod/profiles");
  }
  std::string looked;
  for (const std::string& dir : dirs) {
    const std::string candidate = dir + "/" + name + ".yaml";
    if (std::filesystem::is_regular_file(candidate, error)) return candidate;
    looked += (looked.empty() ? "" : ", ") + dir;
  }
  return NotFoundError("no profile '" + name + "' (looked for " + name + ".yaml in " + looked +
                       ")");
}

Result<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  if (text == "0") return milliseconds(0);
  std::optional<uint64_t> ms =
      ParseDecimal(text, kDurationUnits, std::numeric_limits<milliseconds::rep>::max());
  if (ms) return milliseconds(static_cast<milliseconds::rep>(*ms));
  std::string message = Expected(kDurationLike, Quoted(text));
  if (AllDigits(text)) message += " (a number needs a unit)";
  return InvalidArgumentError(message);
}

std::string FormatDuration(milliseconds duration) {
  if (duration.count() <= 0) return std::to_string(duration.count()) + "s";
  return FormatScaled(static_cast<uint64_t>(duration.count()), kDurationUnits);
}

Result<uint64_t> ParseSize(std::string_view text) {
  std::optional<uint64_t> bytes =
      ParseScaled(text, kSizeParseUnits, std::numeric_limits<uint64_t>::max());
  if (bytes) return *bytes;
  return InvalidArgumentError(Expected(kSizeLike, Quoted(text)));
}

Result<Options> LoadConfig(const std::string& path) {
  Result<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  Result<Options> options = LoadConfigFromString(*text, path);
  if (options.ok()) ResolvePathsAgainst(std::filesystem::path(path).parent_path(), *options);
  return options;
}

Result<Options> LoadConfigFromString(std::string_view yaml, std::string_view source_name) {
  try {
    std::vector<YAML::Node> documents = YAML::LoadAll(std::string(yaml));
    if (documents.size() > 1) {
      return InvalidArgumentError(
          Located(source_name, documents[1].Mark(),
                  Expected("one YAML document", std::to_string(documents.size()))));
    }
    return ReadDocument(documents.empty() ? YAML::Node() : documents[0], source_name);
  } catch (const YAML::ParserException& e) {
    return InvalidArgumentError(Located(source_name, e.mark, "YAML syntax error: " + e.msg));
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError(Located(source_name, e.mark, e.msg));
  } catch (const std::exception& e) {  // bad_alloc: still no exception escapes
    return InternalError(std::string(source_name) + ": " + e.what());
  }
}

std::string DumpConfig(const Options& options) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  DumpTopLevelScalars(out, options);
  DumpSections(out, options);
  DumpMoreSections(out, options);
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

std::string DefaultAdminEndpoint(std::string_view name) {
  constexpr std::string_view kPrefix = "/tmp/procmod-";
  constexpr std::string_view kSuffix = ".admin";
  constexpr size_t kMaxPath = 106;  // under 107 bytes: sun_path holds 107 and a NUL
  std::string safe;
  for (char c : name.substr(0, kMaxPath - kPrefix.size() - kSuffix.size())) {
    bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || IsDigit(c) || c == '.' ||
                c == '_' || c == '-';
    safe += keep ? c : '_';
  }
  if (safe.empty()) safe = "procmod";
  return "ipc://" + std::string(kPrefix) + safe + std::string(kSuffix);
}

}  // namespace procmod
