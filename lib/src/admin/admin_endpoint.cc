#include "admin/admin_endpoint.h"

#include <spdlog/spdlog.h>

#include <iterator>
#include <utility>

#include <zmq_addon.hpp>

#include "io/sockets.h"
#include "protocol/url.h"  // IsLocalEndpoint

namespace procmod {
namespace {

constexpr int kMaxRequestsPerTurn = 256;  // then the loop's other sockets get their turn

}  // namespace

Status CheckAdminEndpoint(std::string_view endpoint, bool curve) {
  if (curve || IsLocalEndpoint(endpoint)) return Status();
  return InvalidArgumentError("admin endpoint " + std::string(endpoint) +
                              " is not local; a non-loopback admin endpoint requires CURVE "
                              "(security.curve): use ipc://, tcp://127.0.0.1:PORT or none, or "
                              "set up CURVE");
}

bool AdminSpeaksCurve(const CurveSetup& curve, std::string_view endpoint) {
  const bool over_ipc = endpoint.starts_with("ipc://") || endpoint.starts_with("inproc://");
  return curve.enabled && !curve.authorized_keys_dir.empty() && !over_ipc;
}

Result<std::unique_ptr<AdminEndpoint>> AdminEndpoint::Bind(zmq::context_t& context,
                                                           const std::string& endpoint,
                                                           const CurveSetup& curve,
                                                           std::unique_ptr<ZapHandler>& zap,
                                                           std::string log_name) {
  const bool speaks_curve = AdminSpeaksCurve(curve, endpoint);
  if (Status s = CheckAdminEndpoint(endpoint, speaks_curve); !s.ok()) return s;
  zmq::socket_t socket(context, zmq::socket_type::router);
  ConfigureAdmin(socket);
  if (speaks_curve) {
    if (Status s = EnableCurveServer(context, curve, zap, socket); !s.ok()) return s;
  }
  Result<std::string> bound = BindSocket(socket, endpoint, "bind admin endpoint");
  if (!bound.ok()) return bound.status();
  return std::unique_ptr<AdminEndpoint>(
      new AdminEndpoint(std::move(socket), std::move(*bound), std::move(log_name)));
}

AdminEndpoint::AdminEndpoint(zmq::socket_t socket, std::string endpoint, std::string log_name)
    : socket_(std::move(socket)),
      endpoint_(std::move(endpoint)),
      log_name_(std::move(log_name)),
      polled_(socket_) {}

void AdminEndpoint::Service(AdminTarget& target) {
  polled_.SetDrained(false);  // until a receive finds nothing
  for (int i = 0; i < kMaxRequestsPerTurn; ++i) {
    pmp::Frames frames;
    try {
      if (!zmq::recv_multipart(socket_, std::back_inserter(frames), zmq::recv_flags::dontwait)) {
        polled_.SetDrained(true);
        return;
      }
    } catch (const zmq::error_t& e) {
      spdlog::error("{}: receive on admin endpoint failed: {}", log_name_, e.what());
      return;
    }
    if (frames.empty()) continue;
    const std::string routing_id(frames[0].data<char>(), frames[0].size());
    pmp::Frames answer = Answer(frames, target);
    // An admin client that went away just misses its answer.
    (void)SendFrames(socket_, routing_id, answer);
  }
}

pmp::Frames AdminEndpoint::Answer(pmp::Frames& request, AdminTarget& target) {
  Result<pmp::Message> decoded = decoder_.Decode(request, 1);
  if (!decoded.ok()) {
    return pmp::ErrorFrames(pmp::kCodeMalformed, std::string(decoded.status().message()));
  }
  if (decoded->command() != pmp::Command::kRequest) {
    return pmp::ErrorFrames(pmp::kCodeMalformed, "the admin endpoint answers REQUEST only");
  }
  return pmp::Encode(target.AnswerAdmin(std::get<pmp::Request>(decoded->header)));
}

}  // namespace procmod
