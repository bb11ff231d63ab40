// tool_cli.h: what the command lines of the four procmod tools share.
//
// procmod-server, procmod-broker, procmod and procmod-monitor parse their flags with
// CLI11 and behave the same way on top of it:
//   - every usage error is ONE line, "TOOL: what is wrong; what to do", exit 2
//     (CLI11's own text is two lines, without the tool's name);
//   - a mistyped command or flag gets a did-you-mean, as a mistyped YAML key does;
//   - numbers are checked as text before CLI11 converts them, so "-c -1" is refused
//     instead of wrapping to 2^64-1;
//   - durations take one syntax everywhere: 500ms, 1.5s, 90s, 5m, 2h, or a bare
//     number in the flag's own unit (seconds; ParaView's minutes for the server's
//     --timeout);
//   - -V/--version prints the tool's version and the protocol version.
//
//   CLI::App app(kDescription, "procmod-broker");
//   tool::SetUp(app);
//   app.add_option("-p,--port", port)->check(tool::WholeNumber(0, 65535));
//   if (std::optional<int> done = tool::Parse(app, argc, argv)) return *done;
#ifndef PROCMOD_TOOL_TOOL_CLI_H_
#define PROCMOD_TOOL_TOOL_CLI_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "procmod/result.h"

namespace procmod::tool {

// "NAME 0.1.0 (protocol PMP/1.1)": what -V/--version prints.
std::string VersionLine(std::string_view tool);

// Adds -V/--version and the help layout every tool has. Call before adding
// subcommands, which inherit the settings.
void SetUp(CLI::App& app, size_t column_width = 36);

// Parses argv. nullopt: go on. Otherwise the tool is done, with this exit code: 0
// after --help or --version (printed on stdout), 2 after a usage error (printed as one
// line on stderr, see UsageError).
std::optional<int> Parse(CLI::App& app, int argc, const char* const* argv);

// Prints "TOOL: WHAT; ADVICE" on stderr and returns 2. ADVICE defaults to "see TOOL
// --help" (or "see TOOL COMMAND --help" when a command was given).
int UsageError(const CLI::App& app, std::string_view what, std::string_view advice = {});

// What Parse() prints for `error`, without the "TOOL: " prefix. Exposed for tests.
std::string DescribeParseError(const CLI::App& app, const CLI::ParseError& error);

// Validators for add_option(...)->check(...). Each message says what was expected and
// repeats what was given.

// Digits only (no sign, no 0x), from `min` to `max`.
CLI::Validator WholeNumber(uint64_t min, uint64_t max = UINT64_MAX);
// One of `choices`, with a did-you-mean.
CLI::Validator OneOf(std::vector<std::string> choices);

// The unit of a bare number in a duration flag.
enum class BareNumber {
  kSeconds,  // "2" = 2s, "0.2" = 200ms, as ping(8) -i and -W take them
  kMinutes,  // "30" = 30m, ParaView's --timeout
};

// A duration flag's value: ParseDuration's syntax (500ms, 1.5s, 5m) or a bare number
// in `bare`'s unit, from `min` to `max`. The message does not name the flag.
Result<std::chrono::milliseconds> ParseDurationFlag(
    std::string_view text, BareNumber bare,
    std::chrono::milliseconds min = std::chrono::milliseconds(0),
    std::chrono::milliseconds max = std::chrono::hours(24 * 365));

// The same check as a validator, for flags kept as text until later.
CLI::Validator Duration(BareNumber bare,
                        std::chrono::milliseconds min = std::chrono::milliseconds(0),
                        std::chrono::milliseconds max = std::chrono::hours(24 * 365));

}  // namespace procmod::tool

#endif  // PROCMOD_TOOL_TOOL_CLI_H_
