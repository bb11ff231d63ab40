// chat_client: a collaboration client for a procmod-server started with
// --multi-clients. Lines typed on stdin go to every other client (DATA on channel
// "broadcast"); what others type, and who joins, leaves or becomes master (channel
// "collab"), is printed as it arrives. With --reconnect it survives server restarts.
//
//   build/client/examples/chat_client tcp://127.0.0.1:11111 alice [--reconnect]
#include <procmod/client.h>

#include <iostream>
#include <string>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: chat_client URL NAME [--reconnect]\n";
    return 2;
  }
  procmod::ClientOptions options;
  options.module.name = argv[2];
  options.module.reconnect = argc > 3 && std::string(argv[3]) == "--reconnect";
  options.collab_news = true;  // print who joins and leaves
  auto client = procmod::Client::Connect(argv[1], options);
  if (!client.ok()) {
    std::cerr << "chat_client: " << client.status().ToString() << "\n";
    return client.status().pmp_code() != 0 ? 5 : 4;
  }
  // Runs on the I/O thread: print and return quickly.
  (*client)->OnData(
      [](const procmod::Connection&, std::string_view channel, procmod::Frames payload) {
        if (payload.empty()) return;
        std::cout << "[" << channel << "] " << payload[0].to_string_view() << std::endl;
      });
  (*client)->OnDisconnected(
      [](const procmod::Connection& server, procmod::DisconnectReason reason) {
        std::cout << "lost " << server.name() << ": " << procmod::DisconnectReasonName(reason)
                  << std::endl;
      });
  (*client)->OnConnected([](const procmod::Connection& server) {
    std::cout << "connected to " << server.name() << " as session " << server.session()
              << std::endl;
  });

  std::string line;
  while (std::getline(std::cin, line)) {
    const std::string text = std::string(argv[2]) + ": " + line;
    if (procmod::Status s = (*client)->Send(text, "broadcast"); !s.ok()) {
      std::cerr << s.ToString() << "\n";
    }
  }
  return 0;
}
