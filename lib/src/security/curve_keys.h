// curve_keys.h: CURVE keys as procmod keeps them on disk (docs/SECURITY.md).
//
// A key is 40 characters of Z85 text (32 bytes). `procmod keygen NAME` writes
// NAME.key (the secret key, mode 0600) and NAME.pub (the public key); each holds the
// key and a newline. A secret key file that group or others may read is refused, as
// ssh refuses an open private key: whoever reads it can impersonate this process.
// An allow-list is a folder of *.pub files (like sshd's authorized_keys), one key
// each, named after whom it admits.
//
//   Result<CurveKeyPair> pair = ReadSecretKeyFile("/etc/procmod/viz-1.key");
//   Result<AuthorizedKeys> keys = LoadAuthorizedKeys("/etc/procmod/authorized");
//   if (keys->Contains(z85)) ...;  // name: keys->NameOf(z85)
#ifndef PROCMOD_SRC_SECURITY_CURVE_KEYS_H_
#define PROCMOD_SRC_SECURITY_CURVE_KEYS_H_

#include <cstddef>
#include <map>
#include <string>
#include <string_view>

#include "procmod/options.h"
#include "procmod/result.h"

namespace procmod {

inline constexpr size_t kZ85KeyLength = 40;

// True for 40 characters of the Z85 alphabet.
bool IsZ85Key(std::string_view text);

struct CurveKeyPair {
  std::string public_key;  // Z85, derived from the secret key
  std::string secret_key;  // Z85
};

// Reads a secret key file: kInvalidArgument naming the file when it is missing,
// readable by group or others (saying `chmod 600 FILE`), or not one Z85 key.
Result<CurveKeyPair> ReadSecretKeyFile(const std::string& path);

// The public key `key_or_file` names: the 40-character key itself, or a file that
// holds one (e.g. a .pub written by keygen). `what` names the option in errors.
Result<std::string> ResolvePublicKey(const std::string& key_or_file, std::string_view what);

// The allow-list read from a folder of *.pub files.
class AuthorizedKeys {
 public:
  bool Contains(const std::string& z85) const { return names_.count(z85) != 0; }
  // The file stem the key was read from ("viz-1" for viz-1.pub), or "".
  std::string NameOf(const std::string& z85) const;
  size_t size() const { return names_.size(); }
  const std::map<std::string, std::string>& keys() const { return names_; }  // key -> name

 private:
  friend Result<AuthorizedKeys> LoadAuthorizedKeys(const std::string& dir);
  std::map<std::string, std::string> names_;
};

// Reads every *.pub file of `dir` (other files are ignored, so a README or an
// editor's backup does not count). A file that is not one Z85 key is an error naming
// it: a typo must not silently lock a user out, or in.
Result<AuthorizedKeys> LoadAuthorizedKeys(const std::string& dir);

// CURVE as one process uses it, resolved from CurveOptions: the process's own key
// pair, the acceptor key it dials, and the allow-list folder when it accepts.
struct CurveSetup {
  bool enabled = false;
  CurveKeyPair own;
  std::string server_public_key;  // dialing side: the acceptor's key ("" = dial plain)
  std::string render_server_public_key;  // render client: the render server's ("" = the above)
  std::string authorized_keys_dir;
};

// Reads the key files CurveOptions names; all empty: not enabled. `accepts` says this
// process accepts and `dials` that it dials a remote known up front, so a missing
// option is named then. (A forward client may instead name each remote's key when it
// connects: RemoteOptions::server_public_key.)
Result<CurveSetup> ResolveCurve(const CurveOptions& options, bool accepts, bool dials);

// "security.curve.server_public_key is required to connect with CURVE [to URL]: ...".
Status MissingServerKeyError(std::string_view url);

}  // namespace procmod

#endif  // PROCMOD_SRC_SECURITY_CURVE_KEYS_H_
