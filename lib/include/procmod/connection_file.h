// procmod/connection_file.h
//
// A connection file tells clients where a server really is. A server bound to port 0
// (any free port) on a cluster node writes one once it accepts (procmod-server
// --connection-file PATH); the batch script hands it to the client, which connects
// from it instead of guessing a port. It is a small JSON object, mode 0600 (it may
// carry the connect-id), removed when the server exits:
//
//   {"endpoint": "tcp://127.0.0.1:40123", "name": "viz-1", "role": "server",
//    "multi": false, "connect_id": 0, "protocol": "1.0", "software": "procmod 0.1.0",
//    "pid": 4242, "admin": "ipc:///tmp/procmod-viz-1.admin", "public_key": "..."}
//
// `public_key` is there when the server speaks CURVE (its Z85 public key, the
// client's server_public_key); `admin` when it has an admin endpoint.
//
//   procmod::Result<procmod::ConnectionInfo> info =
//       procmod::ReadConnectionFile("/scratch/job42/viz.json");
//   if (!info.ok()) { std::cerr << info.status().message() << "\n"; return 2; }
//   auto client = procmod::Client::Connect(info->endpoint);
#ifndef PROCMOD_CONNECTION_FILE_H_
#define PROCMOD_CONNECTION_FILE_H_

#include <cstdint>
#include <string>

#include "procmod/options.h"
#include "procmod/result.h"
#include "procmod/status.h"

namespace procmod {

struct ConnectionInfo {
  std::string endpoint;  // where to connect: tcp://HOST:PORT with the real port
  std::string name;      // the server's name
  std::string role;      // server, data-server, render-server
  bool multi = false;    // SupportMultipleConnections
  uint64_t connect_id = 0;
  std::string protocol;  // PMP version, MAJOR.MINOR
  std::string software;  // e.g. "procmod 0.1.0"
  int64_t pid = 0;
  std::string admin;       // the admin endpoint, or ""
  std::string public_key;  // CURVE: the server's public key (Z85), or ""
  int ranks = 1;           // processes of a parallel server (mpiexec -n), 1 otherwise
};

// Writes `info` to `path` as JSON, mode 0600 from creation, atomically (a reader
// never sees half a file: it is written beside and renamed).
Status WriteConnectionFile(const std::string& path, const ConnectionInfo& info);

// Reads a connection file. kInvalidArgument naming the file when it cannot be read,
// is not JSON, or lacks `endpoint`; unknown keys are ignored (newer servers may add
// some).
Result<ConnectionInfo> ReadConnectionFile(const std::string& path);

// Reads a connection file into the Options of a forward client: server_url, the
// connect-id, and security.curve.server_public_key when the file has a key and the
// options name none (the client's own secret_key_file stays the caller's to set).
//
//   procmod::Options options;
//   options.role = procmod::Role::kClient;
//   if (procmod::Status s = procmod::LoadConnectionFile(path, &options); !s.ok()) ...
Status LoadConnectionFile(const std::string& path, Options* options);

}  // namespace procmod

#endif  // PROCMOD_CONNECTION_FILE_H_
