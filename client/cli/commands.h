// commands.h: the subcommands of `procmod`, each a function from its parsed flags to
// an exit code (cli_support.h). They print results on stdout, one line at a time and
// flushed (stdout is often a pipe), and every failure as ONE line on stderr that
// starts with "procmod: ". docs/CLI.md shows every output.
#ifndef PROCMOD_CLI_COMMANDS_H_
#define PROCMOD_CLI_COMMANDS_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "procmod/options.h"

namespace procmod::cli {

// Flags every subcommand takes.
struct GlobalFlags {
  std::string name = "procmod-cli";          // our name, as the server's monitor shows it
  uint64_t connect_id = 0;                   // must match the server's --connect-id
  std::chrono::milliseconds timeout{10000};  // connecting (or waiting); 0 = no limit
  bool verbose = false;                      // the library's log on stderr
  // Ride through a server restart: connecting retries refusals until `timeout`; ping
  // reconnects after a loss, says so, and goes on.
  bool reconnect = false;
  CurveOptions curve;                        // --key, --server-key, --authorized-keys
};

struct PingFlags {
  std::string url;
  uint64_t count = 4;                        // 0: until Ctrl-C
  std::chrono::milliseconds interval{1000};  // from one request to the next
  std::chrono::milliseconds wait{2000};      // per request
  size_t size = 56;                          // payload bytes, as ping(8) sends
};

struct SendFlags {
  std::string url;
  std::string channel;
  std::string text;
};

// --connection-file: sets `url` to the endpoint in the file at `path`
// (procmod/connection_file.h). A CURVE server's file has its public key: with --key
// but no --server-key, that is the server key; its connect-id is used unless
// --connect-id gave one. Exit 2 with one line when the file cannot be read.
int UseConnectionFile(const std::string& path, std::string& url, GlobalFlags& global);

int Ping(const GlobalFlags& global, const PingFlags& flags);
int Connect(const GlobalFlags& global, const std::string& url);
int Wait(const GlobalFlags& global, const std::string& listen_url);
int Send(const GlobalFlags& global, const SendFlags& flags);

struct KeygenFlags {
  std::string name;
  std::string out_dir = ".";
  bool force = false;
};

// Writes NAME.key and NAME.pub (keygen.h); prints both paths and the public key.
int Keygen(const KeygenFlags& flags);

}  // namespace procmod::cli

#endif  // PROCMOD_CLI_COMMANDS_H_
