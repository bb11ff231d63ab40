#include "security/zap_handler.h"

#include <iterator>

#include <spdlog/spdlog.h>

#include <zmq_addon.hpp>
#include "io/sockets.h"

namespace procmod {
namespace {

constexpr const char* kZapEndpoint = "inproc://zeromq.zap.01";
constexpr size_t kCurvePublicKeyBytes = 32;

std::string FrameText(const zmq::message_t& frame) { return frame.to_string(); }

}  // namespace

Result<std::unique_ptr<ZapHandler>> ZapHandler::Start(zmq::context_t& context, std::string dir) {
  Result<AuthorizedKeys> keys = LoadAuthorizedKeys(dir);
  if (!keys.ok()) return keys.status();
  try {
    zmq::socket_t socket(context, zmq::socket_type::router);
    socket.set(zmq::sockopt::linger, 0);
    socket.bind(kZapEndpoint);
    spdlog::info("procmod: CURVE on; {} authorized key(s) in {}", keys->size(), dir);
    return std::unique_ptr<ZapHandler>(
        new ZapHandler(std::move(socket), std::move(dir), std::move(*keys)));
  } catch (const zmq::error_t& e) {
    return UnavailableError(std::string("cannot start the ZAP handler: ") + e.what());
  }
}

ZapHandler::ZapHandler(zmq::socket_t socket, std::string dir, AuthorizedKeys keys)
    : socket_(std::move(socket)), dir_(std::move(dir)), keys_(std::move(keys)) {}

void ZapHandler::Service() {
  for (;;) {
    std::vector<zmq::message_t> frames;
    try {
      if (!zmq::recv_multipart(socket_, std::back_inserter(frames), zmq::recv_flags::dontwait)) {
        return;
      }
    } catch (const zmq::error_t& e) {
      spdlog::error("procmod: ZAP receive failed: {}", e.what());
      return;
    }
    Answer(frames);
  }
}

void ZapHandler::Answer(const std::vector<zmq::message_t>& request) {
  // [routing id][empty][version][request id][domain][address][identity][mechanism]
  // [credentials...] (RFC 27, behind the ROUTER's envelope).
  if (request.size() < 8 || FrameText(request[2]) != "1.0") return;  // not ZAP: no answer
  const std::string address = FrameText(request[5]);
  const std::string mechanism = FrameText(request[7]);
  std::string status = "400", text = "unknown key", user_id;
  if (mechanism != "CURVE") {
    // Only sockets procmod left plain (e.g. an ipc admin endpoint) get here.
    status = "200", text = "OK";
  } else if (request.size() >= 9 && request[8].size() == kCurvePublicKeyBytes) {
    char z85[kZ85KeyLength + 1] = {};
    zmq_z85_encode(z85, request[8].data<uint8_t>(), kCurvePublicKeyBytes);
    if (keys_.Contains(z85)) {
      status = "200", text = "OK", user_id = z85;
    } else {
      spdlog::warn(
          "procmod: denied CURVE key {} from {}: not in {} (add its .pub there and send SIGHUP "
          "to admit it)",
          z85, address.empty() ? "?" : address, dir_);
    }
  }
  spdlog::debug("procmod: ZAP {} from {}: {} {}", mechanism, address, status, text);
  std::vector<zmq::message_t> reply;
  reply.emplace_back(request[0].data(), request[0].size());  // envelope back to libzmq
  reply.emplace_back();
  reply.emplace_back(std::string_view("1.0"));
  reply.emplace_back(request[3].data(), request[3].size());
  reply.emplace_back(std::string_view(status));
  reply.emplace_back(std::string_view(text));
  reply.emplace_back(std::string_view(user_id));
  reply.emplace_back();  // no metadata
  try {
    zmq::send_multipart(socket_, reply, zmq::send_flags::dontwait);
  } catch (const zmq::error_t& e) {
    spdlog::error("procmod: ZAP reply failed: {}", e.what());
  }
}

Status EnableCurveServer(zmq::context_t& context, const CurveSetup& curve,
                         std::unique_ptr<ZapHandler>& zap, zmq::socket_t& socket) {
  if (!zap) {
    Result<std::unique_ptr<ZapHandler>> started =
        ZapHandler::Start(context, curve.authorized_keys_dir);
    if (!started.ok()) return started.status();
    zap = std::move(*started);
  }
  ConfigureCurveServer(socket, curve.own);
  return Status();
}

Result<ReloadSummary> ZapHandler::Reload() {
  Result<AuthorizedKeys> fresh = LoadAuthorizedKeys(dir_);
  if (!fresh.ok()) {
    spdlog::error("procmod: authorized keys not reloaded, the old list stays: {}",
                  fresh.status().ToString());
    return fresh.status();
  }
  ReloadSummary summary;
  for (const auto& [key, name] : fresh->keys()) {
    if (!keys_.Contains(key)) summary.added.push_back(name);
  }
  for (const auto& [key, name] : keys_.keys()) {
    if (!fresh->Contains(key)) summary.removed.push_back(name);
  }
  keys_ = std::move(*fresh);
  summary.keys = keys_.size();
  spdlog::info("procmod: authorized keys reloaded from {}: {} key(s), {} added, {} removed", dir_,
               summary.keys, summary.added.size(), summary.removed.size());
  return summary;
}

}  // namespace procmod
