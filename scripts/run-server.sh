#!/usr/bin/env bash
# Installs what is missing, builds procmod-server and runs it. Arguments go to the
# server; with none it serves one client on tcp://127.0.0.1:11111.
#   scripts/run-server.sh
#   scripts/run-server.sh --multi-clients --port 0
#   scripts/run-server.sh --config config/server.yaml
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
if [ ! -f build/build.ninja ]; then
  cmake -S . -B build -G Ninja -DPROCMOD_WERROR=ON >/dev/null
fi
cmake --build build --target procmod-server >/dev/null
exec build/server/procmod-server "$@"
