#include "protocol/url.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <optional>

namespace procmod {
namespace {

constexpr std::string_view kAccepted =
    "expected tcp://HOST:PORT, ipc://PATH, broker+tcp://HOST:PORT/SERVICE, "
    "cs://HOST[:PORT], csrc://[HOST][:PORT], cdsrs://DSHOST[:PORT]/RSHOST[:PORT] or "
    "cdsrsrc://[DSHOST][:PORT]/[RSHOST][:PORT]";

Status BadUrl(std::string_view url, std::string_view why) {
  return InvalidArgumentError("bad URL '" + std::string(url) + "': " + std::string(why));
}

// How one HOST[:PORT] of a ParaView URL is named in messages: "HOST" and "port"
// alone, "DSHOST" and "data server port" in a pair; `form` is the whole of what
// follows the scheme.
struct Part {
  std::string_view host;
  std::string_view port;
  std::string_view form;
};

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-' || c == '_';
}

// Inside [...]: hex digits, ':' and '.' (an IPv4 tail), and '%' with a zone name.
bool IsIpv6Char(char c) { return IsNameChar(c) || c == ':' || c == '%'; }

// "[::1]" or a host name / IPv4 address; '*' is checked by the caller.
bool ValidHost(std::string_view host) {
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    const std::string_view inner = host.substr(1, host.size() - 2);
    return std::all_of(inner.begin(), inner.end(), IsIpv6Char);
  }
  return std::all_of(host.begin(), host.end(), IsNameChar);
}

// One HOST[:PORT] as a tcp:// endpoint, or why not (the caller adds the URL). Not
// SplitHostPort: PORT is optional here, so "[::1]" alone must not split inside the
// brackets, and an unbracketed IPv6 address is refused rather than guessed at.
Result<std::string> ParaViewHostPort(std::string_view text, PortUse use, int default_port,
                                     const Part& part) {
  std::string_view host = text;
  std::optional<std::string_view> port;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) {
      return InvalidArgumentError(std::string(part.host) + " '" + std::string(text) +
                                  "' has no closing ']'");
    }
    host = text.substr(0, close + 1);
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') {
      return InvalidArgumentError("expected " + std::string(part.form));
    }
    if (!rest.empty()) port = rest.substr(1);
  } else if (std::count(text.begin(), text.end(), ':') > 1) {
    // Which colon would end the address? Only brackets can tell.
    return InvalidArgumentError(std::string(part.host) + " '" + std::string(text) +
                                "': put an IPv6 address in brackets, e.g. [::1]");
  } else if (const size_t colon = text.find(':'); colon != std::string_view::npos) {
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }

  if (host.empty()) {
    if (use == PortUse::kDial) {
      return InvalidArgumentError(std::string(part.host) + " is missing: expected " +
                                  std::string(part.form));
    }
    host = "*";  // ParaView's csrc://:PORT listens on every interface
  } else if (host == "*") {
    if (use == PortUse::kDial) {
      return InvalidArgumentError("'*' (every interface) is for listening; name the server's host");
    }
  } else if (!ValidHost(host)) {
    return InvalidArgumentError(std::string(part.host) + " '" + std::string(host) +
                                "' is not a host name or address");
  }

  int number = default_port;
  if (port) {
    Result<int> parsed = ParsePort(*port, use);
    if (!parsed.ok()) {
      return InvalidArgumentError(std::string(part.port) + " " +
                                  std::string(parsed.status().message()));
    }
    number = *parsed;
  }
  return "tcp://" + std::string(host) + ":" + std::to_string(number);
}

constexpr Part kOne{"HOST", "port", "HOST[:PORT]"};
constexpr Part kOneListen{"HOST", "port", "[HOST][:PORT]"};

// DSHOST[:PORT]/RSHOST[:PORT] (cdsrs://, `use` kDial) or its reverse (cdsrsrc://).
Result<ConnectionUrl> ParsePair(std::string_view url, std::string_view rest, PortUse use) {
  const std::string_view form =
      use == PortUse::kDial ? "DSHOST[:PORT]/RSHOST[:PORT]" : "[DSHOST][:PORT]/[RSHOST][:PORT]";
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos || rest.find('/', slash + 1) != std::string_view::npos) {
    return BadUrl(url, "expected " + std::string(form));
  }
  Result<std::string> data = ParaViewHostPort(rest.substr(0, slash), use, kDefaultServerPort,
                                              Part{"DSHOST", "data server port", form});
  if (!data.ok()) return BadUrl(url, data.status().message());
  Result<std::string> render =
      ParaViewHostPort(rest.substr(slash + 1), use, kDefaultRenderServerPort,
                       Part{"RSHOST", "render server port", form});
  if (!render.ok()) return BadUrl(url, render.status().message());
  ConnectionUrl parsed;
  parsed.kind = use == PortUse::kDial ? ConnectionUrl::kForward : ConnectionUrl::kReverse;
  parsed.render_client = true;
  parsed.data_endpoint = std::move(*data);
  parsed.render_endpoint = std::move(*render);
  return parsed;
}

// cs://HOST[:PORT] (`use` kDial) or csrc://[HOST][:PORT] (kBind).
Result<std::string> ParseOne(std::string_view url, std::string_view rest, PortUse use) {
  const Part& part = use == PortUse::kDial ? kOne : kOneListen;
  if (rest.find('/') != std::string_view::npos) {
    return BadUrl(url, "expected " + std::string(part.form));
  }
  Result<std::string> endpoint = ParaViewHostPort(rest, use, kDefaultServerPort, part);
  if (!endpoint.ok()) return BadUrl(url, endpoint.status().message());
  return endpoint;
}

constexpr std::string_view kTcp = "tcp://";

}  // namespace

Result<int> ParsePort(std::string_view port, PortUse use) {
  if (port.empty()) return InvalidArgumentError("is missing after ':'");
  if (!std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return InvalidArgumentError("'" + std::string(port) + "' is not a number");
  }
  const int min_port = use == PortUse::kBind ? 0 : 1;
  // More than five digits cannot be a port, and would overflow stoi.
  const int number = port.size() > 5 ? -1 : std::stoi(std::string(port));
  if (number < min_port || number > 65535) {
    return InvalidArgumentError(std::string(port) + " is out of range " + std::to_string(min_port) +
                                "-65535");
  }
  return number;
}

std::optional<HostPort> SplitHostPort(std::string_view host_port) {
  const size_t colon = host_port.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  return HostPort{host_port.substr(0, colon), host_port.substr(colon + 1)};
}

Result<TcpEndpoint> ParseTcpEndpoint(std::string_view endpoint, PortUse use) {
  std::optional<HostPort> split;
  if (endpoint.starts_with(kTcp)) split = SplitHostPort(endpoint.substr(kTcp.size()));
  if (!split) return InvalidArgumentError("expected tcp://HOST:PORT");
  Result<int> port = ParsePort(split->port, use);
  if (!port.ok()) return InvalidArgumentError("port " + std::string(port.status().message()));
  return TcpEndpoint{std::string(split->host), *port};
}

std::optional<std::string> WithPort(std::string_view endpoint, int port) {
  if (!endpoint.starts_with(kTcp)) return std::nullopt;
  std::optional<HostPort> split = SplitHostPort(endpoint.substr(kTcp.size()));
  if (!split) return std::nullopt;
  return std::string(kTcp) + std::string(split->host) + ":" + std::to_string(port);
}

bool IsLocalEndpoint(std::string_view endpoint) {
  if (endpoint.starts_with("ipc://") || endpoint.starts_with("inproc://")) return true;
  if (!endpoint.starts_with(kTcp)) return false;
  std::optional<HostPort> split = SplitHostPort(endpoint.substr(kTcp.size()));
  if (!split) return false;
  if (split->host == "localhost" || split->host == "[::1]") return true;
  // A literal address in 127.0.0.0/8 only: "127.example.com" is a name that may
  // resolve anywhere, and libzmq resolves names when it binds.
  in_addr address{};
  if (inet_pton(AF_INET, std::string(split->host).c_str(), &address) != 1) return false;
  return (ntohl(address.s_addr) >> 24) == 127;
}

Result<PeerUrl> ParsePeerUrl(std::string_view url) {
  const size_t end = url.find("://");
  const std::string_view scheme = end == std::string_view::npos ? "" : url.substr(0, end);
  const std::string_view rest = end == std::string_view::npos ? "" : url.substr(end + 3);
  if (scheme == "cs") {
    Result<std::string> endpoint = ParseOne(url, rest, PortUse::kDial);
    if (!endpoint.ok()) return endpoint.status();
    return PeerUrl{std::move(*endpoint), {}};
  }
  if (scheme == "csrc") {
    return BadUrl(url,
                  "csrc:// is where a client listens (a reverse connection), not a peer to "
                  "dial; a server dials that client as tcp://HOST:PORT or cs://HOST:PORT");
  }
  if (scheme == "cdsrs" || scheme == "cdsrsrc") {
    return BadUrl(url, std::string(scheme) +
                           ":// names a data server and a render server, not one peer; "
                           "dial each as tcp://HOST:PORT or cs://HOST:PORT "
                           "(procmod::Client takes the pair)");
  }
  if (scheme != "broker+tcp") return PeerUrl{std::string(url), {}};
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash + 1 >= rest.size()) {
    return BadUrl(url, "a broker URL names its service: broker+tcp://HOST:PORT/SERVICE");
  }
  const std::string_view host_port = rest.substr(0, slash);
  if (!SplitHostPort(host_port)) {
    return BadUrl(url, "the broker needs a port: broker+tcp://HOST:PORT/SERVICE");
  }
  return PeerUrl{"tcp://" + std::string(host_port), std::string(rest.substr(slash + 1))};
}

Result<ConnectionUrl> ParseConnectionUrl(std::string_view url) {
  const size_t end = url.find("://");
  if (end == std::string_view::npos) return BadUrl(url, kAccepted);
  const std::string_view scheme = url.substr(0, end);
  const std::string_view rest = url.substr(end + 3);
  ConnectionUrl parsed;
  if (scheme == "tcp" || scheme == "ipc") {
    parsed.data_endpoint = std::string(url);  // ZeroMQ checks it where it is used
    return parsed;
  }
  if (scheme == "broker+tcp") {
    Result<PeerUrl> broker = ParsePeerUrl(url);
    if (!broker.ok()) return broker.status();
    parsed.kind = ConnectionUrl::kForward;
    parsed.data_endpoint = std::move(broker->endpoint);
    parsed.service = std::move(broker->service);
    return parsed;
  }
  if (scheme == "cs" || scheme == "csrc") {
    const PortUse use = scheme == "cs" ? PortUse::kDial : PortUse::kBind;
    Result<std::string> endpoint = ParseOne(url, rest, use);
    if (!endpoint.ok()) return endpoint.status();
    parsed.kind = use == PortUse::kDial ? ConnectionUrl::kForward : ConnectionUrl::kReverse;
    parsed.data_endpoint = std::move(*endpoint);
    return parsed;
  }
  if (scheme == "cdsrs") return ParsePair(url, rest, PortUse::kDial);
  if (scheme == "cdsrsrc") return ParsePair(url, rest, PortUse::kBind);
  return BadUrl(url, "unknown scheme '" + std::string(scheme) + "://'; " + std::string(kAccepted));
}

}  // namespace procmod
