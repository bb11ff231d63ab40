#include "procmod/logging.h"

#include <memory>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace procmod {
namespace {

// %j: the message as the inside of a JSON string (quotes, backslashes and control
// characters escaped), so every log line stays one valid JSON object.
class JsonEscapedMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    for (char c : std::string_view(msg.payload.data(), msg.payload.size())) {
      switch (c) {
        case '"':
          Append(dest, "\\\"");
          break;
        case '\\':
          Append(dest, "\\\\");
          break;
        case '\n':
          Append(dest, "\\n");
          break;
        case '\r':
          Append(dest, "\\r");
          break;
        case '\t':
          Append(dest, "\\t");
          break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            char hex[8];
            std::snprintf(hex, sizeof hex, "\\u%04x", c);
            Append(dest, hex);
          } else {
            dest.push_back(c);
          }
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonEscapedMessage>();
  }

 private:
  static void Append(spdlog::memory_buf_t& dest, std::string_view s) {
    dest.append(s.data(), s.data() + s.size());
  }
};

}  // namespace

Status ConfigureLogging(const LogOptions& log) {
  const spdlog::level::level_enum level = spdlog::level::from_str(log.level);
  if (level == spdlog::level::off && log.level != "off") {
    return InvalidArgumentError("log level '" + log.level +
                                "': expected trace, debug, info, warn, error or off");
  }
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  if (log.format == "json") {
    formatter->add_flag<JsonEscapedMessage>('j').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","pid":%P,"msg":"%j"})");
  } else if (log.format == "text") {
    formatter->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %v");
  } else {
    return InvalidArgumentError("log format '" + log.format + "': expected text or json");
  }
  auto logger = std::make_shared<spdlog::logger>("procmod",
                                                 std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_formatter(std::move(formatter));
  logger->set_level(level);
  logger->flush_on(spdlog::level::info);  // daemons: a line is out before a crash or kill
  spdlog::set_default_logger(std::move(logger));
  return Status();
}

}  // namespace procmod
