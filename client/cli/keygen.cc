#include "keygen.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include <zmq.h>

namespace procmod::cli {
namespace {

constexpr size_t kZ85KeyLength = 40;

// Writes `text` to `path` with `mode`, the mode set before any byte is written (an
// existing file is truncated and chmod-ed first when `force`).
Status WriteFile(const std::string& path, const std::string& text, mode_t mode, bool force) {
  const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL);
  const int fd = open(path.c_str(), flags, mode);
  if (fd < 0) {
    if (errno == EEXIST) {
      return FailedPreconditionError(path + " exists; --force overwrites it");
    }
    return UnavailableError("cannot write " + path + ": " + std::strerror(errno));
  }
  Status status;
  if (fchmod(fd, mode) != 0 ||  // open's mode applies only to a file it creates
      write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    status = UnavailableError("cannot write " + path + ": " + std::strerror(errno));
  }
  if (close(fd) != 0 && status.ok()) {
    status = UnavailableError("cannot write " + path + ": " + std::strerror(errno));
  }
  return status;
}

}  // namespace

Result<KeyFiles> WriteKeyPair(const std::string& dir, const std::string& name, bool force) {
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
    return InvalidArgumentError("NAME must be a file name without '/', got '" + name + "'");
  }
  if (!zmq_has("curve")) {
    return FailedPreconditionError("this libzmq was built without CURVE support");
  }
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) return UnavailableError("cannot create " + dir + ": " + error.message());
  chmod(dir.c_str(), 0700);  // only when it is ours to change; failing is harmless

  KeyFiles files;
  files.secret_path = (std::filesystem::path(dir) / (name + ".key")).string();
  files.public_path = (std::filesystem::path(dir) / (name + ".pub")).string();
  if (!force) {  // check both first: never leave one new file beside an old one
    for (const std::string& path : {files.secret_path, files.public_path}) {
      if (std::filesystem::exists(path)) {
        return FailedPreconditionError(path + " exists; --force overwrites it");
      }
    }
  }
  char public_key[kZ85KeyLength + 1] = {};
  char secret_key[kZ85KeyLength + 1] = {};
  if (zmq_curve_keypair(public_key, secret_key) != 0) {
    return FailedPreconditionError(std::string("cannot make a key pair: ") +
                                   zmq_strerror(zmq_errno()));
  }
  files.public_key = public_key;
  Status status = WriteFile(files.secret_path, std::string(secret_key) + "\n", 0600, force);
  std::memset(secret_key, 0, sizeof secret_key);
  if (!status.ok()) return status;
  if (status = WriteFile(files.public_path, files.public_key + "\n", 0644, force); !status.ok()) {
    return status;
  }
  return files;
}

}  // namespace procmod::cli
