#include "url.h"

namespace procmod {

Result<PeerUrl> ParsePeerUrl(std::string_view url) {
  constexpr std::string_view kBroker = "broker+tcp://";
  if (url.substr(0, kBroker.size()) != kBroker) return PeerUrl{std::string(url), {}};
  const std::string_view rest = url.substr(kBroker.size());
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash + 1 >= rest.size()) {
    return InvalidArgumentError("bad URL '" + std::string(url) +
                                "': a broker URL names its service: "
                                "broker+tcp://HOST:PORT/SERVICE");
  }
  const std::string_view host_port = rest.substr(0, slash);
  if (host_port.find(':') == std::string_view::npos) {
    return InvalidArgumentError("bad URL '" + std::string(url) +
                                "': the broker needs a port: broker+tcp://HOST:PORT/SERVICE");
  }
  return PeerUrl{"tcp://" + std::string(host_port), std::string(rest.substr(slash + 1))};
}

}  // namespace procmod
