// procmod/config.h
//
// The YAML configuration file of the daemons (docs/CONFIGURATION.md),
// read into the same Options struct an application fills in code. Every key is
// optional: what the file does not give keeps the Options default. The loader is
// strict on purpose, so a typo never silently falls back to a default: an unknown key
// is an error (with a did-you-mean), and so is a value of the wrong type or out of
// range. Every error is an InvalidArgument Status whose message names the file, the
// 1-based line, the key's dotted path and what was expected:
//
//   server.yaml:7: heartbeat.interval: expected a duration like 500ms, 2s or 5m, got "fast"
//   server.yaml:3: unknown key 'hearbeat' (did you mean 'heartbeat'?)
//
// When a file has several errors, the message lists them all, one per line, in line
// order. Nothing here throws.
//
//   procmod::Result<procmod::Options> options = procmod::LoadConfig("server.yaml");
//   if (!options.ok()) {
//     std::cerr << options.status().message() << "\n";
//     return 2;  // exit code for a bad config (docs/ARCHITECTURE.md)
//   }
//   options->listen = flag_listen;  // flags override the file
//   std::cout << procmod::DumpConfig(*options);  // --check-config
#ifndef PROCMOD_CONFIG_H_
#define PROCMOD_CONFIG_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "procmod/options.h"
#include "procmod/result.h"

namespace procmod {

// Loads the YAML configuration file at `path` into Options (defaults for keys not
// given). An empty file, or one of comments only, gives all defaults. Errors name the
// file as `path` was written. When the file does not give admin.endpoint, it is set to
// DefaultAdminEndpoint(name); `admin: {endpoint: none}` means no admin endpoint.
// Relative paths in the file (security.curve's key files and folder, a public key
// given as a file, connection_file) are made absolute against the file's folder, so
// the configuration works from any current directory.
Result<Options> LoadConfig(const std::string& path);

// The same from YAML text; `source_name` is what error messages call the file.
Result<Options> LoadConfigFromString(std::string_view yaml,
                                     std::string_view source_name = "<string>");

// A duration: a number and a unit, with nothing between them: "500ms", "2s", "1.5s",
// "5m", "1h". Zero may be written "0" or with any unit ("0s"); other numbers need a
// unit. A fraction must come to whole milliseconds ("0.0001s" is an error). The same
// syntax is taken by every YAML key and every command-line flag that is a duration.
Result<std::chrono::milliseconds> ParseDuration(std::string_view text);

// The duration in the largest unit that divides it exactly, as ParseDuration reads
// it back: 1000 ms is "1s", 1500 ms "1500ms", 90 s "90s", 5 min "5m".
std::string FormatDuration(std::chrono::milliseconds duration);

// A size in bytes: a whole number with an optional unit, nothing between them. "512"
// and "512B" are bytes; KiB, MiB and GiB are powers of 1024 ("64KiB" = 65536); KB (or
// kB), MB and GB are powers of 1000 ("10KB" = 10000), as IEC 80000-13 has it. Units
// are case-sensitive ("64mib" is an error).
Result<uint64_t> ParseSize(std::string_view text);

// The effective configuration as YAML text, for --check-config: every key, defaults
// included, in the order of docs/CONFIGURATION.md, durations and sizes with units
// ("1s", "64MiB"), an empty admin endpoint as `none`. LoadConfigFromString() of the
// result gives `options` back.
std::string DumpConfig(const Options& options);

// The admin endpoint a server named `name` binds when the configuration gives none:
// "ipc:///tmp/procmod-<name>.admin". The name is reduced to [A-Za-z0-9._-] (any other
// byte becomes '_'; an empty name becomes "procmod") and cut so that the socket path
// stays under 107 bytes, the most an AF_UNIX sun_path (108 with its NUL) can hold.
std::string DefaultAdminEndpoint(std::string_view name);

}  // namespace procmod

#endif  // PROCMOD_CONFIG_H_
