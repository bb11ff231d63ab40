// procmod/logging.h
//
// Log setup shared by procmod's daemons: spdlog to stderr, as human-readable text or
// one JSON object per line for log collectors. The library itself logs admissions,
// denials, leaves and expiries through spdlog's default logger.
//
//   procmod::Status s = procmod::ConfigureLogging(options.log);  // level + format
//   spdlog::info("procmod-server: starting");
//   // json: {"time":"2026-11-25T10:00:00.123+00:00","level":"info","msg":"..."}
#ifndef PROCMOD_LOGGING_H_
#define PROCMOD_LOGGING_H_

#include "procmod/options.h"
#include "procmod/status.h"

namespace procmod {

// Sets spdlog's default logger: stderr, `log.level`, `log.format` ("text"|"json").
// kInvalidArgument for an unknown level or format.
Status ConfigureLogging(const LogOptions& log);

}  // namespace procmod

#endif  // PROCMOD_LOGGING_H_
