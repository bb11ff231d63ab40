// keygen.h: `procmod keygen`, a CURVE key pair as two small text files.
//
// NAME.key holds the secret key and NAME.pub the public one, each as 40 characters
// of Z85 text and a newline (docs/SECURITY.md), the form security.curve.* options read. The
// secret file is created with mode 0600 and never readable by others, even for an
// instant; nothing is overwritten without `force`.
//
//   Result<KeyFiles> files = WriteKeyPair("/etc/procmod/keys", "viz-1", false);
//   if (!files.ok()) std::cerr << files.status().ToString();
#ifndef PROCMOD_CLI_KEYGEN_H_
#define PROCMOD_CLI_KEYGEN_H_

#include <string>

#include "procmod/result.h"

namespace procmod::cli {

struct KeyFiles {
  std::string secret_path;  // DIR/NAME.key, mode 0600
  std::string public_path;  // DIR/NAME.pub, mode 0644
  std::string public_key;   // Z85, 40 characters
};

// Makes a new key pair (libzmq's zmq_curve_keypair, libsodium underneath) and writes
// it into `dir` (created when missing, mode 0700). kInvalidArgument for a NAME that
// is empty or holds a '/', kFailedPrecondition when a file exists and !force or
// libzmq has no CURVE, kUnavailable when a file cannot be written.
Result<KeyFiles> WriteKeyPair(const std::string& dir, const std::string& name, bool force);

}  // namespace procmod::cli

#endif  // PROCMOD_CLI_KEYGEN_H_
