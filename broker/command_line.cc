#include "command_line.h"

#include <CLI/CLI.hpp>
#include <iostream>
#include <optional>
#include <set>

#include "admin/admin_endpoint.h"  // CheckAdminEndpoint
#include "daemon_command_line.h"
#include "procmod/config.h"
#include "protocol/url.h"             // WithPort
#include "security/curve_keys.h"
#include "tool_cli.h"

namespace procmod::broker {
namespace {

constexpr const char* kDescription =
    "procmod-broker - rendezvous relay for procmod peers that can only dial out\n\n"
    "Servers and clients both connect to the broker, so neither has to accept a\n"
    "connection: the way through firewalls and NAT on clusters. A server registers a\n"
    "service (HELLO role server, service NAME, multi); clients ask for that service\n"
    "(HELLO role client, service NAME) and are admitted by the server's policy\n"
    "(connect-id, one client or many). The broker relays DATA, REQUEST and REPLY\n"
    "between them, tells the server JOINED and LEFT, and heartbeats each leg on its\n"
    "own. Configuration comes from --config FILE.yaml (docs/CONFIGURATION.md; a broker\n"
    "uses name, listen, heartbeat, limits, admin, log, linger and security); flags\n"
    "override it. SIGHUP re-reads security.curve.authorized_keys_dir.";

constexpr const char* kFooter = R"(
PROTOCOL (docs/BROKER.md, docs/PROTOCOL.md section 12)
  server HELLO        DENY 409 if the service has a live server, else WELCOME
  client HELLO        DENY 404 unknown service, 403 connect-id, 409 single server
                      already had its client, 503 at limits.max_connections;
                      else WELCOME (the server's role and name) + JOINED to the server
  DATA/REQUEST/REPLY  relayed; towards the server `peer` names the client's session,
                      from the server `peer` must name one of its clients
  client BYE/expiry   LEFT {session, bye|expired} to its server
  server BYE/expiry   BYE "server left" / "server lost" to each of its clients

ADMIN ENDPOINT (--admin; default ipc:///tmp/procmod-<name>.admin)
  services.list, connections.list, process.info, connections.close {session};
  see procmod-monitor --admin ENDPOINT.

SIGNALS
  SIGINT, SIGTERM     BYE "broker shutting down" to every peer, exit 0 within a second
  SIGHUP              CURVE: re-read security.curve.authorized_keys_dir; peers
                      already admitted stay

EXIT STATUS (the same for every procmod tool)
  0  clean: stopped by a signal; also --help, --version, --check-config
  2  bad configuration or flags (the message names the file, line and key)
  4  could not bind the listen or admin endpoint (e.g. the port is in use)

FILES
  config/broker.yaml  a commented example

EXAMPLES
  procmod-broker                             on tcp://127.0.0.1:5570
  procmod-broker --listen tcp://0.0.0.0:5570  reachable from the cluster's nodes
  procmod-broker --port 0 --admin none       any free port; printed when ready
  procmod-broker --config config/broker.yaml --check-config

SEE ALSO
  procmod-server(1), procmod(1), procmod-monitor(1); docs/BROKER.md
)";

// Top-level keys of the schema a broker uses. timeouts: only handshake, which bounds
// the ZMTP handshake on the broker's socket. security: CURVE on both legs
// (secret_key_file and authorized_keys_dir; server_public_key is for dialing sides).
const std::set<std::string, std::less<>>& UsedKeys() {
  static const std::set<std::string, std::less<>> keys = {
      "name", "listen", "heartbeat", "limits", "admin", "log", "linger", "timeouts", "security"};
  return keys;
}

struct Flags {
  std::string listen, name;
  int port = -1;
};

// The daemon's own flags. DaemonCommandLine puts -c/--config before them and
// --admin, --log-level, --log-format and --check-config after them.
void DefineFlags(CLI::App& app, Flags& f) {
  app.add_option("--listen", f.listen,
                 "endpoint to bind (default " + std::string(kDefaultListen) + ")")
      ->type_name("URL");
  app.add_option("-p,--port", f.port, "port of the listen endpoint; 0 = any free port")
      ->type_name("N")
      ->check(tool::WholeNumber(0, 65535));
  app.add_option("--name", f.name,
                 "name shown to servers and by the monitor (default procmod-broker)")
      ->type_name("NAME");
}

// Replaces the port of a tcp:// URL.
Result<std::string> ListenWithPort(const std::string& url, int port) {
  std::optional<std::string> moved = WithPort(url, port);
  if (!moved) {
    return InvalidArgumentError("--port: listen '" + url +
                                "' is not a tcp://HOST:PORT URL; give the port in --listen "
                                "instead");
  }
  return *std::move(moved);
}

}  // namespace

CommandLine ParseCommandLine(int argc, char** argv) {
  DaemonCommandLine command_line("procmod-broker", kDescription, kFooter);
  CLI::App& app = command_line.app();
  Flags flags;
  DefineFlags(app, flags);

  CommandLine out;
  if ((out.exit_code = command_line.ParseAndLoad(argc, argv, out.options))) return out;
  Options& o = out.options;
  const ConfigKeys& file = command_line.file();

  // The broker's own defaults for what neither the file nor a flag gives.
  if (app.count("--name")) {
    o.name = flags.name;
  } else if (!file.Has({"name"})) {
    o.name = kDefaultName;
  }
  if (std::optional<std::string> admin = command_line.admin_flag()) {
    o.admin.endpoint = *admin;
  } else if (!file.Has({"admin", "endpoint"})) {
    o.admin.endpoint = DefaultAdminEndpoint(o.name);
  }
  if (app.count("--listen")) {
    o.listen = flags.listen;
  } else if (!file.Has({"listen"})) {
    o.listen = kDefaultListen;
  }
  if (app.count("--port")) {
    Result<std::string> url = ListenWithPort(o.listen, flags.port);
    if (!url.ok()) {
      out.exit_code = command_line.Fail(url.status().message());
      return out;
    }
    o.listen = *url;
  }

  // Checks on the whole, naming the file's line unless a flag set the key.
  if (o.listen.empty()) {
    const std::string where = app.count("--listen") ? "" : file.Where({"listen"});
    out.exit_code = command_line.Fail(where + "listen: a broker needs an endpoint to bind");
    return out;
  }
  const CurveOptions& curve = o.security.curve;
  const bool curve_on = !curve.secret_key_file.empty() || !curve.authorized_keys_dir.empty();
  if (Status s = o.admin.endpoint.empty() ? Status() : CheckAdminEndpoint(o.admin.endpoint, curve_on);
      !s.ok()) {
    const std::string where = app.count("--admin") ? "" : file.Where({"admin", "endpoint"});
    out.exit_code = command_line.Fail(where + std::string(s.message()));
    return out;
  }
  if (curve_on || !curve.server_public_key.empty()) {
    Result<CurveSetup> keys = ResolveCurve(curve, /*accepts=*/true, /*dials=*/false);
    if (!keys.ok()) {
      out.exit_code = command_line.Fail(file.Where({"security", "curve"}) +
                                        std::string(keys.status().message()));
      return out;
    }
  }
  for (const std::string& key : file.TopLevelKeys()) {
    if (!UsedKeys().contains(key)) out.ignored_keys.push_back(key);
  }

  if (command_line.check_config()) {
    std::cout << "# procmod-broker uses name, listen, heartbeat, limits, admin, log, "
                 "linger,\n# security.curve and timeouts.handshake; the other keys are ignored.\n"
              << DumpConfig(o);
    out.exit_code = kExitOk;
  }
  return out;
}

}  // namespace procmod::broker
