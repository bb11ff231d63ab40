// serve.h: run procmod-server with a checked configuration, return its exit code.
//
// Starts logging, the process module and the server's services; prints one line on
// stdout when ready ("procmod-server: ready on tcp://127.0.0.1:PORT", or "connected to
// URL" in reverse mode); serves until the module's Run() ends or SIGINT/SIGTERM; says
// BYE to every peer; and maps why it ended to an exit code (lib/daemon/daemon_exit_codes.h,
// docs/ARCHITECTURE.md "Exit codes").
#ifndef PROCMOD_SERVER_SERVE_H_
#define PROCMOD_SERVER_SERVE_H_

#include "procmod/options.h"

namespace procmod::server {

// `argc` and `argv` go to MPI: under mpiexec every rank runs this, rank 0 serves
// and the others work for it (procmod/parallel.h).
int Serve(const Options& options, int* argc, char*** argv);

}  // namespace procmod::server

#endif  // PROCMOD_SERVER_SERVE_H_
