#!/usr/bin/env bash
# Runs the README's shell examples as written, against this build, as a new user
# pasting them would: every ```sh block in order, each one a `bash -e` script, except
# a block right after a `<!-- readme-test: skip: WHY -->` line.
#
# They run in network, mount and PID namespaces of their own (unshare, as root): the
# README may then use the documented default port 11111 and /tmp paths without
# meeting other tests or the machine's own servers, and whatever a block leaves
# running dies with the namespace. Without root the test is skipped (exit 77).
#
# Usage: readme_examples.sh README.md BUILD_DIR
set -euo pipefail
readme=$(realpath "$1")
build=$(realpath "$2")

if [ "$(id -u)" -ne 0 ] || ! unshare --net --mount --pid --fork --mount-proc true 2>/dev/null; then
  echo "readme_examples: skipped: running the examples in namespaces of their own needs root"
  exit 77
fi

# Inside the namespace the build tree is seen at /mnt (bound there before an empty
# /tmp hides it, should it be under /tmp), so `build` points there.
work="$build/readme-examples"
rm -rf "$work"
mkdir -p "$work"
ln -s /mnt "$work/build"

# block-NN.sh for each ```sh block to run; its first line names the README line.
awk -v dir="$work" '
  /^<!-- readme-test: skip/ { skip = 1; next }
  /^```sh$/ && !in_block {
    in_block = 1
    if (!skip) { n++; file = sprintf("%s/block-%02d.sh", dir, n); print "# README.md line " NR > file }
    next
  }
  /^```$/ && in_block { in_block = 0; skip = 0; if (file) close(file); file = ""; next }
  in_block && file { print > file }
' "$readme"

blocks=$(cd "$work" && find . -name 'block-*.sh' | sort)
[ -n "$blocks" ] || { echo "readme_examples: no \`\`\`sh block in $readme"; exit 1; }

# Inside the namespaces: loopback up, the build tree at /mnt, an empty /tmp, then
# each block in turn.
unshare --net --mount --pid --fork --mount-proc bash -c '
  set -euo pipefail
  ip link set lo up
  mkdir -p /mnt
  mount --bind "$1" /mnt
  # A checkout under /tmp stays visible where it is (TSAN_OPTIONS names its
  # suppressions file there): stashed outside /tmp, then bound back over the new one.
  mkdir -p /run/procmod-readme-src
  mount --bind "$2" /run/procmod-readme-src
  mount -t tmpfs tmpfs /tmp
  mkdir -p "$2"
  mount --bind /run/procmod-readme-src "$2"
  cd /mnt/readme-examples
  shift 2
  for block in "$@"; do
    echo "=== $(head -n 1 "$block" | cut -c3-)"
    if timeout 60 bash -e -o pipefail "$block" > "$block.out" 2>&1; then
      sed "s/^/    /" "$block.out"
    else
      code=$?
      echo "FAILED with exit $code; the block:"
      sed "s/^/    /" "$block"
      echo "its output:"
      sed "s/^/    /" "$block.out"
      exit 1
    fi
  done
' _ "$build" "$(dirname "$readme")" $blocks
echo "readme_examples: every example ran"
