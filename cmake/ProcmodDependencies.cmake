# Finds every dependency (docs/ARCHITECTURE.md) and, when one is missing, stops with a message
# naming the Debian package that provides it. scripts/install-deps.sh installs them all.

function(procmod_missing what debian_package)
  message(FATAL_ERROR
    "procmod: ${what} was not found. Install the Debian package '${debian_package}' "
    "(or run scripts/install-deps.sh as root, which installs every dependency).")
endfunction()

find_package(PkgConfig QUIET)
set(THREADS_PREFER_PTHREAD_FLAG ON)
find_package(Threads REQUIRED)

find_package(cppzmq 4.9 CONFIG QUIET)
if(NOT cppzmq_FOUND)
  procmod_missing("cppzmq (C++ bindings of libzmq)" "cppzmq-dev")
endif()
if(NOT TARGET libzmq)
  procmod_missing("libzmq" "libzmq3-dev")
endif()

# msgpack-cxx is header-only. Its CMake package drags in Boost, which procmod does not
# use (MSGPACK_NO_BOOST), so only the header is looked up.
find_path(PROCMOD_MSGPACK_INCLUDE_DIR msgpack.hpp)
if(NOT PROCMOD_MSGPACK_INCLUDE_DIR)
  procmod_missing("msgpack-cxx (msgpack.hpp)" "libmsgpack-cxx-dev")
endif()
add_library(procmod_msgpack INTERFACE)
target_include_directories(procmod_msgpack SYSTEM INTERFACE ${PROCMOD_MSGPACK_INCLUDE_DIR})
target_compile_definitions(procmod_msgpack INTERFACE MSGPACK_NO_BOOST
                                                     MSGPACK_DEFAULT_API_VERSION=3)

find_package(spdlog CONFIG QUIET)
if(NOT spdlog_FOUND)
  procmod_missing("spdlog" "libspdlog-dev")
endif()

find_package(yaml-cpp CONFIG QUIET)
if(NOT yaml-cpp_FOUND)
  procmod_missing("yaml-cpp" "libyaml-cpp-dev")
endif()

find_package(CLI11 CONFIG QUIET)
if(NOT CLI11_FOUND)
  procmod_missing("CLI11" "libcli11-dev")
endif()

find_package(nlohmann_json 3 CONFIG QUIET)
if(NOT nlohmann_json_FOUND)
  procmod_missing("nlohmann-json" "nlohmann-json3-dev")
endif()

if(PROCMOD_BUILD_TESTS)
  find_package(GTest CONFIG QUIET)
  if(NOT GTest_FOUND)
    procmod_missing("GoogleTest" "libgtest-dev")
  endif()
endif()

# MPI (Open MPI from Debian: libopenmpi-dev) for the parallel server; optional. On by
# default when found; PROCMOD_MPI=ON without it is an error, OFF builds a server that
# refuses to run under mpiexec with a message saying so.
find_package(MPI QUIET COMPONENTS CXX)  # the C API, found through the C++ wrapper: no C compiler
option(PROCMOD_MPI "Build the MPI-parallel server (needs MPI: libopenmpi-dev)" ${MPI_CXX_FOUND})
if(PROCMOD_MPI AND NOT MPI_CXX_FOUND)
  procmod_missing("MPI (for PROCMOD_MPI=ON)" "libopenmpi-dev")
endif()

# pybind11 (pybind11-dev, python3-dev) for the Python binding (python/); optional. Built
# for Debian's python3, which the tests run (python3-pytest, python3-zmq), rather than
# whatever python3 comes first on PATH.
if(NOT DEFINED Python_EXECUTABLE AND EXISTS /usr/bin/python3)
  set(Python_EXECUTABLE /usr/bin/python3)
endif()
set(PYBIND11_FINDPYTHON ON)
find_package(pybind11 CONFIG QUIET)
option(PROCMOD_PYTHON "Build the Python binding (needs pybind11-dev, python3-dev)"
       ${pybind11_FOUND})
if(PROCMOD_PYTHON AND NOT pybind11_FOUND)
  procmod_missing("pybind11 (for PROCMOD_PYTHON=ON)" "pybind11-dev")
endif()
