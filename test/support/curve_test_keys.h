// curve_test_keys.h: CURVE key pairs for tests, on disk as an operator keeps them.
//
// Each pair is NAME.key (the secret key, mode 0600, as ReadSecretKeyFile demands)
// and NAME.pub under DIR/keys; an authorized one is copied into DIR/authorized, the
// allow-list folder a CURVE acceptor names as authorized_keys_dir. A raw test peer
// takes the pair itself (CurveKeyPair) for its socket.
//
//   TempDir dir;
//   CurveTestKeys keys(dir.path());
//   CurveTestKey server = keys.Make("server", /*authorize=*/false);
//   CurveTestKey alice = keys.Make("alice", /*authorize=*/true);
//   options.security.curve = {.secret_key_file = server.secret_file,
//                             .authorized_keys_dir = keys.AuthorizedDir()};
#ifndef PROCMOD_TEST_SUPPORT_CURVE_TEST_KEYS_H_
#define PROCMOD_TEST_SUPPORT_CURVE_TEST_KEYS_H_

#include <sys/stat.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include <zmq.h>

#include "security/curve_keys.h"

namespace procmod::testing {

struct CurveTestKey {
  CurveKeyPair pair;        // Z85
  std::string secret_file;  // DIR/keys/NAME.key
  std::string public_file;  // DIR/keys/NAME.pub
};

class CurveTestKeys {
 public:
  explicit CurveTestKeys(std::string dir) : dir_(std::move(dir)) {
    std::filesystem::create_directories(dir_ + "/keys");
    std::filesystem::create_directories(AuthorizedDir());
  }

  // A new pair NAME; with `authorize`, its .pub goes on the allow-list too. Throws
  // (a test failure) when libzmq has no CURVE.
  CurveTestKey Make(const std::string& name, bool authorize) {
    std::array<char, 41> public_key{}, secret_key{};
    if (zmq_curve_keypair(public_key.data(), secret_key.data()) != 0) {
      throw std::runtime_error("zmq_curve_keypair failed: no CURVE in this libzmq");
    }
    CurveTestKey key{{public_key.data(), secret_key.data()},
                     dir_ + "/keys/" + name + ".key",
                     dir_ + "/keys/" + name + ".pub"};
    std::ofstream(key.secret_file) << key.pair.secret_key << "\n";
    chmod(key.secret_file.c_str(), 0600);
    std::ofstream(key.public_file) << key.pair.public_key << "\n";
    if (authorize) {
      std::filesystem::copy_file(key.public_file, AuthorizedDir() + "/" + name + ".pub");
    }
    return key;
  }

  std::string AuthorizedDir() const { return dir_ + "/authorized"; }

 private:
  std::string dir_;
};

}  // namespace procmod::testing

#endif  // PROCMOD_TEST_SUPPORT_CURVE_TEST_KEYS_H_
