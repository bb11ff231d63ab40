// procmod/result.h
//
// Result<T> holds either a T or a non-OK Status, never "OK but empty" (the shape of
// absl::StatusOr). Check ok(), then use * or ->; value() on an error is a programmer
// error and throws std::logic_error.
//
//   procmod::Result<procmod::Connection> c = module->ConnectToRemote(url);
//   if (!c.ok()) return c.status();
//   c->Send("hello");
#ifndef PROCMOD_RESULT_H_
#define PROCMOD_RESULT_H_

#include <stdexcept>
#include <utility>
#include <variant>

#include "procmod/status.h"

namespace procmod {

template <typename T>
class [[nodiscard]] Result {
 public:
  // NOLINTNEXTLINE(google-explicit-constructor): `return value;` reads naturally.
  Result(T value) : value_(std::move(value)) {}
  // NOLINTNEXTLINE(google-explicit-constructor): `return SomeError(...);` too.
  Result(Status status) : value_(std::move(status)) {
    if (std::get<Status>(value_).ok()) {
      throw std::logic_error("procmod::Result built from an OK Status without a value");
    }
  }

  [[nodiscard]] bool ok() const { return std::holds_alternative<T>(value_); }
  // OK when a value is held.
  Status status() const { return ok() ? Status() : std::get<Status>(value_); }

  T& value() & { return Checked(); }
  const T& value() const& { return const_cast<Result*>(this)->Checked(); }
  T&& value() && { return std::move(Checked()); }

  T& operator*() & { return Checked(); }
  const T& operator*() const& { return const_cast<Result*>(this)->Checked(); }
  T&& operator*() && { return std::move(Checked()); }
  T* operator->() { return &Checked(); }
  const T* operator->() const { return &const_cast<Result*>(this)->Checked(); }

 private:
  T& Checked() {
    if (!ok()) {
      throw std::logic_error("procmod::Result::value() on an error: " +
                             std::get<Status>(value_).ToString());
    }
    return std::get<T>(value_);
  }

  std::variant<T, Status> value_;
};

}  // namespace procmod

#endif  // PROCMOD_RESULT_H_
