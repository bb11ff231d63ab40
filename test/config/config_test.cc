#include "procmod/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "support/temp_dir.h"

namespace procmod {
namespace {

using ::procmod::testing::TempDir;
using std::chrono::milliseconds;
using ::testing::HasSubstr;
using ::testing::Not;

// Field by field, so a failure names the field that differs.
void ExpectSameOptions(const Options& a, const Options& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.role, b.role);
  EXPECT_EQ(a.mode, b.mode);
  EXPECT_EQ(a.multiple_connections, b.multiple_connections);
  EXPECT_EQ(a.listen, b.listen);
  EXPECT_EQ(a.client_url, b.client_url);
  EXPECT_EQ(a.server_url, b.server_url);
  EXPECT_EQ(a.render_server_url, b.render_server_url);
  EXPECT_EQ(a.render_client, b.render_client);
  EXPECT_EQ(a.broker_url, b.broker_url);
  EXPECT_EQ(a.service, b.service);
  EXPECT_EQ(a.connect_id, b.connect_id);
  EXPECT_EQ(a.accept_connections, b.accept_connections);
  EXPECT_EQ(a.connection_file, b.connection_file);
  EXPECT_EQ(a.lifetime_command, b.lifetime_command);
  EXPECT_EQ(a.lifetime_command_interval, b.lifetime_command_interval);
  EXPECT_EQ(a.lifetime_warnings, b.lifetime_warnings);
  EXPECT_EQ(a.heartbeat.interval, b.heartbeat.interval);
  EXPECT_EQ(a.heartbeat.liveness, b.heartbeat.liveness);
  EXPECT_EQ(a.timeouts.accept, b.timeouts.accept);
  EXPECT_EQ(a.timeouts.connect, b.timeouts.connect);
  EXPECT_EQ(a.timeouts.handshake, b.timeouts.handshake);
  EXPECT_EQ(a.timeouts.session, b.timeouts.session);
  EXPECT_EQ(a.limits.max_connections, b.limits.max_connections);
  EXPECT_EQ(a.limits.max_message_size, b.limits.max_message_size);
  EXPECT_EQ(a.limits.send_queue, b.limits.send_queue);
  EXPECT_EQ(a.limits.receive_queue, b.limits.receive_queue);
  EXPECT_EQ(a.resume.grace, b.resume.grace);
  EXPECT_EQ(a.resume.buffer, b.resume.buffer);
  EXPECT_EQ(a.admin.endpoint, b.admin.endpoint);
  EXPECT_EQ(a.security.curve.secret_key_file, b.security.curve.secret_key_file);
  EXPECT_EQ(a.security.curve.authorized_keys_dir, b.security.curve.authorized_keys_dir);
  EXPECT_EQ(a.security.curve.server_public_key, b.security.curve.server_public_key);
  EXPECT_EQ(a.log.level, b.log.level);
  EXPECT_EQ(a.log.format, b.log.format);
  EXPECT_EQ(a.linger, b.linger);
}

// Options{} as the loader gives it for an empty file: the admin endpoint derived.
Options LoadedDefaults() {
  Options options;
  options.admin.endpoint = "ipc:///tmp/procmod-procmod.admin";
  return options;
}

Options MustLoad(std::string_view yaml) {
  Result<Options> options = LoadConfigFromString(yaml, "test.yaml");
  EXPECT_TRUE(options.ok()) << options.status().ToString() << "\nin:\n" << yaml;
  return options.ok() ? *options : Options();
}

std::string ErrorOf(std::string_view yaml) {
  Result<Options> options = LoadConfigFromString(yaml, "test.yaml");
  EXPECT_FALSE(options.ok()) << "loaded without error:\n" << yaml;
  if (options.ok()) return "";
  EXPECT_TRUE(options.status().IsInvalidArgument()) << options.status().ToString();
  return std::string(options.status().message());
}

// ---- defaults and every key ----------------------------------------------

TEST(LoadConfig, EmptyDocumentGivesDefaults) {
  for (std::string_view yaml : {"", "# only a comment\n", "---\n", "\n\n"}) {
    SCOPED_TRACE(yaml);
    ExpectSameOptions(MustLoad(yaml), LoadedDefaults());
  }
}

TEST(LoadConfig, EmptySectionsGiveDefaults) {
  ExpectSameOptions(MustLoad("heartbeat:\ntimeouts: {}\nlimits:\nsecurity: {curve: {}}\n"),
                    LoadedDefaults());
}

constexpr std::string_view kEveryKey = R"(
name: viz-1
role: render-server
mode: reverse
multiple_connections: true
listen: tcp://0.0.0.0:22221
client_url: tcp://127.0.0.1:11112
server_url: tcp://10.0.0.1:11111
render_server_url: tcp://10.0.0.2:22221
render_client: true
broker_url: tcp://127.0.0.1:5570
service: viz
connect_id: 18446744073709551615
accept_connections: false
connection_file: /scratch/job42/viz.json
lifetime_command: "qstat -f | remaining-minutes"
lifetime_command_interval: 30s
lifetime_warnings: [10m, 2m, 30s]
heartbeat: {interval: 250ms, liveness: 5}
timeouts:
  accept: 30s
  connect: 2m
  handshake: 1500ms
  session: 1h
limits: {max_connections: 8, max_message_size: 1MiB, send_queue: 50, receive_queue: 20}
resume: {grace: 5m, buffer: 16MiB}
admin: {endpoint: "tcp://127.0.0.1:9999"}
security:
  curve:
    secret_key_file: /etc/procmod/server.key
    authorized_keys_dir: /etc/procmod/authorized
    server_public_key: "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
log: {level: debug, format: json}
linger: 1s
)";

TEST(LoadConfig, EveryKeyIsParsed) {
  Options o = MustLoad(kEveryKey);
  EXPECT_EQ(o.name, "viz-1");
  EXPECT_EQ(o.role, Role::kRenderServer);
  EXPECT_EQ(o.mode, Mode::kReverse);
  EXPECT_TRUE(o.multiple_connections);
  EXPECT_EQ(o.listen, "tcp://0.0.0.0:22221");
  EXPECT_EQ(o.client_url, "tcp://127.0.0.1:11112");
  EXPECT_EQ(o.server_url, "tcp://10.0.0.1:11111");
  EXPECT_EQ(o.render_server_url, "tcp://10.0.0.2:22221");
  EXPECT_TRUE(o.render_client);
  EXPECT_EQ(o.broker_url, "tcp://127.0.0.1:5570");
  EXPECT_EQ(o.service, "viz");
  EXPECT_EQ(o.connect_id, std::numeric_limits<uint64_t>::max());
  EXPECT_FALSE(o.accept_connections);
  EXPECT_EQ(o.connection_file, "/scratch/job42/viz.json");
  EXPECT_EQ(o.lifetime_command, "qstat -f | remaining-minutes");
  EXPECT_EQ(o.lifetime_command_interval, milliseconds(30'000));
  EXPECT_EQ(o.lifetime_warnings,
            (std::vector<milliseconds>{milliseconds(600'000), milliseconds(120'000),
                                       milliseconds(30'000)}));
  EXPECT_EQ(o.heartbeat.interval, milliseconds(250));
  EXPECT_EQ(o.heartbeat.liveness, 5u);
  EXPECT_EQ(o.timeouts.accept, milliseconds(30'000));
  EXPECT_EQ(o.timeouts.connect, milliseconds(120'000));
  EXPECT_EQ(o.timeouts.handshake, milliseconds(1500));
  EXPECT_EQ(o.timeouts.session, milliseconds(3'600'000));
  EXPECT_EQ(o.limits.max_connections, 8u);
  EXPECT_EQ(o.limits.max_message_size, 1024u * 1024u);
  EXPECT_EQ(o.limits.send_queue, 50);
  EXPECT_EQ(o.limits.receive_queue, 20);
  EXPECT_EQ(o.resume.grace, milliseconds(300'000));
  EXPECT_EQ(o.resume.buffer, 16u * 1024 * 1024);
  EXPECT_EQ(o.admin.endpoint, "tcp://127.0.0.1:9999");
  EXPECT_EQ(o.security.curve.secret_key_file, "/etc/procmod/server.key");
  EXPECT_EQ(o.security.curve.authorized_keys_dir, "/etc/procmod/authorized");
  EXPECT_EQ(o.security.curve.server_public_key, "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7");
  EXPECT_EQ(o.log.level, "debug");
  EXPECT_EQ(o.log.format, "json");
  EXPECT_EQ(o.linger, milliseconds(1000));
}

TEST(LoadConfig, EveryRoleModeAndLogLevel) {
  EXPECT_EQ(MustLoad("role: server").role, Role::kServer);
  EXPECT_EQ(MustLoad("role: data-server").role, Role::kDataServer);
  EXPECT_EQ(MustLoad("role: client").role, Role::kClient);
  EXPECT_EQ(MustLoad("mode: forward").mode, Mode::kForward);
  EXPECT_EQ(MustLoad("mode: broker").mode, Mode::kBroker);
  for (std::string level : {"trace", "debug", "info", "warn", "error", "off"}) {
    EXPECT_EQ(MustLoad("log: {level: " + level + "}").log.level, level);
  }
}

TEST(LoadConfig, BooleansAreWhatYamlCppAccepts) {
  EXPECT_TRUE(MustLoad("render_client: yes").render_client);
  EXPECT_TRUE(MustLoad("render_client: True").render_client);
  EXPECT_TRUE(MustLoad("render_client: on").render_client);
  EXPECT_FALSE(MustLoad("accept_connections: no").accept_connections);
  EXPECT_FALSE(MustLoad("accept_connections: false").accept_connections);
}

TEST(LoadConfig, ScalarsThatLookLikeOtherTypesAreStringsWhereAStringIsExpected) {
  EXPECT_EQ(MustLoad("name: 123").name, "123");
  EXPECT_EQ(MustLoad("name: true").name, "true");
  EXPECT_EQ(MustLoad("client_url: \"\"").client_url, "");
}

// ---- durations and sizes --------------------------------------------------

TEST(ParseDuration, Good) {
  const std::pair<std::string_view, int64_t> cases[] = {
      {"0", 0},        {"0s", 0},         {"0ms", 0},          {"0h", 0},
      {"1ms", 1},      {"500ms", 500},    {"1500ms", 1500},    {"2s", 2000},
      {"90s", 90'000}, {"5m", 300'000},   {"1h", 3'600'000},   {"24h", 86'400'000},
      {"1.5s", 1500},  {"0.25m", 15'000}, {"1.5h", 5'400'000}, {"0.001s", 1},
  };
  for (const auto& [text, ms] : cases) {
    Result<milliseconds> d = ParseDuration(text);
    ASSERT_TRUE(d.ok()) << text << ": " << d.status().ToString();
    EXPECT_EQ(d->count(), ms) << text;
  }
}

TEST(ParseDuration, Bad) {
  for (std::string_view text : {"",
                                "fast",
                                "s",
                                "1000",
                                "-1s",
                                "+1s",
                                "1.s",
                                ".5s",
                                "1.5",
                                "0.0001s",
                                "1.5ms",
                                "2 s",
                                " 2s",
                                "2s ",
                                "1d",
                                "1S",
                                "2sec",
                                "1min",
                                "0x10s",
                                "99999999999999999999h",
                                "9999999999999999h",
                                "1.0000000001s"}) {
    Result<milliseconds> d = ParseDuration(text);
    ASSERT_FALSE(d.ok()) << "accepted \"" << text << "\"";
    EXPECT_TRUE(d.status().IsInvalidArgument());
    EXPECT_THAT(std::string(d.status().message()),
                HasSubstr("expected a duration like 500ms, 2s or 5m"));
  }
  EXPECT_THAT(std::string(ParseDuration("1000").status().message()),
              HasSubstr("a number needs a unit"));
}

TEST(ParseSize, Good) {
  const std::pair<std::string_view, uint64_t> cases[] = {
      {"0", 0},
      {"512", 512},
      {"512B", 512},
      {"64KiB", 64 * 1024},
      {"64MiB", 64 * 1024 * 1024},
      {"1GiB", uint64_t{1} << 30},
      {"10KB", 10'000},
      {"10kB", 10'000},
      {"5MB", 5'000'000},
      {"2GB", 2'000'000'000},
      {"18446744073709551615", std::numeric_limits<uint64_t>::max()},
  };
  for (const auto& [text, bytes] : cases) {
    Result<uint64_t> size = ParseSize(text);
    ASSERT_TRUE(size.ok()) << text << ": " << size.status().ToString();
    EXPECT_EQ(*size, bytes) << text;
  }
}

TEST(ParseSize, Bad) {
  for (std::string_view text : {"", "KiB", "big", "-1", "1.5MiB", "64 KiB", "64mib", "64kib", "64K",
                                "64M", "1TiB", "0x40", "18446744073709551616", "99999999999GiB"}) {
    Result<uint64_t> size = ParseSize(text);
    ASSERT_FALSE(size.ok()) << "accepted \"" << text << "\"";
    EXPECT_TRUE(size.status().IsInvalidArgument());
    EXPECT_THAT(std::string(size.status().message()),
                HasSubstr("expected a size like 512, 64KiB or 64MiB"));
  }
}

// ---- errors ---------------------------------------------------------------

struct ErrorCase {
  std::string_view yaml;
  int line;
  std::string_view key;       // the dotted key, as the message shows it
  std::string_view expected;  // what the message says was expected (or suggests)
};

void ExpectError(const ErrorCase& c) {
  SCOPED_TRACE(c.yaml);
  std::string message = ErrorOf(c.yaml);
  EXPECT_THAT(message, HasSubstr("test.yaml:" + std::to_string(c.line) + ":"));
  EXPECT_THAT(message, HasSubstr(c.key));
  EXPECT_THAT(message, HasSubstr(c.expected));
}

TEST(LoadConfig, BadValueNamesFileLineKeyAndExpectation) {
  EXPECT_EQ(ErrorOf("name: viz\n\nheartbeat:\n  liveness: 3\n  interval: fast\n"),
            "test.yaml:5: heartbeat.interval: expected a duration like 500ms, 2s or 5m, "
            "got \"fast\"");
}

TEST(LoadConfig, UnknownKeysSuggestTheClosestValidOne) {
  EXPECT_EQ(ErrorOf("name: viz\n\nhearbeat: {interval: 1s}\n"),
            "test.yaml:3: unknown key 'hearbeat' (did you mean 'heartbeat'?)");
  const ErrorCase cases[] = {
      {"heartbeat: {intervall: 1s}", 1, "unknown key 'heartbeat.intervall'",
       "(did you mean 'heartbeat.interval'?)"},
      {"heartbeat:\n  interval: 1s\n  livenes: 2\n", 3, "'heartbeat.livenes'",
       "did you mean 'heartbeat.liveness'?"},
      {"limits: {max_conn: 5}", 1, "'limits.max_conn'", "did you mean 'limits.max_connections'?"},
      {"security:\n  curv: {}\n", 2, "'security.curv'", "did you mean 'security.curve'?"},
      {"security: {curve: {secret_key: x}}", 1, "'security.curve.secret_key'",
       "did you mean 'security.curve.secret_key_file'?"},
      {"Name: x", 1, "'Name'", "did you mean 'name'?"},
      {"timeout: {connect: 1s}", 1, "'timeout'", "did you mean 'timeouts'?"},
      {"multiple_connection: true", 1, "'multiple_connection'",
       "did you mean 'multiple_connections'?"},
  };
  for (const ErrorCase& c : cases) ExpectError(c);
}

TEST(LoadConfig, UnknownKeyWithNothingCloseHasNoSuggestion) {
  std::string message = ErrorOf("name: a\nzzzzzz: 1\n");
  EXPECT_EQ(message, "test.yaml:2: unknown key 'zzzzzz'");
  EXPECT_THAT(message, Not(HasSubstr("did you mean")));
}

TEST(LoadConfig, WrongTypesAreErrors) {
  const ErrorCase cases[] = {
      {"name: {a: 1}", 1, "name:", "expected a string (\"\" for none), got a map"},
      {"listen: [a, b]", 1, "listen:", "expected a string (\"\" for none), got a list"},
      {"\nclient_url:\n", 2, "client_url:", "got nothing"},
      {"multiple_connections: maybe", 1,
       "multiple_connections:", "expected true or false, got \"maybe\""},
      {"render_client: \"true\"", 1, "render_client:", "quoted, so a string"},
      {"render_client: 1", 1, "render_client:", "expected true or false"},
      {"connect_id: -1", 1, "connect_id:", "expected a whole number of 0 or more, got \"-1\""},
      {"connect_id: 1.5", 1, "connect_id:", "expected a whole number"},
      {"connect_id: \"7\"", 1, "connect_id:", "quoted, so a string"},
      {"connect_id: 0x10", 1, "connect_id:", "expected a whole number"},
      {"heartbeat: 5", 1, "heartbeat:", "expected a map of keys, got \"5\""},
      {"heartbeat: {liveness: many}", 1, "heartbeat.liveness:", "expected a whole number"},
      {"timeouts:\n  connect: [1s]\n", 2,
       "timeouts.connect:", "expected a duration like 500ms, 2s or 5m, got a list"},
      {"timeouts: {session: 10}", 1, "timeouts.session:", "a number needs a unit"},
      {"limits: {max_message_size: lots}", 1,
       "limits.max_message_size:", "expected a size like 512, 64KiB or 64MiB, got \"lots\""},
      {"limits: {send_queue: abc}", 1, "limits.send_queue:", "expected a whole number"},
      {"admin: none", 1, "admin:", "expected a map of keys"},
      {"admin: {endpoint: [x]}", 1, "admin.endpoint:", "expected a string"},
      {"security: {curve: {server_public_key: {}}}", 1,
       "security.curve.server_public_key:", "expected a string"},
      {"linger: forever", 1, "linger:", "expected a duration"},
      {"lifetime_warnings: 5m", 1,
       "lifetime_warnings:", "expected a list of durations like [5m, 1m], got \"5m\""},
      {"lifetime_warnings: [5m, soon]", 1, "lifetime_warnings:", "soon"},
      {"lifetime_command_interval: 10", 1, "lifetime_command_interval:", "a number needs a unit"},
  };
  for (const ErrorCase& c : cases) ExpectError(c);
}

TEST(LoadConfig, OutOfRangeValuesNameTheRange) {
  const ErrorCase cases[] = {
      {"heartbeat: {liveness: 0}", 1,
       "heartbeat.liveness:", "expected a whole number from 1 to 4294967295, got 0"},
      {"heartbeat: {liveness: 4294967296}", 1, "heartbeat.liveness:", "from 1 to 4294967295"},
      {"heartbeat: {interval: 0s}", 1,
       "heartbeat.interval:", "expected a duration of at least 1ms, got 0s"},
      {"timeouts: {handshake: 0}", 1, "timeouts.handshake:", "a duration of at least 1ms"},
      {"limits: {max_connections: 0}", 1,
       "limits.max_connections:", "expected a whole number of at least 1, got 0"},
      {"limits: {max_message_size: 10}", 1,
       "limits.max_message_size:", "expected a size of at least 64B, got 10"},
      {"limits: {send_queue: 0}", 1, "limits.send_queue:", "from 1 to 2147483647"},
      {"limits: {send_queue: 3000000000}", 1, "limits.send_queue:", "from 1 to 2147483647"},
      {"linger: 5s", 1, "linger:", "expected a duration from 0s to 1s, got 5s"},
      {"linger: 1001ms", 1, "linger:", "from 0s to 1s"},
      {"connect_id: 18446744073709551616", 1, "connect_id:", "expected a whole number"},
  };
  for (const ErrorCase& c : cases) ExpectError(c);
  EXPECT_EQ(MustLoad("linger: 0s").linger, milliseconds(0));
  EXPECT_EQ(MustLoad("limits: {max_message_size: 64}").limits.max_message_size, 64u);
}

TEST(LoadConfig, EnumsListTheChoicesAndSuggest) {
  const ErrorCase cases[] = {
      {"role: pvserver", 1,
       "role:", "expected one of server, data-server, render-server, client, got \"pvserver\""},
      {"mode: foward", 1, "mode:", "got \"foward\" (did you mean 'forward'?)"},
      {"log:\n  level: verbose\n", 2,
       "log.level:", "expected one of trace, debug, info, warn, error, off"},
      {"log: {format: xml}", 1, "log.format:", "expected one of text, json, got \"xml\""},
      {"log: {level: warning}", 1, "log.level:", "did you mean 'warn'?"},
  };
  for (const ErrorCase& c : cases) ExpectError(c);
}

TEST(LoadConfig, StructuralErrors) {
  const ErrorCase cases[] = {
      {"name: a\nname: b\n", 2, "duplicate key 'name'", "first given on line 1"},
      {"- a\n- b\n", 1, "test.yaml", "expected a map of keys at the top level, got a list"},
      {"just text", 1, "test.yaml", "expected a map of keys at the top level, got \"just text\""},
      {"name: a\n---\nname: b\n", 3, "test.yaml", "expected one YAML document, got 2"},
      {"[a]: 1", 1, "test.yaml", "expected a key name, got a list"},
  };
  for (const ErrorCase& c : cases) ExpectError(c);
}

TEST(LoadConfig, SyntaxErrorNamesFileAndLine) {
  const ErrorCase cases[] = {
      {"name: a\nlisten: [tcp://x\n", 3, "test.yaml", "YAML syntax error"},
      {"name: a\nheartbeat: {interval: 1s\n", 3, "test.yaml", "YAML syntax error"},
      {"name: a\n  bad indent: 1\n", 2, "test.yaml", "YAML syntax error"},
      {"name: *nowhere\n", 1, "test.yaml", "YAML syntax error"},
  };
  for (const ErrorCase& c : cases) ExpectError(c);
}

TEST(LoadConfig, EveryErrorIsListedInLineOrder) {
  std::string message = ErrorOf("linger: 9s\nnme: x\nheartbeat: {liveness: 0}\n");
  EXPECT_EQ(message,
            "test.yaml:1: linger: expected a duration from 0s to 1s, got 9s\n"
            "test.yaml:2: unknown key 'nme' (did you mean 'name'?)\n"
            "test.yaml:3: heartbeat.liveness: expected a whole number from 1 to 4294967295, "
            "got 0");
}

TEST(LoadConfig, BadValuesAreQuotedEscapedAndCut) {
  EXPECT_EQ(ErrorOf("linger: \"a\\tb\\\"c\""),
            "test.yaml:1: linger: expected a duration like 500ms, 2s or 5m, got \"a\\x09b\\\"c\"");
  std::string message = ErrorOf("linger: " + std::string(59, 'x') + "\u00e9tc");
  EXPECT_THAT(message, HasSubstr("got \"" + std::string(59, 'x') + "\"...")) << message;
}

TEST(LoadConfig, GarbageNeverThrows) {
  EXPECT_FALSE(LoadConfigFromString(std::string(100'000, '['), "deep.yaml").ok());
  for (std::string_view yaml : {"{", "]", "\"", "a: &x [*x]", "? ? ?", "\t\x01\x02", "!!binary x",
                                "a: !!int nope", "%YAML 9.9\n---\na: 1\n", "{{{{{{{{{{"}) {
    EXPECT_NO_THROW((void)LoadConfigFromString(yaml, "garbage.yaml")) << yaml;
  }
}

// ---- resume ---------------------------------------------------------------

TEST(LoadConfig, ResumeDefaults) {
  const Options o = MustLoad("");
  EXPECT_EQ(o.resume.grace, milliseconds(60'000));
  EXPECT_EQ(o.resume.buffer, uint64_t{64} * 1024 * 1024);
  ExpectSameOptions(MustLoad("resume:\n"), LoadedDefaults());
  ExpectSameOptions(MustLoad("resume: {}\n"), LoadedDefaults());
}

TEST(LoadConfig, ResumeKeysTakeTheUnitsOfEveryDurationAndSize) {
  const std::pair<std::string_view, int64_t> graces[] = {
      {"0", 0}, {"0s", 0}, {"1ms", 1}, {"90s", 90'000}, {"1.5m", 90'000}, {"2h", 7'200'000}};
  for (const auto& [text, ms] : graces) {
    EXPECT_EQ(MustLoad("resume: {grace: " + std::string(text) + "}").resume.grace, milliseconds(ms))
        << text;
  }
  const std::pair<std::string_view, uint64_t> buffers[] = {
      {"65536", 65536},        {"64KiB", 65536},
      {"100KB", 100'000},      {"1MiB", 1024 * 1024},
      {"512MiB", 512u << 20},  {"8GiB", uint64_t{8} << 30},
      {"2GB", 2'000'000'000u}, {"18446744073709551615", std::numeric_limits<uint64_t>::max()}};
  for (const auto& [text, bytes] : buffers) {
    EXPECT_EQ(MustLoad("resume:\n  buffer: " + std::string(text) + "\n").resume.buffer, bytes)
        << text;
  }
  const Options both = MustLoad("resume:\n  grace: 10s\n  buffer: 1MiB\n");
  EXPECT_EQ(both.resume.grace, milliseconds(10'000));
  EXPECT_EQ(both.resume.buffer, 1024u * 1024);
}

TEST(LoadConfig, ResumeGraceZeroTurnsResumeOffAndIsAllowed) {
  EXPECT_EQ(MustLoad("resume: {grace: 0}").resume.grace, milliseconds(0));
  EXPECT_EQ(MustLoad("resume: {grace: 0s}").resume.grace, milliseconds(0));
  EXPECT_THAT(DumpConfig(MustLoad("resume: {grace: 0}")), HasSubstr("grace: 0s\n"));
}

TEST(LoadConfig, ResumeBadValuesNameKeyAndLine) {
  EXPECT_EQ(ErrorOf("name: viz\nresume:\n  grace: 1m\n  buffer: 65535\n"),
            "test.yaml:4: resume.buffer: expected a size of at least 64KiB, got 65535");
  const ErrorCase cases[] = {
      {"resume: {buffer: 64000B}", 1, "resume.buffer:", "expected a size of at least 64KiB"},
      {"resume: {buffer: 0}", 1, "resume.buffer:", "a size of at least 64KiB, got 0"},
      {"resume:\n  buffer: lots\n", 2,
       "resume.buffer:", "expected a size like 512, 64KiB or 64MiB, got \"lots\""},
      {"resume:\n\n  grace: 60\n", 3, "resume.grace:", "a number needs a unit"},
      {"resume: {grace: -1s}", 1, "resume.grace:", "expected a duration like 500ms, 2s or 5m"},
      {"resume: {grace: [1s]}", 1, "resume.grace:", "got a list"},
      {"resume: 60s", 1, "resume:", "expected a map of keys, got \"60s\""},
  };
  for (const ErrorCase& c : cases) ExpectError(c);
}

TEST(LoadConfig, ResumeUnknownKeysSuggestTheClosestValidOne) {
  EXPECT_EQ(ErrorOf("name: viz\nresume:\n  grace: 1m\n  bufer: 1MiB\n"),
            "test.yaml:4: unknown key 'resume.bufer' (did you mean 'resume.buffer'?)");
  const ErrorCase cases[] = {
      {"resume: {grace_period: 1m}", 1, "unknown key 'resume.grace_period'",
       "(did you mean 'resume.grace'?)"},
      {"resume: {buffer_size: 1MiB}", 1, "'resume.buffer_size'", "did you mean 'resume.buffer'?"},
      {"resum: {grace: 1m}", 1, "unknown key 'resum'", "did you mean 'resume'?"},
  };
  for (const ErrorCase& c : cases) ExpectError(c);
  std::string message = ErrorOf("resume: {zzzzzz: 1}");
  EXPECT_EQ(message, "test.yaml:1: unknown key 'resume.zzzzzz'");
}

// ---- files on disk --------------------------------------------------------

TEST(LoadConfigFile, ReadsAFile) {
  TempDir dir;
  std::string path = dir.Write("server.yaml", "name: from-file\nlisten: tcp://127.0.0.1:0\n");
  Result<Options> options = LoadConfig(path);
  ASSERT_TRUE(options.ok()) << options.status().ToString();
  EXPECT_EQ(options->name, "from-file");
  EXPECT_EQ(options->listen, "tcp://127.0.0.1:0");
}

// The README's CURVE example and the systemd unit name key files beside the YAML
// file: they must work whatever the current directory is.
TEST(LoadConfigFile, RelativePathsNameFilesBesideTheFile) {
  TempDir dir;
  std::filesystem::create_directories(dir.path() + "/etc/keys");
  dir.Write("etc/keys/server.pub", "unused\n");
  const std::string key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
  const std::string path = dir.Write("etc/server.yaml",
                                     "connection_file: run/viz.json\n"
                                     "security:\n"
                                     "  curve:\n"
                                     "    secret_key_file: keys/server.key\n"
                                     "    authorized_keys_dir: ../authorized\n"
                                     "    server_public_key: keys/server.pub\n"
                                     "    render_server_public_key: \"" +
                                         key + "\"\n");
  const std::filesystem::path cwd = std::filesystem::current_path();
  std::filesystem::current_path("/");  // anywhere but the file's folder
  Result<Options> options = LoadConfig(path);
  std::filesystem::current_path(cwd);
  ASSERT_TRUE(options.ok()) << options.status().ToString();
  const CurveOptions& curve = options->security.curve;
  EXPECT_EQ(curve.secret_key_file, dir.path() + "/etc/keys/server.key");
  EXPECT_EQ(curve.authorized_keys_dir, dir.path() + "/authorized");
  EXPECT_EQ(curve.server_public_key, dir.path() + "/etc/keys/server.pub");
  EXPECT_EQ(curve.render_server_public_key, key);  // a key, not a file: as it was
  EXPECT_EQ(options->connection_file, dir.path() + "/etc/run/viz.json");
  // A relative path to the file itself works too, from its own folder's parent.
  std::filesystem::current_path(dir.path());
  Result<Options> relative = LoadConfig("etc/server.yaml");
  std::filesystem::current_path(cwd);
  ASSERT_TRUE(relative.ok()) << relative.status().ToString();
  EXPECT_EQ(relative->security.curve.secret_key_file, dir.path() + "/etc/keys/server.key");
}

TEST(LoadConfigFile, ErrorsNameThePathAsGiven) {
  TempDir dir;
  std::string path = dir.Write("server.yaml", "name: x\n\n\n\n\n\nheartbeat: {interval: fast}\n");
  Result<Options> options = LoadConfig(path);
  ASSERT_FALSE(options.ok());
  EXPECT_EQ(options.status().message(),
            path +
                ":7: heartbeat.interval: expected a duration like 500ms, 2s or 5m, "
                "got \"fast\"");
}

TEST(LoadConfigFile, MissingFileOrDirectory) {
  TempDir dir;
  Result<Options> missing = LoadConfig(dir.path() + "/server.yaml");
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(missing.status().IsInvalidArgument());
  EXPECT_EQ(missing.status().message(),
            "cannot read " + dir.path() + "/server.yaml: No such file or directory");
  Result<Options> directory = LoadConfig(dir.path());
  ASSERT_FALSE(directory.ok());
  EXPECT_EQ(directory.status().message(), "cannot read " + dir.path() + ": Is a directory");
}

TEST(LoadConfigFile, EmptyFileGivesDefaults) {
  TempDir dir;
  Result<Options> options = LoadConfig(dir.Write("empty.yaml", ""));
  ASSERT_TRUE(options.ok()) << options.status().ToString();
  ExpectSameOptions(*options, LoadedDefaults());
}

// ---- admin endpoint -------------------------------------------------------

TEST(AdminEndpoint, DefaultsFromTheNameUnlessGiven) {
  EXPECT_EQ(MustLoad("name: viz-1").admin.endpoint, "ipc:///tmp/procmod-viz-1.admin");
  // The name is read first even when admin comes before it in the file.
  EXPECT_EQ(MustLoad("admin: {}\nname: viz-2").admin.endpoint, "ipc:///tmp/procmod-viz-2.admin");
  EXPECT_EQ(MustLoad("name: a\nadmin: {endpoint: none}").admin.endpoint, "");
  EXPECT_EQ(MustLoad("admin: {endpoint: \"\"}").admin.endpoint, "");
  EXPECT_EQ(MustLoad("admin: {endpoint: \"tcp://127.0.0.1:7000\"}").admin.endpoint,
            "tcp://127.0.0.1:7000");
}

TEST(AdminEndpoint, NameIsReducedAndCut) {
  EXPECT_EQ(DefaultAdminEndpoint("viz-1"), "ipc:///tmp/procmod-viz-1.admin");
  EXPECT_EQ(DefaultAdminEndpoint("My Server/2.x"), "ipc:///tmp/procmod-My_Server_2.x.admin");
  EXPECT_EQ(DefaultAdminEndpoint("../etc"), "ipc:///tmp/procmod-.._etc.admin");
  EXPECT_EQ(DefaultAdminEndpoint("é"), "ipc:///tmp/procmod-__.admin");  // two UTF-8 bytes
  EXPECT_EQ(DefaultAdminEndpoint(""), "ipc:///tmp/procmod-procmod.admin");
  std::string endpoint = DefaultAdminEndpoint(std::string(500, 'n'));
  std::string path = endpoint.substr(std::string_view("ipc://").size());
  EXPECT_LT(path.size(), 107u);
  EXPECT_EQ(path.size(), 106u);  // cut, not dropped
  EXPECT_TRUE(path.ends_with(".admin"));
}

// ---- dump -----------------------------------------------------------------

Options Reloaded(const Options& options) {
  std::string dump = DumpConfig(options);
  Result<Options> reloaded = LoadConfigFromString(dump, "dump.yaml");
  EXPECT_TRUE(reloaded.ok()) << reloaded.status().ToString() << "\nin:\n" << dump;
  return reloaded.ok() ? *reloaded : Options();
}

TEST(DumpConfig, ListsEveryKeyWithUnits) {
  std::string dump = DumpConfig(Options());
  for (std::string_view line : {"name: procmod",
                                "role: server",
                                "mode: forward",
                                "multiple_connections: false",
                                "listen: tcp://127.0.0.1:11111",
                                "client_url: \"\"",
                                "server_url: \"\"",
                                "render_server_url: \"\"",
                                "render_client: false",
                                "broker_url: \"\"",
                                "service: \"\"",
                                "connect_id: 0",
                                "accept_connections: true",
                                "interval: 1s",
                                "liveness: 3",
                                "accept: 0s",
                                "connect: 1m",
                                "handshake: 5s",
                                "session: 0s",
                                "max_connections: 1024",
                                "max_message_size: 64MiB",
                                "send_queue: 1000",
                                "receive_queue: 1000",
                                "grace: 1m",
                                "buffer: 64MiB",
                                "endpoint: none",
                                "secret_key_file: \"\"",
                                "authorized_keys_dir: \"\"",
                                "server_public_key: \"\"",
                                "level: info",
                                "format: text",
                                "linger: 200ms"}) {
    EXPECT_THAT(dump, HasSubstr(std::string(line) + "\n")) << dump;
  }
}

TEST(DumpConfig, RoundTripsDefaults) {
  Options defaults;
  ExpectSameOptions(Reloaded(defaults), defaults);
  ExpectSameOptions(Reloaded(LoadedDefaults()), LoadedDefaults());
}

TEST(DumpConfig, RoundTripsEveryKey) {
  Options every = MustLoad(kEveryKey);
  ExpectSameOptions(Reloaded(every), every);
}

TEST(DumpConfig, RoundTripsAwkwardValues) {
  Options o;
  o.name = "true";
  o.listen = "a: b #c";
  o.client_url = "null";
  o.server_url = "~";
  o.render_server_url = " padded ";
  o.service = "line\nbreak";
  o.broker_url = "123";
  o.security.curve.server_public_key = "'\"{}[]&*!|>%@`";
  o.heartbeat.interval = milliseconds(1500);  // no larger unit divides it
  o.timeouts.connect = milliseconds(90'000);  // 90s, not 1.5m
  o.limits.max_message_size = 1000;           // 1000B
  o.limits.max_connections = std::numeric_limits<size_t>::max();
  o.limits.send_queue = std::numeric_limits<int>::max();
  o.resume.grace = milliseconds(2500);                     // 2500ms
  o.resume.buffer = std::numeric_limits<uint64_t>::max();  // no unit divides it: bytes
  o.connect_id = 42;
  ExpectSameOptions(Reloaded(o), o);
  std::string dump = DumpConfig(o);
  EXPECT_THAT(dump, HasSubstr("grace: 2500ms\n"));
  EXPECT_THAT(dump, HasSubstr("buffer: 18446744073709551615B\n"));
  EXPECT_THAT(dump, HasSubstr("interval: 1500ms\n"));
  EXPECT_THAT(dump, HasSubstr("connect: 90s\n"));
  EXPECT_THAT(dump, HasSubstr("max_message_size: 1000B\n"));
}

TEST(LoadConfig, ExtraListenIsAListOfEndpointsAndDumpsBack) {
  EXPECT_TRUE(MustLoad("").extra_listen.empty());
  Options o = MustLoad("extra_listen: [tcp://127.0.0.1:22221, ipc:///tmp/x.sock]\n");
  EXPECT_EQ(o.extra_listen,
            (std::vector<std::string>{"tcp://127.0.0.1:22221", "ipc:///tmp/x.sock"}));
  EXPECT_EQ(Reloaded(o).extra_listen, o.extra_listen);
  EXPECT_THAT(DumpConfig(Options()), HasSubstr("extra_listen: []\n"));
  EXPECT_THAT(ErrorOf("extra_listen: tcp://127.0.0.1:1\n"),
              HasSubstr("a list of strings like [tcp://127.0.0.1:22221]"));
  EXPECT_THAT(ErrorOf("extra_listen: [[a]]\n"), HasSubstr("a list of strings"));
}

// ---- the shipped examples -------------------------------------------------

TEST(ConfigExamples, EveryExampleLoads) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(PROCMOD_CONFIG_DIR)) {
    if (entry.path().extension() == ".yaml") files.push_back(entry.path());
  }
  EXPECT_GE(files.size(), 5u) << "examples in " << PROCMOD_CONFIG_DIR;
  for (const auto& file : files) {
    Result<Options> options = LoadConfig(file.string());
    EXPECT_TRUE(options.ok()) << options.status().ToString();
  }
}

TEST(ConfigExamples, EachExampleSaysWhatItsNameSays) {
  auto load = [](std::string_view name) {
    Result<Options> options = LoadConfig(std::string(PROCMOD_CONFIG_DIR) + "/" + std::string(name));
    EXPECT_TRUE(options.ok()) << name << ": " << options.status().ToString();
    return options.ok() ? *options : Options();
  };
  Options server = load("server.yaml");
  EXPECT_EQ(server.mode, Mode::kForward);
  EXPECT_FALSE(server.multiple_connections);
  EXPECT_TRUE(load("server-multi.yaml").multiple_connections);
  Options reverse = load("server-reverse.yaml");
  EXPECT_EQ(reverse.mode, Mode::kReverse);
  EXPECT_FALSE(reverse.client_url.empty());
  EXPECT_EQ(load("data-server.yaml").role, Role::kDataServer);
  Options render = load("render-server.yaml");
  EXPECT_EQ(render.role, Role::kRenderServer);
  EXPECT_TRUE(render.listen.ends_with(":22221")) << render.listen;
}

}  // namespace
}  // namespace procmod
