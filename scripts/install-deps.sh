#!/usr/bin/env bash
# Installs the Debian packages procmod builds and tests with (docs/ARCHITECTURE.md, "Dependencies").
# Idempotent: prints nothing and exits 0 when everything is already present.
# Usage: scripts/install-deps.sh          (as root, or with sudo available)
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libzmq3-dev cppzmq-dev          # transport: libzmq 4.3.4 + cppzmq 4.9
  libmsgpack-cxx-dev              # PMP/1 header codec
  libyaml-cpp-dev                 # configuration files
  libspdlog-dev libfmt-dev        # logging
  libcli11-dev                    # command-line flags
  nlohmann-json3-dev              # JSON output (monitor, connection files)
  googletest libgtest-dev libgmock-dev  # tests
  libbenchmark-dev                # bench/
  openmpi-bin libopenmpi-dev      # the MPI-parallel server (mpiexec, CMake's FindMPI)
  openssh-client openssh-server   # procmod launch's ssh kind, and its test's own sshd
  slurm-wlm munge                 # procmod launch's batch kind: its test's one-node Slurm
  pybind11-dev python3-dev        # the Python binding (python/), for Debian's python3
  python3-pytest python3-zmq      # its tests, and pyzmq for its benchmark's raw baseline
  clang libclang-rt-14-dev        # libFuzzer target on the decoder
  procps                          # ps/pkill in end-to-end tests
  iproute2                        # ip: loopback in the README examples' own network namespace
  help2man                        # man pages from the tools' --help (man/)
  man-db groff-base               # man -l, which the man-page test renders them with
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=sudo
  else
    echo "install-deps: these Debian packages are missing: ${missing[*]}" >&2
    echo "install-deps: run this script as root (or install sudo) to install them." >&2
    exit 1
  fi
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
