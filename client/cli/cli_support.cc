#include "cli_support.h"

#include <optional>

#include "config/number_text.h"  // AllDigits
#include "procmod/config.h"
#include "protocol/url.h"

namespace procmod::cli {
namespace {

using std::chrono::milliseconds;

constexpr std::string_view kExpectedUrl =
    "expected tcp://HOST:PORT, ipc://PATH or broker+tcp://HOST:PORT/SERVICE";
// An AF_UNIX sun_path holds 108 bytes with its NUL.
constexpr size_t kMaxIpcPath = 107;

Status BadUrl(std::string_view url, std::string_view why = kExpectedUrl) {
  return InvalidArgumentError("bad URL '" + std::string(url) + "': " + std::string(why));
}

// Peer text for a terminal: an escape sequence could move the cursor or fake a line.
std::string Printable(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) c = '?';
  }
  return out;
}

// `host_port` is HOST:PORT of `url`. Only a port out of range for `use` gets a message of
// its own here; any other flaw reads as the wrong form, hence the checks before
// ParsePort's.
Status CheckTcp(std::string_view url, std::string_view host_port, UrlUse use) {
  const std::optional<HostPort> split = SplitHostPort(host_port);
  if (!split || split->host.empty()) return BadUrl(url);
  if (split->host.find('/') != std::string_view::npos || !AllDigits(split->port) ||
      split->port.size() > 5) {
    return BadUrl(url);
  }
  if (split->host == "*" && use == UrlUse::kConnect) {
    return BadUrl(url, "'*' (every interface) is for binding; name the server's host");
  }
  Result<int> port =
      ParsePort(split->port, use == UrlUse::kListen ? PortUse::kBind : PortUse::kDial);
  if (!port.ok()) return BadUrl(url, "port " + std::string(port.status().message()));
  return Status();
}

bool IsParaViewUrl(std::string_view url) {
  for (std::string_view scheme : {"cs://", "csrc://", "cdsrs://", "cdsrsrc://"}) {
    if (url.starts_with(scheme)) return true;
  }
  return false;
}

// The library's parser, so the CLI and Client agree on every form and message; here
// a URL of the wrong direction for the command is refused too.
Status CheckParaViewUrl(std::string_view url, UrlUse use) {
  Result<ConnectionUrl> parsed = ParseConnectionUrl(url);
  if (!parsed.ok()) return parsed.status();
  const std::string scheme(url.substr(0, url.find("://")));
  if (parsed->kind == ConnectionUrl::kReverse && use == UrlUse::kConnect) {
    return BadUrl(url, scheme +
                           ":// is a reverse connection, where this side listens: "
                           "use procmod wait --listen " +
                           std::string(url));
  }
  if (parsed->kind == ConnectionUrl::kForward && use == UrlUse::kListen) {
    return BadUrl(url, scheme +
                           ":// is a forward connection, where this side dials: "
                           "use procmod connect, ping or send");
  }
  return Status();
}

}  // namespace

Status CheckUrl(std::string_view url, UrlUse use) {
  if (url.rfind("tcp://", 0) == 0) return CheckTcp(url, url.substr(6), use);
  if (url.rfind("ipc://", 0) == 0) {
    const std::string_view path = url.substr(6);
    if (path.empty()) return BadUrl(url);
    if (path.size() > kMaxIpcPath) {
      return BadUrl(url, "the ipc path is longer than " + std::to_string(kMaxIpcPath) +
                             " bytes, the most a Unix socket path can be");
    }
    return Status();
  }
  if (url.rfind("broker+tcp://", 0) == 0 && use == UrlUse::kConnect) {
    // broker+tcp://HOST:PORT/SERVICE: a service reached through procmod-broker.
    const std::string_view rest = url.substr(13);
    const size_t slash = rest.find('/');
    if (slash == std::string_view::npos || slash + 1 >= rest.size()) {
      return BadUrl(url, "a broker URL names its service: broker+tcp://HOST:PORT/SERVICE");
    }
    return CheckTcp(url, rest.substr(0, slash), use);
  }
  if (IsParaViewUrl(url)) return CheckParaViewUrl(url, use);
  if (url.rfind("inproc://", 0) == 0) {
    return BadUrl(
        url, "inproc:// only reaches threads of the same process; " + std::string(kExpectedUrl));
  }
  return BadUrl(url);
}

Failure DescribeConnectFailure(const Status& status, std::string_view url, UrlUse use,
                               milliseconds timeout) {
  const int exit_code = ExitCodeForConnectFailure(status);
  if (status.pmp_code() != 0) {
    // The library's message already reads "URL refused the connection: REASON".
    return {exit_code,
            std::string(status.message()) + " (" + std::to_string(status.pmp_code()) + ")"};
  }
  if (status.IsDeadlineExceeded()) {
    const std::string within = " within " + FormatDuration(timeout);
    return {exit_code, use == UrlUse::kConnect
                           ? "could not reach " + std::string(url) + within
                           : "no server connected to " + std::string(url) + within};
  }
  // A refused CURVE handshake, a bad argument, a refused connection: the line says it.
  return {exit_code, std::string(status.message())};
}

std::string DescribeLoss(const std::optional<Disconnect>& how, const Status& error) {
  if (!how) return std::string(error.message());
  switch (how->reason) {
    case DisconnectReason::kBye: {
      // The words tell an administrator's kick from a shutdown or a broker's loss.
      const std::string closed = "the server closed the session";
      return how->message.empty() ? closed : closed + ": " + Printable(how->message);
    }
    case DisconnectReason::kExpired:
      return "the server went silent (heartbeat expired)";
    case DisconnectReason::kForgotten:
      return "the server no longer knows this session";
    default:
      return "the connection was closed (" + std::string(DisconnectReasonName(how->reason)) + ")";
  }
}

}  // namespace procmod::cli
