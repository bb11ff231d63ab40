#include "command_line.h"

#include <cstdio>
#include <limits>

#include <CLI/CLI.hpp>

#include "cli_support.h"
#include "procmod/config.h"
#include "tool_cli.h"

namespace procmod::cli {
namespace {

// The library's default limits.max_message_size: a bigger ping could not come back.
constexpr uint64_t kMaxPingSize = 64 * 1024 * 1024;
// ping -i 0 floods, as ping(8)'s; -W 0 would never wait; more than a day is a typo.
constexpr std::chrono::milliseconds kMinInterval{0};
constexpr std::chrono::milliseconds kMinWait{1};
constexpr std::chrono::milliseconds kMaxWait = std::chrono::hours(24);

constexpr const char* kDescription =
    "procmod - talk to a procmod server from the shell\n\n"
    "Connects to a procmod server (procmod-server, or any program built on the procmod\n"
    "library) over PMP/1 and checks it: `ping` measures round trips like ping(8),\n"
    "`connect` shows who answers, `wait` takes a server that dials in (reverse\n"
    "connection), `send` delivers one DATA message, `keygen` writes a CURVE key\n"
    "pair. Every failure is one line on stderr starting with \"procmod: \", and the\n"
    "exit status says what kind it was.\n"
    "Global options may come before or after the command.";

constexpr const char* kFooter = R"(
URLS
  tcp://HOST:PORT        a server, e.g. tcp://127.0.0.1:11111 (port 1-65535)
  ipc://PATH             a Unix socket path
  broker+tcp://HOST:PORT/SERVICE   a service behind a procmod-broker
  cs://HOST[:PORT]       ParaView's: one server (port 11111 unless given)
  cdsrs://DSHOST[:PORT]/RSHOST[:PORT]
                         a data server (11111) and a render server (22221)
  wait --listen takes tcp://, ipc:// and ParaView's reverse URLs:
  csrc://[HOST][:PORT]   listen for one server (port 11111; no HOST: every
                         interface)
  cdsrsrc://[DSHOST][:PORT]/[RSHOST][:PORT]
                         listen for a data server and a render server
  Port 0 there is any free port, printed once bound.

  --connection-file FILE (ping, connect, send) instead of a URL: the JSON file a
  server wrote (procmod-server --connection-file).

TIMES
  -i, -W and --connect-timeout take seconds (2, 0.2) or a duration (200ms, 1.5s,
  5m). A wait of more than 2 s is reported on stderr as it goes.

EXIT STATUS (the same for every procmod tool)
  0  success: every ping answered, or the command done
  1  ping: some requests got no reply
  2  bad flags or URL, or the peer is not a server
  3  the server went away during the session
  4  could not reach the server: connection refused, or nothing answered (or no
     server dialed in) within --connect-timeout
  5  refused: DENY (403 connect-id, 409 busy, 426 version, 503 full), a CURVE
     handshake the server refused, or the server answered ping with an error

EXAMPLES
  procmod ping tcp://127.0.0.1:11111                 4 pings, one a second
  procmod ping -c 0 -i 200ms tcp://viz-1:11111       until Ctrl-C, five a second
  procmod connect tcp://127.0.0.1:11111              who answers there
  procmod connect cdsrs://viz-1/viz-2                a data and a render server
  procmod ping --connection-file /scratch/job42/viz.json
  procmod wait --listen tcp://0.0.0.0:11111 --connect-timeout 5m
  procmod send tcp://127.0.0.1:11111 --channel broadcast 'hello, everyone'
  procmod keygen --out ~/.procmod viz-1               viz-1.key and viz-1.pub
  procmod --connect-id 42 --name alice ping tcp://127.0.0.1:11111

SEE ALSO
  procmod-server(1), procmod-monitor(1), procmod-broker(1), ping(8); docs/CLI.md
)";

constexpr const char* kPingFooter = R"(
OUTPUT
  PING tcp://127.0.0.1:11111 (viz-1): 56 payload bytes
  reply from tcp://127.0.0.1:11111 (viz-1): seq=1 time=0.213 ms
  request seq=2 timed out after 2s
  --- tcp://127.0.0.1:11111 ping statistics ---
  2 sent, 1 received, 50% loss
  rtt min/avg/max/p99 = 0.213/0.213/0.213/0.213 ms

  Ctrl-C stops early and still prints the statistics. Exit 0 when every request
  was answered, 1 when some were not (see procmod --help for the others).
)";

constexpr const char* kConnectFooter = R"(
OUTPUT
  connected to tcp://127.0.0.1:11111
    name:     viz-1
    role:     server
    session:  5f1e0c3a9b2d4e67
    version:  1.1
    software: procmod 0.1.0
  said BYE
)";

constexpr const char* kWaitFooter = R"(
OUTPUT
  listening on tcp://127.0.0.1:40123
  server connected from 127.0.0.1
    name:     viz-1
    ...as connect prints it
  said BYE

  Start the server with: procmod-server --reverse --client-url tcp://THIS-HOST:PORT

  With cdsrsrc:// it prints two "listening on ENDPOINT for the data server" /
  "... for the render server" lines, waits for both, and prints each as
  "data server connected from ..." and "render server connected from ...".
)";

constexpr const char* kSendFooter = R"(
OUTPUT
  sent 5 bytes on channel broadcast to tcp://127.0.0.1:11111
  said BYE

  A multi-client procmod-server relays channel `broadcast` to its other clients.
)";

// Flags as typed; turned into GlobalFlags/PingFlags once CLI11 is done.
struct Texts {
  std::string connect_timeout = "10s";
  std::string interval = "1s";
  std::string wait = "2s";
  std::string size = "56";
};

void DefineGlobal(CLI::App& app, GlobalFlags& g, Texts& t) {
  app.add_option("--name", g.name, "our name, as the server's log and monitor show it")
      ->type_name("NAME")
      ->capture_default_str();
  app.add_option("--connect-id", g.connect_id, "must match the server's --connect-id")
      ->type_name("N")
      ->check(tool::WholeNumber(0));
  app.add_option("--connect-timeout", t.connect_timeout,
                 "how long connecting (or wait) may take; 0 = no limit")
      ->type_name("TIME")
      ->capture_default_str()
      ->check(tool::Duration(tool::BareNumber::kSeconds));
  // Its name before 0.2, hidden: the server's --timeout is the session's length.
  app.add_option("--timeout", t.connect_timeout)
      ->group("")
      ->check(tool::Duration(tool::BareNumber::kSeconds));
  app.add_option("--key", g.curve.secret_key_file, "CURVE: our secret key file (procmod keygen)")
      ->type_name("FILE");
  app.add_option("--server-key", g.curve.server_public_key,
                 "CURVE: the server's public key, or its .pub file")
      ->type_name("KEY|FILE");
  app.add_option("--render-server-key", g.curve.render_server_public_key,
                 "CURVE, cdsrs://: the render server's key when not the same as --server-key")
      ->type_name("KEY|FILE");
  app.add_option("--authorized-keys", g.curve.authorized_keys_dir,
                 "CURVE, wait: the folder of *.pub keys of servers allowed to dial in")
      ->type_name("DIR");
  app.add_flag("-v,--verbose", g.verbose, "log what the library does, on stderr");
  app.add_flag("--reconnect", g.reconnect,
               "ride through a server restart: retry connecting until --connect-timeout; ping "
               "reconnects after a loss and goes on");
}

// ping, connect and send take the server's URL or this.
void AddConnectionFile(CLI::App& command, CommandLine& c) {
  command
      .add_option("--connection-file", c.connection_file,
                  "instead of URL: the file a server wrote (its endpoint, CURVE key)")
      ->type_name("FILE");
}

void DefinePing(CLI::App& app, CommandLine& c, Texts& t) {
  CLI::App* ping = app.add_subcommand("ping", "send REQUEST ping and time each reply");
  ping->footer(kPingFooter);
  ping->add_option("URL", c.ping.url, "the server (or --connection-file)")->type_name("");
  AddConnectionFile(*ping, c);
  ping->add_option("-c,--count", c.ping.count, "requests to send; 0 = until Ctrl-C")
      ->type_name("COUNT")
      ->capture_default_str()
      ->check(tool::WholeNumber(0));
  ping->add_option("-i,--interval", t.interval, "time from one request to the next")
      ->type_name("INTERVAL")
      ->capture_default_str()
      ->check(tool::Duration(tool::BareNumber::kSeconds, kMinInterval, kMaxWait));
  ping->add_option("-W,--wait", t.wait, "how long to wait for each reply")
      ->type_name("TIMEOUT")
      ->capture_default_str()
      ->check(tool::Duration(tool::BareNumber::kSeconds, kMinWait, kMaxWait));
  ping->add_option("-s,--size", t.size, "payload bytes per request (56, 4KiB, ...)")
      ->type_name("BYTES")
      ->capture_default_str();
  ping->callback([&c] { c.command = Command::kPing; });
}

constexpr const char* kKeygenFooter = R"(
OUTPUT
  wrote ./viz-1.key (secret key, mode 0600: keep it there)
  wrote ./viz-1.pub (public key: rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7)

Each file is 40 characters of Z85 text and a newline. Give NAME.pub to the other
side (a server's authorized_keys_dir, a client's server_public_key); NAME.key never
leaves this machine. Existing files are kept unless --force.
)";

constexpr const char* kLaunchFooter = R"(
PROFILES (YAML; docs/LAUNCH.md)
  kind: local | ssh | batch       where the server runs
  server: {command, args, ranks, mpiexec, mpiexec_args, listen, walltime}
  ssh: {host, user, port, identity, options}       kind ssh
  batch: {submit, status, cancel, script, shared_dir}   kind batch (Slurm)
  via: {broker, service}          the server registers with a broker instead
  ready_timeout: 2m

OUTPUT
  progress on stderr (starting, queued, ready, with times), then the URL on stdout;
  with a COMMAND, the command's output and exit status instead. Ctrl-C, or the end
  of the COMMAND, stops the server (or cancels the job).

EXAMPLES
  procmod launch cluster
  procmod launch cluster --set server.ranks=8 -- sh -c 'procmod ping -c 3 "$PROCMOD_URL"'
)";

void DefineOthers(CLI::App& app, CommandLine& c, Texts& t) {
  CLI::App* connect = app.add_subcommand("connect", "say HELLO, show the WELCOME, say BYE");
  connect->footer(kConnectFooter);
  connect->add_option("URL", c.url, "the server (or --connection-file)")->type_name("");
  AddConnectionFile(*connect, c);
  connect->callback([&c] { c.command = Command::kConnect; });

  CLI::App* wait =
      app.add_subcommand("wait", "reverse: listen until a server dials in, show it, say BYE");
  wait->footer(kWaitFooter);
  wait->add_option("--listen", c.url, "where to listen; port 0 = any free port")
      ->type_name("URL")
      ->required();
  // The global --connect-timeout, listed here too because it is what wait waits.
  wait->add_option("--connect-timeout", t.connect_timeout,
                   "how long to wait for a server; 0 = no limit")
      ->type_name("TIME")
      ->check(tool::Duration(tool::BareNumber::kSeconds));
  wait->callback([&c] { c.command = Command::kWait; });

  CLI::App* send = app.add_subcommand("send", "send one DATA message, say BYE");
  send->footer(kSendFooter);
  send->add_option("URL", c.send.url, "the server (or --connection-file)")->type_name("");
  send->add_option("TEXT", c.send.text, "the payload: one frame")->type_name("");
  AddConnectionFile(*send, c);
  send->add_option("--channel", c.send.channel, "the DATA's channel (default: none)")
      ->type_name("CHANNEL");
  send->callback([&c] { c.command = Command::kSend; });

  CLI::App* keygen =
      app.add_subcommand("keygen", "write a CURVE key pair: NAME.key (secret, 0600) and NAME.pub");
  keygen->footer(kKeygenFooter);
  keygen->add_option("NAME", c.keygen.name, "the files' name")->type_name("")->required();
  keygen->add_option("--out", c.keygen.out_dir, "the folder to write in (default: .)")
      ->type_name("DIR");
  keygen->add_flag("--force", c.keygen.force, "overwrite existing files");
  keygen->callback([&c] { c.command = Command::kKeygen; });

  CLI::App* launch = app.add_subcommand(
      "launch", "start a server from a profile, wait until it is ready, print its URL");
  launch->footer(kLaunchFooter);
  launch->add_option("PROFILE", c.launch.profile, "a profile's name, or its .yaml file")
      ->type_name("")
      ->required();
  launch->add_option("--set", c.launch.sets, "override a profile key, e.g. ssh.host=node7")
      ->type_name("KEY=VALUE");
  launch
      ->add_option("--profiles", c.launch.profiles_dir,
                   "look for PROFILE.yaml here (default: ~/.config/procmod/profiles, "
                   "/etc/procmod/profiles)")
      ->type_name("DIR");
  launch
      ->add_option("COMMAND", c.launch.command,
                   "after --: run it with PROCMOD_URL set, then stop the server")
      ->type_name("");
  launch->callback([&c] { c.command = Command::kLaunch; });
}

// ping, connect, send: exactly one of URL and --connection-file. With the file,
// send's one positional is its TEXT, which CLI11 took for the URL.
std::optional<int> CheckTarget(const CLI::App& app, CommandLine& c) {
  auto usage = [&app](std::string_view why) { return tool::UsageError(app, why); };
  const char* name = c.command == Command::kPing      ? "ping"
                     : c.command == Command::kConnect ? "connect"
                     : c.command == Command::kSend    ? "send"
                                                      : nullptr;
  if (name == nullptr) return std::nullopt;
  const CLI::App* command = app.get_subcommand(name);
  bool has_url = command->count("URL") > 0;
  const bool has_file = command->count("--connection-file") > 0;
  if (has_file && c.connection_file.empty()) return usage("--connection-file: the path is empty");
  if (c.command == Command::kSend) {
    bool has_text = command->count("TEXT") > 0;
    if (has_file && has_url && !has_text) {
      c.send.text = std::move(c.send.url);
      c.send.url.clear();
      has_url = false;
      has_text = true;
    }
    if (!has_text && (has_url || has_file)) return usage("TEXT is required");
  }
  if (has_url && has_file) return usage("give the server's URL or --connection-file, not both");
  if (!has_url && !has_file) return usage("URL or --connection-file is required");
  return std::nullopt;
}

// Converts the texts, which the validators checked; an exit code when one is bad.
std::optional<int> ApplyTexts(const CLI::App& app, const Texts& t, CommandLine& c) {
  using tool::BareNumber;
  c.global.timeout = *tool::ParseDurationFlag(t.connect_timeout, BareNumber::kSeconds);
  if (c.command != Command::kPing) return std::nullopt;
  c.ping.interval = *tool::ParseDurationFlag(t.interval, BareNumber::kSeconds);
  c.ping.wait = *tool::ParseDurationFlag(t.wait, BareNumber::kSeconds);
  Result<uint64_t> size = ParseSize(t.size);
  if (!size.ok()) return tool::UsageError(app, "--size: " + std::string(size.status().message()));
  if (*size > kMaxPingSize) {
    return tool::UsageError(app,
                            "--size: at most 64MiB, the largest frame a server takes by "
                            "default, got '" +
                                t.size + "'");
  }
  c.ping.size = static_cast<size_t>(*size);
  return std::nullopt;
}

}  // namespace

CommandLine ParseCommandLine(int argc, char** argv) {
  CLI::App app(kDescription, "procmod");
  tool::SetUp(app, 36);
  app.fallthrough();  // global options after the command too; set before subcommands
  app.require_subcommand(1);

  CommandLine c;
  Texts texts;
  DefineGlobal(app, c.global, texts);
  DefinePing(app, c, texts);
  DefineOthers(app, c, texts);
  app.footer(kFooter);  // after the subcommands, which would inherit it
  if ((c.exit_code = tool::Parse(app, argc, argv))) return c;
  c.exit_code = CheckTarget(app, c);
  if (!c.exit_code) c.exit_code = ApplyTexts(app, texts, c);
  return c;
}

int RunCommand(const CommandLine& c) {
  GlobalFlags global = c.global;
  PingFlags ping = c.ping;
  SendFlags send = c.send;
  std::string url = c.url;
  if (!c.connection_file.empty()) {
    std::string& target = c.command == Command::kPing   ? ping.url
                          : c.command == Command::kSend ? send.url
                                                        : url;
    if (int rc = UseConnectionFile(c.connection_file, target, global); rc != kExitOk) return rc;
  }
  switch (c.command) {
    case Command::kPing:
      return Ping(global, ping);
    case Command::kConnect:
      return Connect(global, url);
    case Command::kWait:
      return Wait(global, url);
    case Command::kSend:
      return Send(global, send);
    case Command::kKeygen:
      return Keygen(c.keygen);
    case Command::kLaunch:
      return Launch(c.launch);
  }
  return kExitUsage;
}

}  // namespace procmod::cli
