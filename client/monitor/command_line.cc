#include "command_line.h"

#include <cstdio>
#include <cstdlib>

#include <CLI/CLI.hpp>

#include "procmod/config.h"
#include "procmod/result.h"
#include "tool_cli.h"

namespace procmod::monitor {
namespace {

using std::chrono::milliseconds;

constexpr const char* kDescription =
    "procmod-monitor - look inside a running procmod process\n\n"
    "Asks the admin endpoint of a procmod process (a procmod-server, a reverse-mode\n"
    "client that binds, a procmod-broker) which peers are connected right now, what the\n"
    "process is, and ends sessions. The admin endpoint answers without a handshake, so\n"
    "the monitor never becomes a peer itself and does not appear in its own list.\n"
    "Options may come before or after the command.";

constexpr const char* kListFooter = R"HELP(
OUTPUT
  One line per live connection: SESSION NAME ROLE ADDRESS STATE MASTER CONNECTED
  IDLE PING-RTT MSGS(in/out) BYTES(in/out), in human units (3m12s, 850us, 1.2KiB).
  MASTER marks the collaboration master. PING-RTT is the round trip of the last
  heartbeat PING; PINGs only cross a link that was idle for a heartbeat interval,
  so a peer busy all the time shows "-". With no peers: the header and
  "(no connections)".

  --json prints the admin endpoint's connections.list as a JSON array, one object
  per peer (session, name, role, address, state, master, incoming, version,
  software, connected_ms, idle_ms, rtt_us, msgs_in, msgs_out, bytes_in, bytes_out,
  dropped).

  --watch redraws every SECONDS until Ctrl-C: in place on a terminal, otherwise one
  snapshot after another, a blank line apart. An admin endpoint that stops
  answering is reported in the frame and asked again next time.

EXAMPLES
  procmod-monitor list                          peers of the server named "procmod"
  procmod-monitor --name viz-1 list --watch 1   a live view of server viz-1
  procmod-monitor list --json | jq -r '.[].name'

  Which process to ask: --admin, --name, --reply-timeout, --key, --server-key,
  before or after the command (procmod-monitor --help).
)HELP";

constexpr const char* kInfoFooter = R"HELP(
OUTPUT
  The process: name, role, mode, multi, listen and admin endpoints, pid, uptime,
  whether it accepts new peers, how many it has, heartbeat, protocol, software.
  --json prints process.info as a JSON object.

  Which process to ask: --admin, --name, --reply-timeout, --key, --server-key,
  before or after the command (procmod-monitor --help).
)HELP";

constexpr const char* kServicesFooter = R"HELP(
OUTPUT
  A procmod-broker's services (services.list): each service, its server's session,
  name and role, multi, and the sessions of the clients it relays. Exit 1 when the
  process is not a broker.

  Which process to ask: --admin, --name, --reply-timeout, --key, --server-key,
  before or after the command (procmod-monitor --help).
)HELP";

constexpr const char* kKickFooter = R"HELP(
  Ends one session (connections.close): the peer gets
  BYE "closed by the administrator", and its client reports it so.
  Prints "closed session SESSION"; exit 1 when there is no such session.

EXAMPLES
  procmod-monitor kick 5f1e0c3a9b2d4e67

  Which process to ask: --admin, --name, --reply-timeout, --key, --server-key,
  before or after the command (procmod-monitor --help).
)HELP";

constexpr const char* kFooter = R"HELP(
COMMANDS (procmod-monitor COMMAND --help for each one's output)
  list [--json] [--watch SECONDS]   the live connections, one line each
  info [--json]                     what the process is and how it is set up
  services [--json]                 a procmod-broker's services and their clients
  kick SESSION                      end one session

ENDPOINT
  --admin ENDPOINT, else --name NAME (ipc:///tmp/procmod-NAME.admin), else
  $PROCMOD_ADMIN, else ipc:///tmp/procmod-procmod.admin (procmod-server's default
  name is "procmod"). ipc:// and tcp://127.0.0.1:PORT endpoints work as they are.

ENVIRONMENT
  PROCMOD_ADMIN          the admin endpoint when neither --admin nor --name is given

EXIT STATUS (the same for every procmod tool)
  0  success (list, info, kick done; --watch ended by Ctrl-C)
  1  the admin endpoint answered with an error (kick: no such session)
  2  bad flags or a malformed endpoint
  4  no answer within --reply-timeout, or what answered is not an admin endpoint
  5  the process refused our CURVE handshake (--key, --server-key)

EXAMPLES
  procmod-monitor list                          peers of the server named "procmod"
  procmod-monitor --name viz-1 list --watch 1   a live view of server viz-1
  procmod-monitor list --json | jq -r '.[].name'
  procmod-monitor --admin ipc:///tmp/procmod-viz-1.admin info
  procmod-monitor kick 5f1e0c3a9b2d4e67         end that session

SEE ALSO
  procmod-server(1), procmod-broker(1), procmod(1); docs/MONITOR.md
)HELP";

struct Flags {
  std::string admin, name, timeout = "2s", session, key, server_key, watch;
  bool json = false;
};

constexpr milliseconds kMaxWatch = std::chrono::hours(24);

void DefineGlobalFlags(CLI::App& app, Flags& f) {
  // --admin and --name exclude each other; checked after parsing, because CLI11's
  // excludes() prints "Excludes: ..." into every line of --help.
  app.add_option("-a,--admin", f.admin, "the admin endpoint to ask (see ENDPOINT)")
      ->type_name("ENDPOINT");
  app.add_option("-n,--name", f.name, "shortcut for --admin ipc:///tmp/procmod-NAME.admin")
      ->type_name("NAME");
  const CLI::Validator timeout =
      tool::Duration(tool::BareNumber::kSeconds, milliseconds(1), kMaxWatch);
  app.add_option("-t,--reply-timeout", f.timeout, "how long to wait for an answer (default 2s)")
      ->type_name("TIME")
      ->check(timeout);
  // Its name before 0.2, hidden: the server's --timeout is the session's length.
  app.add_option("--timeout", f.timeout)->group("")->check(timeout);
  app.add_option("--key", f.key,
                 "CURVE: our secret key file (procmod keygen), for a tcp:// admin "
                 "endpoint of a process with CURVE on")
      ->type_name("FILE");
  app.add_option("--server-key", f.server_key, "CURVE: the process's public key, or its .pub file")
      ->type_name("KEY|FILE");
}

void DefineCommands(CLI::App& app, Flags& f) {
  CLI::App* list = app.add_subcommand("list", "table of live connections (like ss)");
  list->footer(kListFooter);
  list->add_flag("--json", f.json, "print connections.list as a JSON array");
  list->add_option("-w,--watch", f.watch, "redraw every SECONDS until Ctrl-C (0.5, 2s)")
      ->type_name("SECONDS")
      ->check(tool::Duration(tool::BareNumber::kSeconds, milliseconds(1), kMaxWatch));
  CLI::App* info = app.add_subcommand("info", "what the process is and how it is set up");
  info->footer(kInfoFooter);
  info->add_flag("--json", f.json, "print process.info as a JSON object");
  CLI::App* services =
      app.add_subcommand("services", "a broker's services: which clients are with which server");
  services->footer(kServicesFooter);
  services->add_flag("--json", f.json, "print services.list as a JSON array");
  CLI::App* kick = app.add_subcommand("kick", "end one session (the peer gets BYE)");
  kick->footer(kKickFooter);
  kick->add_option("SESSION", f.session, "the session id, as `list` shows it")
      ->required()
      ->type_name("");
}

// --admin, then --name, then $PROCMOD_ADMIN, then the default server name's endpoint.
std::string ResolveEndpoint(const Flags& f) {
  if (!f.admin.empty()) return f.admin;
  if (!f.name.empty()) return DefaultAdminEndpoint(f.name);
  if (const char* env = std::getenv("PROCMOD_ADMIN"); env != nullptr && *env != '\0') {
    return env;
  }
  return DefaultAdminEndpoint("procmod");
}

Command CommandOf(const CLI::App& app) {
  if (app.got_subcommand("info")) return Command::kInfo;
  if (app.got_subcommand("kick")) return Command::kKick;
  if (app.got_subcommand("services")) return Command::kServices;
  return Command::kList;
}

}  // namespace

CommandLine ParseCommandLine(int argc, char** argv) {
  CLI::App app(kDescription, "procmod-monitor");
  tool::SetUp(app, 30);
  app.require_subcommand(1);
  app.fallthrough();  // `list --admin X` as well as `--admin X list`
  Flags flags;
  DefineGlobalFlags(app, flags);
  DefineCommands(app, flags);
  app.footer(kFooter);  // after the commands, which have their own

  CommandLine out;
  if ((out.exit_code = tool::Parse(app, argc, argv))) return out;
  if (app.count("--admin") && app.count("--name")) {
    out.exit_code = tool::UsageError(app, "give --admin or --name, not both");
    return out;
  }
  if (app.count("--admin") && flags.admin.empty()) {
    out.exit_code = tool::UsageError(app, "--admin: the endpoint must not be empty");
    return out;
  }
  Invocation& inv = out.invocation;
  inv.command = CommandOf(app);
  inv.endpoint = ResolveEndpoint(flags);
  inv.timeout = *tool::ParseDurationFlag(flags.timeout, tool::BareNumber::kSeconds);
  inv.json = flags.json;
  inv.session = flags.session;
  inv.curve.secret_key_file = flags.key;
  inv.curve.server_public_key = flags.server_key;
  if (!flags.watch.empty()) {
    inv.watch = *tool::ParseDurationFlag(flags.watch, tool::BareNumber::kSeconds);
  }
  return out;
}

}  // namespace procmod::monitor
