#!/usr/bin/env bash
# bench/run.sh: build and run procmod's benchmarks (procmod vs raw libzmq, side by side)
# and print one table. docs/BENCHMARKS.md explains every case and target.
#
#   bench/run.sh            full run: stable figures, a few minutes
#   bench/run.sh --quick    every case with fewer iterations, under a minute
#   bench/run.sh --only rtt,data,broker,setup,scale,expiry,resume,bulk,parallel
#                           some cases only (parallel: procmod-server under mpiexec)
#
# Environment: BUILD_DIR (default: build next to this folder's parent), NO_BUILD=1 to
# use the binaries as they are.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
build="${BUILD_DIR:-$root/build}"

args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) args+=(--quick) ;;
    --only) args+=(--only "$2"); shift ;;
    -h|--help) sed -n '2,11p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

if [[ "${NO_BUILD:-0}" != 1 ]]; then
  if [[ ! -f "$build/build.ninja" && ! -f "$build/Makefile" ]]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  fi
  cmake --build "$build" --target procmod-bench procmod-server >/dev/null
  # The broker is optional: when it does not build (yet), its case is skipped.
  cmake --build "$build" --target procmod-broker >/dev/null 2>&1 || true
  # The parallel case's MPI baseline exists as a target only with PROCMOD_MPI on;
  # without it the case skips its rows.
  # (The list is read whole: grep -q would stop early and fail the pipe under pipefail.)
  targets="$(cmake --build "$build" --target help 2>/dev/null || true)"
  if [[ "$targets" == *procmod-bench-mpi* ]]; then
    cmake --build "$build" --target procmod-bench-mpi >/dev/null
  fi
fi

bench="$build/bench/procmod-bench"
server="$build/server/procmod-server"
broker="$build/broker/procmod-broker"
[[ -x "$bench" && -x "$server" ]] || { echo "run.sh: $bench or $server is missing" >&2; exit 1; }

# 5,000 sessions need about 10,000 descriptors in a client process (a socket and a
# mailbox each) and 5,000 in the server: raise the limit as far as allowed.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [[ "$(ulimit -n)" != unlimited && "$(ulimit -n)" -lt 12000 ]]; then
  echo "run.sh: warning: only $(ulimit -n) file descriptors; the 5,000-session case may fail" >&2
fi

tmp="$(mktemp -d /tmp/procmod-bench-XXXXXX)"
pid=""
cleanup() {
  # The driver's children die with it (PR_SET_PDEATHSIG); reap the driver itself.
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    sleep 0.2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  [[ -n "$pid" ]] && wait "$pid" 2>/dev/null || true
  if [[ "${KEEP_LOGS:-0}" == 1 ]]; then
    echo "run.sh: logs kept in $tmp" >&2
  else
    rm -rf "$tmp"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[[ -x "$broker" ]] && args+=(--broker "$broker")
mpi_baseline="$build/bench/procmod-bench-mpi"
[[ -x "$mpi_baseline" ]] && args+=(--mpi-baseline "$mpi_baseline")
"$bench" run --server "$server" --tmp "$tmp" "${args[@]}" &
pid=$!
status=0
wait "$pid" || status=$?
pid=""
exit "$status"
