// Built against an installed procmod: uses only the public headers. Starts a forward
// server on a free loopback port, checks it is listening, and shuts it down.
#include <procmod/process_module.h>

#include <cstdio>

int main() {
  procmod::Result<int> r = procmod::NotFoundError("no such session");
  if (r.ok() || !r.status().IsNotFound()) return 1;

  procmod::Options options;
  options.name = "consumer";
  options.listen = "tcp://127.0.0.1:0";
  procmod::Result<procmod::ProcessModule*> module = procmod::ProcessModule::Initialize(options);
  if (!module.ok()) return 2;
  if (procmod::Status s = (*module)->Start(); !s.ok()) {
    std::puts(s.ToString().c_str());
    return 3;
  }
  std::printf("listening on %s\n", (*module)->ListenEndpoint().c_str());
  const bool bound = !(*module)->ListenEndpoint().empty();
  procmod::ProcessModule::Finalize();
  return bound ? 0 : 4;
}
