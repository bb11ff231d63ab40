// hello_client: connect to a procmod-server, ask who it is, ping it, and leave.
//
//   build/client/examples/hello_client tcp://127.0.0.1:11111
//
// The smallest useful procmod application: one Client, two REQUESTs, and the
// errors a user can meet (refused, unreachable) printed as they come.
#include <procmod/client.h>

#include <chrono>
#include <iostream>

#include <nlohmann/json.hpp>

int main(int argc, char** argv) {
  const std::string url = argc > 1 ? argv[1] : "tcp://127.0.0.1:11111";
  procmod::ClientOptions options;
  options.module.name = "hello-client";
  auto client = procmod::Client::Connect(url, options);
  if (!client.ok()) {
    std::cerr << "hello_client: " << client.status().ToString() << "\n";
    return client.status().pmp_code() != 0 ? 5 : 4;
  }
  std::cout << "connected to '" << (*client)->server().name() << "' (" << (*client)->server().role()
            << "), session " << (*client)->server().session() << "\n";

  // `info` answers with a msgpack map in REPLY.result.
  procmod::Result<procmod::Reply> info = (*client)->Request("info").get();
  if (info.ok()) {
    auto fields = nlohmann::json::from_msgpack(info->result);
    std::cout << "server info: " << fields.dump() << "\n";
  }

  // `ping` echoes its payload frames; time three round trips.
  for (int i = 0; i < 3; ++i) {
    procmod::Frames payload;
    payload.emplace_back("hello", 5);
    const auto start = std::chrono::steady_clock::now();
    procmod::Result<procmod::Reply> pong = (*client)->Request("ping", std::move(payload)).get();
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - start);
    if (!pong.ok()) {
      std::cerr << "ping failed: " << pong.status().ToString() << "\n";
      return 3;
    }
    std::cout << "ping " << i + 1 << ": " << us.count() << " us\n";
  }
  return 0;  // ~Client says BYE
}
