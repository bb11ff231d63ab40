#include "procmod/connection.h"

#include "io_loop.h"

namespace procmod {
namespace {

Status Finalized() { return AbortedError("process module finalized"); }

}  // namespace

Connection::Connection(std::weak_ptr<IoLoop> loop, const PeerInfo& info)
    : loop_(std::move(loop)),
      session_(info.session),
      name_(info.name),
      role_(info.role),
      address_(info.address),
      incoming_(info.incoming) {}

Status Connection::Send(Frames payload, std::string_view channel) const {
  auto loop = loop_.lock();
  if (!loop) return Finalized();
  return loop->Send(session_, channel, std::move(payload));
}

Status Connection::Send(std::string_view bytes, std::string_view channel) const {
  Frames payload;
  payload.emplace_back(bytes.data(), bytes.size());
  return Send(std::move(payload), channel);
}

std::future<Result<Reply>> Connection::Request(std::string method, Frames payload,
                                               std::chrono::milliseconds timeout,
                                               std::string args) const {
  auto loop = loop_.lock();
  if (!loop) {
    std::promise<Result<Reply>> failed;
    failed.set_value(Finalized());
    return failed.get_future();
  }
  return loop->Request(session_, std::move(method), std::move(args), std::move(payload),
                       timeout);
}

Status Connection::Close(std::string reason) const {
  auto loop = loop_.lock();
  if (!loop) return Status();
  return loop->Close(session_, std::move(reason));
}

Result<PeerInfo> Connection::Stats() const {
  auto loop = loop_.lock();
  if (!loop) return Finalized();
  return loop->Stats(session_);
}

}  // namespace procmod
