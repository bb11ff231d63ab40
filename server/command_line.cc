#include "command_line.h"

#include <iostream>
#include <optional>

#include <CLI/CLI.hpp>

#include "daemon_command_line.h"
#include "procmod/config.h"
#include "procmod/exit_codes.h"
#include "protocol/url.h"  // WithPort
#include "security/curve_keys.h"
#include "tool_cli.h"

namespace procmod::server {
namespace {

constexpr const char* kDescription =
    "procmod-server - serve procmod clients (the pvserver of procmod)\n\n"
    "Binds (forward mode) or dials its client (reverse mode) and serves it over PMP/1,\n"
    "the procmod wire protocol. By default it serves ONE client, refuses every other\n"
    "with DENY 409 and exits when that client leaves; --multi-clients keeps it\n"
    "serving any number of clients until it is stopped. Configuration comes from\n"
    "--config FILE.yaml (docs/CONFIGURATION.md); the flags below override the file.";

constexpr const char* kFooter = R"(
BUILT-IN SERVICE
  REQUEST ping           echoes its payload frames
  REQUEST info           name, role, mode, version and uptime
  DATA "broadcast"       (multi) relayed to every other client
  REQUEST collab.accept {enabled} / collab.connect_id {id}   master client only
  REQUEST collab.subscribe   then DATA "collab": joins, leaves, master changes
  REQUEST parallel.sum {value} / parallel.ranks / parallel.echo / parallel.wait {ms}
                         run on every rank, their answers reduced into one REPLY
  Admin endpoint (--admin): connections.list, process.info, connections.close,
  collab.accept, collab.connect_id, security.reload; see procmod-monitor.

PARALLEL SERVER
  mpiexec -n N procmod-server ...   one server of N processes (MPI): rank 0 owns
                         every connection, parallel methods run on every rank, and
                         every rank exits with the server's exit code
                         (docs/SERVER.md, "Parallel server")

SIGNALS
  SIGINT, SIGTERM        say BYE to every peer and exit 0 within a second
  SIGHUP                 CURVE: re-read security.curve.authorized_keys_dir; peers
                         already admitted stay (the admin method security.reload
                         does the same and answers what changed)

TIMES
  Durations are 500ms, 1.5s, 90s, 5m or 2h. --session-timeout (and ParaView's
  --timeout) also take a bare number of minutes; --connect-timeout of seconds.

EXIT STATUS (the same for every procmod tool)
  0  clean: the client said BYE, a signal, or the session timeout
  2  bad configuration or flags (the message names the file, line and key)
  3  peer lost: the client went silent for heartbeat interval x liveness (behind
     a broker: the one client's session was lost with the broker)
  4  could not bind or reach the peer, no client came within timeouts.accept,
     or the broker could not be reached again within --connect-timeout
  5  denied by the peer (connect-id, version, busy, a CURVE key it refused)

FILES
  config/server.yaml     every key, commented with its default

EXAMPLES
  procmod-server                                 one client on tcp://127.0.0.1:11111
  procmod-server --port 0                        any free port; prints it when ready
  procmod-server --multi-clients --port 11111    a collaboration server
  procmod-server --reverse --client-url tcp://workstation:11111
  procmod-server --config config/server.yaml --check-config
  procmod-server --port 0 --session-timeout 2h  end the session after two hours

SEE ALSO
  procmod(1), procmod-monitor(1), procmod-broker(1); docs/SERVER.md,
  docs/CONFIGURATION.md
)";

// Replaces the port of a tcp:// URL.
Result<std::string> WithPort(const std::string& url, int port, const char* key) {
  std::optional<std::string> moved = procmod::WithPort(url, port);
  if (!moved) {
    return InvalidArgumentError(std::string("--port: ") + key + " '" + url +
                                "' is not a tcp://HOST:PORT URL; give the port in the URL "
                                "instead");
  }
  return *std::move(moved);
}

constexpr std::chrono::milliseconds kMaxConnectTimeout = std::chrono::hours(24 * 365);

struct Flags {
  int port = -1;
  std::string listen, client_url, broker_url, service, server_type;
  std::string session_timeout, connect_timeout;
  std::string name, connection_file, lifetime_command;
  uint64_t connect_id = 0;
  bool reverse = false, multi = false, disable_further = false;
};

// The daemon's own flags. DaemonCommandLine puts -c/--config before them and
// --admin, --log-level, --log-format and --check-config after them.
void DefineFlags(CLI::App& app, Flags& f) {
  app.add_option("--name", f.name, "name shown to peers and by the monitor")->type_name("NAME");
  app.add_option("-p,--port", f.port,
                 "port to listen on (forward) or of the client to dial (reverse); 0 = any")
      ->type_name("N")
      ->check(tool::WholeNumber(0, 65535));
  app.add_option("--listen", f.listen, "endpoint to bind, e.g. tcp://0.0.0.0:11111")
      ->type_name("URL");
  app.add_flag("-r,--reverse", f.reverse, "reverse connection: dial the client");
  app.add_option("--client-url", f.client_url, "reverse mode: the client to dial")
      ->type_name("URL");
  app.add_option("--broker-url", f.broker_url, "register with a procmod-broker")->type_name("URL");
  app.add_option("--service", f.service, "broker mode: the service name")->type_name("NAME");
  app.add_option("--connect-id", f.connect_id, "connect-id clients must present")
      ->type_name("N")
      ->check(tool::WholeNumber(0));
  app.add_flag("-m,--multi-clients", f.multi,
               "serve any number of clients (SupportMultipleConnections)");
  app.add_option("--server-type", f.server_type, "data, render or combined")
      ->type_name("TYPE")
      ->check(tool::OneOf({"data", "render", "combined"}));
  // timeouts.session; --timeout is ParaView's name for it, kept so pvserver command
  // lines work: both take minutes when no unit is given.
  const CLI::Validator session = tool::Duration(tool::BareNumber::kMinutes);
  app.add_option("--session-timeout,--timeout", f.session_timeout,
                 "end the session after this long: 2h, 90m, 30s, or minutes (ParaView)")
      ->type_name("TIME")
      ->check(session);
  app.add_option("--connect-timeout", f.connect_timeout,
                 "reverse/broker: keep dialing this long (60s; 0 = forever)")
      ->type_name("TIME")
      ->check(tool::Duration(tool::BareNumber::kSeconds, std::chrono::milliseconds(0),
                             kMaxConnectTimeout));
  app.add_option("--connection-file", f.connection_file,
                 "once accepting, write the real endpoint (and more) here as JSON, mode 0600")
      ->type_name("PATH");
  app.add_option("--lifetime-command", f.lifetime_command,
                 "shell command printing the minutes left (ParaView's --timeout-command)")
      ->type_name("CMD");
  app.add_flag("--disable-further-connections", f.disable_further,
               "start with new clients refused (DENY 409)");
}

// Applies the flags that were given over `o`.
Status ApplyFlags(const DaemonCommandLine& command_line, const Flags& f, Options& o) {
  const CLI::App& app = command_line.app();
  const bool admin_was_default = o.admin.endpoint == DefaultAdminEndpoint(o.name);
  if (app.count("--name")) o.name = f.name;
  if (admin_was_default) o.admin.endpoint = DefaultAdminEndpoint(o.name);
  if (f.reverse) o.mode = Mode::kReverse;
  if (app.count("--listen")) o.listen = f.listen;
  if (app.count("--connection-file")) o.connection_file = f.connection_file;
  if (app.count("--lifetime-command")) o.lifetime_command = f.lifetime_command;
  if (app.count("--client-url")) o.client_url = f.client_url;
  if (app.count("--broker-url")) {
    o.broker_url = f.broker_url;
    o.mode = Mode::kBroker;
  }
  if (app.count("--service")) o.service = f.service;
  if (app.count("--port")) {
    const bool reverse = o.mode == Mode::kReverse;
    Result<std::string> url =
        WithPort(reverse ? o.client_url : o.listen, f.port, reverse ? "client_url" : "listen");
    if (!url.ok()) return url.status();
    (reverse ? o.client_url : o.listen) = *url;
  }
  if (app.count("--connect-id")) o.connect_id = f.connect_id;
  if (f.multi) o.multiple_connections = true;
  if (f.server_type == "data") o.role = Role::kDataServer;
  if (f.server_type == "render") o.role = Role::kRenderServer;
  if (f.server_type == "combined") o.role = Role::kServer;
  if (app.count("--session-timeout")) {
    o.timeouts.session = *tool::ParseDurationFlag(f.session_timeout, tool::BareNumber::kMinutes);
  }
  if (app.count("--connect-timeout")) {
    o.timeouts.connect = *tool::ParseDurationFlag(f.connect_timeout, tool::BareNumber::kSeconds,
                                                  std::chrono::milliseconds(0), kMaxConnectTimeout);
  }
  if (f.disable_further) o.accept_connections = false;
  if (std::optional<std::string> admin = command_line.admin_flag()) o.admin.endpoint = *admin;
  return Status();
}

// A server rule the options break: the top-level key it is about and why.
struct Violation {
  std::string key;
  std::string message;
};

std::optional<Violation> FirstViolation(const Options& o) {
  if (o.role == Role::kClient) {
    return Violation{"role",
                     "role: 'client' is not a server role; expected server, "
                     "data-server or render-server"};
  }
  if (o.mode == Mode::kReverse && o.client_url.empty()) {
    return Violation{"mode", "mode reverse needs client_url (or --client-url)"};
  }
  if (o.mode == Mode::kBroker && o.broker_url.empty()) {
    return Violation{"broker_url", "mode broker needs broker_url (or --broker-url)"};
  }
  if (o.mode == Mode::kBroker && o.service.empty()) {
    return Violation{"service", "mode broker needs service (or --service)"};
  }
  if (o.mode == Mode::kForward && o.listen.empty()) {
    return Violation{"listen", "mode forward needs listen (or --listen)"};
  }
  return std::nullopt;
}

}  // namespace

Status ValidateServerOptions(const Options& o) {
  if (std::optional<Violation> v = FirstViolation(o)) return InvalidArgumentError(v->message);
  return Status();
}

CommandLine ParseCommandLine(int argc, char** argv) {
  DaemonCommandLine command_line("procmod-server", kDescription, kFooter);
  CLI::App& app = command_line.app();
  Flags flags;
  DefineFlags(app, flags);

  CommandLine out;
  if ((out.exit_code = command_line.ParseAndLoad(argc, argv, out.options))) return out;
  if (Status s = ApplyFlags(command_line, flags, out.options); !s.ok()) {
    out.exit_code = command_line.Fail(s.message());
    return out;
  }
  const ConfigKeys& file = command_line.file();
  if (std::optional<Violation> v = FirstViolation(out.options)) {
    // Point at the file's line unless a flag set the key.
    const bool from_flag =
        v->key == "mode" ? flags.reverse || app.count("--broker-url") > 0
                         : v->key == "listen" && (app.count("--listen") || app.count("--port"));
    const std::string where = from_flag ? "" : file.Where({v->key});
    out.exit_code = command_line.Fail(where + v->message);
    return out;
  }
  // The key files are read now, so a bad one is a config error (exit 2) that names
  // the file's security section, before anything binds.
  const Options& o = out.options;
  const bool accepts = o.mode == Mode::kForward;
  if (Result<CurveSetup> curve = ResolveCurve(o.security.curve, accepts, !accepts); !curve.ok()) {
    out.exit_code =
        command_line.Fail(file.Where({"security"}) + std::string(curve.status().message()));
    return out;
  }
  if (command_line.check_config()) {
    std::cout << DumpConfig(out.options);
    out.exit_code = 0;
  }
  return out;
}

}  // namespace procmod::server
