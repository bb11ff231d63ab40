#include "procmod/options.h"

namespace procmod {

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kClient:
      return "client";
    case Role::kServer:
      return "server";
    case Role::kDataServer:
      return "data-server";
    case Role::kRenderServer:
      return "render-server";
  }
  return "unknown";
}

std::string_view ModeName(Mode mode) {
  switch (mode) {
    case Mode::kForward:
      return "forward";
    case Mode::kReverse:
      return "reverse";
    case Mode::kBroker:
      return "broker";
  }
  return "unknown";
}

std::optional<Role> ParseRole(std::string_view text) {
  for (Role r : {Role::kClient, Role::kServer, Role::kDataServer, Role::kRenderServer}) {
    if (RoleName(r) == text) return r;
  }
  return std::nullopt;
}

std::optional<Mode> ParseMode(std::string_view text) {
  for (Mode m : {Mode::kForward, Mode::kReverse, Mode::kBroker}) {
    if (ModeName(m) == text) return m;
  }
  return std::nullopt;
}

}  // namespace procmod
