#!/usr/bin/env bash
# Installs what is missing, builds procmod and runs every test with ctest.
#   scripts/test.sh                      # build/ : the normal build (-Werror)
#   scripts/test.sh --sanitize address   # build-asan/ : ASan + UBSan
#   scripts/test.sh --sanitize thread    # build-tsan/ : TSan
#   scripts/test.sh --quick              # skip the tests labelled "slow" and "soak"
# The soak tests (label "soak", test/soak/) run in the normal build only, and their
# "soak:" figures are printed at the end; PROCMOD_SOAK_* set their sizes.
# Extra arguments after -- go to ctest (e.g. -- -R F3_).
set -euo pipefail
cd "$(dirname "$0")/.."

sanitize=""
quick=0
ctest_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --sanitize) sanitize="$2"; shift 2 ;;
    --quick) quick=1; shift ;;
    --) shift; ctest_args+=("$@"); break ;;
    *) echo "test.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

bash scripts/install-deps.sh

build_dir=build${sanitize:+-$sanitize}
# Line tables (-g1) rather than full debug info: backtraces still name file and line,
# and the build takes a good deal less time.
# One precompiled GoogleTest and cppzmq for all the test programs, in every build
# (docs/DEVELOPMENT.md, "CI").
build_flags=(-DPROCMOD_WERROR=ON -DPROCMOD_SANITIZE="$sanitize"
             -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" -DPROCMOD_TEST_PCH=ON)
if [ -n "$sanitize" ]; then
  # Sanitizer builds are for the tests: light optimisation and line tables only
  # (enough for readable reports), no benchmarks, the library in unity files. The
  # normal build compiles the library file by file, as users build it, so a missing
  # #include still fails there.
  # No MPI: Open MPI's own allocations and threads would be the sanitizers' reports
  # (leaks at exit, races in libmpi), not procmod's. The parallel server's MPI tests
  # run in the normal build; its job of one rank runs here too. No Python binding:
  # an instrumented module needs the sanitizer's runtime preloaded into an
  # uninstrumented interpreter, whose own allocations it then reports.
  build_flags+=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1"
                -DPROCMOD_BUILD_BENCH=OFF -DPROCMOD_UNITY_BUILD=ON -DPROCMOD_MPI=OFF
                -DPROCMOD_PYTHON=OFF)
fi
cmake -S . -B "$build_dir" -G Ninja "${build_flags[@]}" >/dev/null
cmake --build "$build_dir"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# The attack suite (label hostile) attacks for 4 s per case; 2 s is enough to catch a
# crash or a leak under the sanitizers, which are several times slower anyway.
[ -n "$sanitize" ] && export PROCMOD_HOSTILE_SECONDS=${PROCMOD_HOSTILE_SECONDS:-2}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/test/tsan.supp}
excluded=()
[ $quick -eq 1 ] && excluded+=(slow soak)
# The soak tests measure a daemon's RSS and time its restarts: under a sanitizer both
# mean nothing (shadow memory and quarantine, 2-15x slower code), and 20,000 sessions
# would cost those steps minutes of the CI's 25.
[ -n "$sanitize" ] && excluded+=(soak)
if [ ${#excluded[@]} -gt 0 ]; then
  ctest_args+=(-LE "^($(IFS='|'; echo "${excluded[*]}"))\$")
fi
status=0
ctest --test-dir "$build_dir" --output-on-failure -j2 ${ctest_args[@]+"${ctest_args[@]}"} ||
  status=$?
# What the soak tests measured (ctest keeps every test's output in LastTest.log).
log="$build_dir/Testing/Temporary/LastTest.log"
if [ -f "$log" ] && grep -q '^soak: ' "$log"; then
  echo
  grep '^soak: ' "$log"
fi
exit $status
