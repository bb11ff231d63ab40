// procmod/status.h
//
// A Status says whether an operation succeeded and, when it did not, what kind of
// failure it was and why, in words a user can act on. The kind (StatusCode) answers
// the question a caller has: should I retry? It also carries the PMP/1 code of a
// protocol-level refusal (403, 409, ...) so a CLI can print it and pick an exit code.
//
//   procmod::Status s = module->Start();
//   if (!s.ok()) {
//     std::cerr << s.ToString() << "\n";  // "permission denied: DENY 403 ..."
//     if (s.IsPermissionDenied()) return 5;
//   }
//
// An OK Status holds no allocation. Status is a value type; distinct objects may be
// used from different threads, one object is not synchronised.
#ifndef PROCMOD_STATUS_H_
#define PROCMOD_STATUS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace procmod {

// Chosen by what the caller should do next (after absl::StatusCode).
enum class StatusCode : int {
  kOk = 0,
  kInvalidArgument,     // bad input from the caller (URL, option, config): fix it.
  kNotFound,            // no such session, service or file.
  kPermissionDenied,    // DENY 403: connect-id or key not allowed. Do not retry.
  kFailedPrecondition,  // DENY 409/426, S1, M0: wrong state. Do not retry as is.
  kResourceExhausted,   // DENY 503, 413, full queue. Retry later, maybe.
  kUnavailable,         // unreachable, expired, gone. Back off and retry.
  kDeadlineExceeded,    // a timeout elapsed.
  kAborted,             // the operation was cut short (shutdown, BYE).
  kInternal,            // a bug or an unexpected library error.
  kRemoteError,         // the peer answered a REQUEST with an error code.
};

// Returns "ok", "invalid argument", ... for `code`.
std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() noexcept = default;  // OK
  Status(StatusCode code, std::string_view message, uint32_t pmp_code = 0);
  Status(const Status& other);
  Status& operator=(const Status& other);
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;
  ~Status() = default;

  static Status Ok() { return Status(); }

  [[nodiscard]] bool ok() const { return state_ == nullptr; }
  StatusCode code() const { return ok() ? StatusCode::kOk : state_->code; }
  // The PMP/1 code (400, 403, 409, ...) when the failure came from the wire, else 0.
  uint32_t pmp_code() const { return ok() ? 0 : state_->pmp_code; }
  // The human part, without the code name. Empty when OK.
  std::string_view message() const;

  bool IsInvalidArgument() const { return code() == StatusCode::kInvalidArgument; }
  bool IsNotFound() const { return code() == StatusCode::kNotFound; }
  bool IsPermissionDenied() const { return code() == StatusCode::kPermissionDenied; }
  bool IsFailedPrecondition() const { return code() == StatusCode::kFailedPrecondition; }
  bool IsResourceExhausted() const { return code() == StatusCode::kResourceExhausted; }
  bool IsUnavailable() const { return code() == StatusCode::kUnavailable; }
  bool IsDeadlineExceeded() const { return code() == StatusCode::kDeadlineExceeded; }
  bool IsAborted() const { return code() == StatusCode::kAborted; }
  bool IsRemoteError() const { return code() == StatusCode::kRemoteError; }

  // "ok", or "<code name>: <message>" with " (PMP <n>)" when pmp_code() != 0.
  std::string ToString() const;

 private:
  struct State {
    StatusCode code;
    uint32_t pmp_code;
    std::string message;
  };
  std::unique_ptr<State> state_;
};

// Factories, one per code, as absl does: return InvalidArgumentError("...").
Status InvalidArgumentError(std::string_view message);
Status NotFoundError(std::string_view message);
Status PermissionDeniedError(std::string_view message, uint32_t pmp_code = 0);
Status FailedPreconditionError(std::string_view message, uint32_t pmp_code = 0);
Status ResourceExhaustedError(std::string_view message, uint32_t pmp_code = 0);
Status UnavailableError(std::string_view message);
Status DeadlineExceededError(std::string_view message);
Status AbortedError(std::string_view message);
Status InternalError(std::string_view message);
Status RemoteError(std::string_view message, uint32_t pmp_code);

// The Status for a DENY or ERROR with PMP code `pmp_code` and its reason, with the
// StatusCode a connector should act on (403 -> kPermissionDenied, 409 -> ...).
Status StatusFromPmpCode(uint32_t pmp_code, std::string_view reason);

}  // namespace procmod

#endif  // PROCMOD_STATUS_H_
