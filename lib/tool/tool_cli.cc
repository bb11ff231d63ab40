#include "tool_cli.h"

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "config/did_you_mean.h"
#include "config/number_text.h"  // AllDigits, WholeNumberRange, DurationRange: as config files say it
#include "procmod/config.h"
#include "procmod/exit_codes.h"
#include "procmod/process_module.h"  // ProtocolVersion

namespace procmod::tool {
namespace {

using std::chrono::milliseconds;

// "12" or "0.5": what a bare number in a duration flag looks like.
bool IsBareNumber(std::string_view text) {
  const size_t dot = text.find('.');
  if (dot == std::string_view::npos) return AllDigits(text);
  return AllDigits(text.substr(0, dot)) && AllDigits(text.substr(dot + 1));
}

std::string Quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

// "a, b or c".
std::string JoinOr(const std::vector<std::string>& items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += i + 1 == items.size() ? " or " : ", ";
    out += items[i];
  }
  return out;
}

// " (did you mean 'x'?)" or "".
std::string DidYouMean(std::string_view word, const std::vector<std::string>& candidates) {
  std::vector<std::string_view> views(candidates.begin(), candidates.end());
  std::string_view best = Suggest(word, views);
  return best.empty() ? "" : " (did you mean " + Quoted(best) + "?)";
}

// The commands given on the command line, outermost first: "ping" in `procmod ping`.
std::vector<const CLI::App*> ChosenCommands(const CLI::App& app) {
  std::vector<const CLI::App*> chosen;
  for (const CLI::App* at = &app; !at->get_subcommands().empty();) {
    at = at->get_subcommands().front();
    chosen.push_back(at);
  }
  return chosen;
}

std::vector<std::string> CommandNames(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    names.push_back(sub->get_name());
  }
  return names;
}

// Every spelling of every option of `app`: "--count", "-c".
std::vector<std::string> OptionNames(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::Option* option : app.get_options()) {
    for (const std::string& name : option->get_lnames()) names.push_back("--" + name);
    for (const std::string& name : option->get_snames()) names.push_back("-" + name);
  }
  return names;
}

// An argument no option or command took: a typo, most of the time.
std::string DescribeExtra(const CLI::App& app, const std::string& token) {
  std::vector<const CLI::App*> chosen = ChosenCommands(app);
  if (token.size() > 1 && token[0] == '-') {
    const std::string flag = token.substr(0, token.find('='));
    std::vector<std::string> known = OptionNames(app);
    for (const CLI::App* command : chosen) {
      std::vector<std::string> more = OptionNames(*command);
      known.insert(known.end(), more.begin(), more.end());
    }
    // `procmod --count 3 ping`: a command's option before its command.
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
      std::vector<std::string> its = OptionNames(*sub);
      if (std::find(its.begin(), its.end(), flag) != its.end()) {
        return "option " + Quoted(flag) + " belongs to " + Quoted(sub->get_name()) +
               ": put it after the command";
      }
    }
    std::string message = "unknown option " + Quoted(flag);
    // "-x" is one edit from every other short flag: a guess would be noise.
    std::string hint = flag.size() > 2 ? DidYouMean(flag, known) : "";
    return message + hint;
  }
  const std::vector<std::string> commands = CommandNames(chosen.empty() ? app : *chosen.back());
  if (!commands.empty()) {
    std::string hint = DidYouMean(token, commands);
    if (hint.empty()) hint = " (the commands are " + JoinOr(commands) + ")";
    return "unknown command " + Quoted(token) + hint;
  }
  return "unexpected argument " + Quoted(token);
}

// Every argument CLI11 could not place, in order, from the app and its commands.
std::vector<std::string> Extras(const CLI::App& app) {
  std::vector<std::string> extras = app.remaining();
  for (const CLI::App* command : ChosenCommands(app)) {
    std::vector<std::string> more = command->remaining();
    extras.insert(extras.end(), more.begin(), more.end());
  }
  return extras;
}

// CLI11's message with its first letter lowered, to continue "TOOL: "; a name in
// capitals ("SESSION is required") stays as it is.
std::string Lowered(std::string text) {
  const auto upper = [](char c) { return c >= 'A' && c <= 'Z'; };
  if (text.size() > 1 && upper(text[0]) && !upper(text[1])) {
    text[0] = static_cast<char>(text[0] - 'A' + 'a');
  }
  return text;
}

std::string DescribeByKind(const CLI::App& app, const CLI::ParseError& error) {
  const std::string name = error.get_name();
  const std::string what = error.what();
  if (name == "RequiredError" && what == "A subcommand is required") {
    std::vector<const CLI::App*> chosen = ChosenCommands(app);
    return "a command is required: " + JoinOr(CommandNames(chosen.empty() ? app : *chosen.back()));
  }
  if (name == "ConversionError") {
    // "Could not convert: --count = abc"
    const size_t colon = what.find(": "), equals = what.find(" = ");
    if (colon != std::string::npos && equals != std::string::npos && equals > colon) {
      return what.substr(colon + 2, equals - colon - 2) + ": " + Quoted(what.substr(equals + 3)) +
             " is not a valid value";
    }
  }
  if (name == "ArgumentMismatch" && what.find("missing") != std::string::npos) {
    // "--name: 1 required TEXT missing"
    return what.substr(0, what.find(':')) + " needs a value";
  }
  return Lowered(what);
}

std::string DefaultAdvice(const CLI::App& app) {
  std::string command(app.get_name());
  for (const CLI::App* sub : ChosenCommands(app)) command += " " + sub->get_name();
  return "see " + command + " --help";
}

}  // namespace

std::string VersionLine(std::string_view tool) {
  return std::string(tool) + " " + PROCMOD_VERSION + " (protocol PMP/" +
         std::string(ProcessModule::ProtocolVersion()) + ")";
}

void SetUp(CLI::App& app, size_t column_width) {
  app.set_version_flag("-V,--version", VersionLine(app.get_name()));
  app.get_formatter()->column_width(column_width);
}

std::string DescribeParseError(const CLI::App& app, const CLI::ParseError& error) {
  std::vector<std::string> extras = Extras(app);
  // CLI11 may report a missing command or value when the real trouble is a typo.
  if (!extras.empty()) return DescribeExtra(app, extras.front());
  return DescribeByKind(app, error);
}

std::optional<int> Parse(CLI::App& app, int argc, const char* const* argv) {
  try {
    app.parse(argc, argv);
    return std::nullopt;
  } catch (const CLI::ParseError& error) {
    if (error.get_exit_code() == 0) {  // --help, --version
      app.exit(error);
      return kExitOk;
    }
    return UsageError(app, DescribeParseError(app, error));
  }
}

int UsageError(const CLI::App& app, std::string_view what, std::string_view advice) {
  const std::string text = advice.empty() ? DefaultAdvice(app) : std::string(advice);
  std::fprintf(stderr, "%s: %.*s; %s\n", app.get_name().c_str(), static_cast<int>(what.size()),
               what.data(), text.c_str());
  return kExitUsage;
}

CLI::Validator WholeNumber(uint64_t min, uint64_t max) {
  return CLI::Validator(
      [min, max](std::string& text) -> std::string {
        uint64_t value = 0;
        const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
        const bool ok = AllDigits(text) && error == std::errc() &&
                        end == text.data() + text.size() && value >= min && value <= max;
        return ok ? "" : "expected " + WholeNumberRange(min, max) + ", got " + Quoted(text);
      },
      "", "WholeNumber");
}

CLI::Validator OneOf(std::vector<std::string> choices) {
  return CLI::Validator(
      [choices](std::string& text) -> std::string {
        if (std::find(choices.begin(), choices.end(), text) != choices.end()) return "";
        return "expected " + JoinOr(choices) + ", got " + Quoted(text) + DidYouMean(text, choices);
      },
      "", "OneOf");
}

Result<milliseconds> ParseDurationFlag(std::string_view text, BareNumber bare, milliseconds min,
                                       milliseconds max) {
  const bool minutes = bare == BareNumber::kMinutes;
  // ".5" as ping(8) takes it: ParseDuration wants a digit first.
  const std::string number = text.starts_with('.') ? "0" + std::string(text) : std::string(text);
  Result<milliseconds> value =
      IsBareNumber(number) ? ParseDuration(number + (minutes ? "m" : "s")) : ParseDuration(text);
  if (!value.ok()) {
    return InvalidArgumentError(std::string("expected a duration like 500ms, 1.5s, 90s or 5m") +
                                (minutes ? ", or minutes" : ", or seconds") + ", got " +
                                Quoted(text));
  }
  if (*value < min || *value > max) {
    return InvalidArgumentError("expected " + DurationRange(min, max) + ", got " + Quoted(text));
  }
  return value;
}

CLI::Validator Duration(BareNumber bare, milliseconds min, milliseconds max) {
  return CLI::Validator(
      [bare, min, max](std::string& text) -> std::string {
        Result<milliseconds> value = ParseDurationFlag(text, bare, min, max);
        return value.ok() ? "" : std::string(value.status().message());
      },
      "", "Duration");
}

}  // namespace procmod::tool
