#include "procmod/status.h"

#include <string>

namespace procmod {

std::string_view StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "ok";
    case StatusCode::kInvalidArgument:
      return "invalid argument";
    case StatusCode::kNotFound:
      return "not found";
    case StatusCode::kPermissionDenied:
      return "permission denied";
    case StatusCode::kFailedPrecondition:
      return "failed precondition";
    case StatusCode::kResourceExhausted:
      return "resource exhausted";
    case StatusCode::kUnavailable:
      return "unavailable";
    case StatusCode::kDeadlineExceeded:
      return "deadline exceeded";
    case StatusCode::kAborted:
      return "aborted";
    case StatusCode::kInternal:
      return "internal";
    case StatusCode::kRemoteError:
      return "remote error";
  }
  return "unknown";
}

Status::Status(StatusCode code, std::string_view message, uint32_t pmp_code) {
  if (code != StatusCode::kOk) {
    state_ = std::make_unique<State>(State{code, pmp_code, std::string(message)});
  }
}

Status::Status(const Status& other)
    : state_(other.state_ ? std::make_unique<State>(*other.state_) : nullptr) {}

Status& Status::operator=(const Status& other) {
  if (this != &other) {
    state_ = other.state_ ? std::make_unique<State>(*other.state_) : nullptr;
  }
  return *this;
}

std::string_view Status::message() const {
  return ok() ? std::string_view() : std::string_view(state_->message);
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  std::string out(StatusCodeName(state_->code));
  out += ": ";
  out += state_->message;
  if (state_->pmp_code != 0) {
    out += " (PMP " + std::to_string(state_->pmp_code) + ")";
  }
  return out;
}

Status InvalidArgumentError(std::string_view m) { return {StatusCode::kInvalidArgument, m}; }
Status NotFoundError(std::string_view m) { return {StatusCode::kNotFound, m}; }
Status PermissionDeniedError(std::string_view m, uint32_t pmp) {
  return {StatusCode::kPermissionDenied, m, pmp};
}
Status FailedPreconditionError(std::string_view m, uint32_t pmp) {
  return {StatusCode::kFailedPrecondition, m, pmp};
}
Status ResourceExhaustedError(std::string_view m, uint32_t pmp) {
  return {StatusCode::kResourceExhausted, m, pmp};
}
Status UnavailableError(std::string_view m) { return {StatusCode::kUnavailable, m}; }
Status DeadlineExceededError(std::string_view m) { return {StatusCode::kDeadlineExceeded, m}; }
Status AbortedError(std::string_view m) { return {StatusCode::kAborted, m}; }
Status InternalError(std::string_view m) { return {StatusCode::kInternal, m}; }
Status RemoteError(std::string_view m, uint32_t pmp) { return {StatusCode::kRemoteError, m, pmp}; }

Status StatusFromPmpCode(uint32_t pmp_code, std::string_view reason) {
  switch (pmp_code) {
    case 0:
      return Status();
    case 400:
      return {StatusCode::kInvalidArgument, reason, pmp_code};
    case 403:
      return {StatusCode::kPermissionDenied, reason, pmp_code};
    case 404:
    case 410:  // RESUME of a session the acceptor no longer has
      return {StatusCode::kNotFound, reason, pmp_code};
    case 409:
    case 426:
      return {StatusCode::kFailedPrecondition, reason, pmp_code};
    case 413:
    case 503:
      return {StatusCode::kResourceExhausted, reason, pmp_code};
    default:
      return {StatusCode::kRemoteError, reason, pmp_code};
  }
}

}  // namespace procmod
