#include "security/curve_keys.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include <zmq.h>

namespace procmod {
namespace {

constexpr std::string_view kZ85Alphabet =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

// The one key a key file holds: its text without surrounding whitespace, or the
// error naming the file.
Result<std::string> ReadKeyText(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return InvalidArgumentError(std::string(what) + ": cannot read " + path + ": " +
                                std::strerror(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  std::string key = text.str();
  if (key.size() > 4096) key.resize(4096);  // a key file is 41 bytes; say so, below
  auto blank = [](unsigned char c) { return std::isspace(c) != 0; };
  key.erase(key.begin(), std::find_if_not(key.begin(), key.end(), blank));
  key.erase(std::find_if_not(key.rbegin(), key.rend(), blank).base(), key.end());
  if (!IsZ85Key(key)) {
    return InvalidArgumentError(std::string(what) + ": " + path +
                                " does not hold a CURVE key (40 characters of Z85 text, as "
                                "`procmod keygen` writes)");
  }
  return key;
}

}  // namespace

bool IsZ85Key(std::string_view text) {
  return text.size() == kZ85KeyLength && std::all_of(text.begin(), text.end(), [](char c) {
           return kZ85Alphabet.find(c) != std::string_view::npos;
         });
}

Result<CurveKeyPair> ReadSecretKeyFile(const std::string& path) {
  constexpr std::string_view kWhat = "security.curve.secret_key_file";
  struct stat info {};
  if (stat(path.c_str(), &info) != 0) {
    return InvalidArgumentError(std::string(kWhat) + ": cannot read " + path + ": " +
                                std::strerror(errno));
  }
  if ((info.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(info.st_mode & 07777));
    return InvalidArgumentError(std::string(kWhat) + ": " + path +
                                " is accessible by others (mode " + mode +
                                "); a secret key must be private: chmod 600 " + path);
  }
  Result<std::string> secret = ReadKeyText(path, kWhat);
  if (!secret.ok()) return secret.status();
  char public_key[kZ85KeyLength + 1] = {};
  if (zmq_curve_public(public_key, secret->c_str()) != 0) {
    return InvalidArgumentError(std::string(kWhat) + ": " + path +
                                " is not a usable secret key: " + zmq_strerror(zmq_errno()));
  }
  return CurveKeyPair{public_key, std::move(*secret)};
}

Result<std::string> ResolvePublicKey(const std::string& key_or_file, std::string_view what) {
  // The file first: a 40-character path such as /tmp/procmod-test-HJt5rD/keys/s.pub
  // is made of Z85 characters too.
  std::error_code error;
  if (std::filesystem::is_regular_file(key_or_file, error)) return ReadKeyText(key_or_file, what);
  if (IsZ85Key(key_or_file)) return key_or_file;
  return InvalidArgumentError(std::string(what) + ": '" + key_or_file +
                              "' is neither a CURVE public key (40 characters of Z85 text) nor "
                              "a file that holds one");
}

std::string AuthorizedKeys::NameOf(const std::string& z85) const {
  auto it = names_.find(z85);
  return it == names_.end() ? std::string() : it->second;
}

Result<AuthorizedKeys> LoadAuthorizedKeys(const std::string& dir) {
  constexpr std::string_view kWhat = "security.curve.authorized_keys_dir";
  std::error_code error;
  if (!std::filesystem::is_directory(dir, error)) {
    return InvalidArgumentError(std::string(kWhat) + ": " + dir +
                                " is not a folder (it should hold the *.pub files of the peers "
                                "allowed in)");
  }
  AuthorizedKeys keys;
  std::filesystem::directory_iterator it(dir, error);
  if (error) {
    return InvalidArgumentError(std::string(kWhat) + ": cannot list " + dir + ": " +
                                error.message());
  }
  for (; it != std::filesystem::directory_iterator(); it.increment(error)) {
    if (error) break;
    const std::filesystem::path& path = it->path();
    if (path.extension() != ".pub" || it->is_directory(error)) continue;
    Result<std::string> key = ReadKeyText(path.string(), kWhat);
    if (!key.ok()) return key.status();
    keys.names_.emplace(std::move(*key), path.stem().string());
  }
  if (error) {
    return InvalidArgumentError(std::string(kWhat) + ": cannot list " + dir + ": " +
                                error.message());
  }
  return keys;
}

Status MissingServerKeyError(std::string_view url) {
  std::string where = url.empty() ? std::string() : " to " + std::string(url);
  return InvalidArgumentError("security.curve.server_public_key is required to connect with CURVE" +
                              where +
                              ": the public key of the side that binds (its .pub file or the "
                              "key itself)");
}

Result<CurveSetup> ResolveCurve(const CurveOptions& options, bool accepts, bool dials) {
  CurveSetup setup;
  if (options.secret_key_file.empty() && options.authorized_keys_dir.empty() &&
      options.server_public_key.empty() && options.render_server_public_key.empty()) {
    return setup;
  }
  if (!zmq_has("curve")) {
    // Refuse rather than run in clear text when encryption was asked for.
    return InvalidArgumentError("security.curve is set, but this libzmq has no CURVE support");
  }
  if (options.secret_key_file.empty()) {
    return InvalidArgumentError(
        "security.curve.secret_key_file is required with CURVE: this process's own key pair "
        "(make one with `procmod keygen`)");
  }
  Result<CurveKeyPair> own = ReadSecretKeyFile(options.secret_key_file);
  if (!own.ok()) return own.status();
  setup.enabled = true;
  setup.own = std::move(*own);
  if (accepts) {
    if (options.authorized_keys_dir.empty()) {
      return InvalidArgumentError(
          "security.curve.authorized_keys_dir is required on the accepting side: the folder of "
          "*.pub keys allowed to connect");
    }
    Result<AuthorizedKeys> keys = LoadAuthorizedKeys(options.authorized_keys_dir);
    if (!keys.ok()) return keys.status();
  }
  setup.authorized_keys_dir = options.authorized_keys_dir;
  if (dials && options.server_public_key.empty()) return MissingServerKeyError("");
  if (!options.server_public_key.empty()) {
    Result<std::string> server_key =
        ResolvePublicKey(options.server_public_key, "security.curve.server_public_key");
    if (!server_key.ok()) return server_key.status();
    setup.server_public_key = std::move(*server_key);
  }
  if (!options.render_server_public_key.empty()) {
    Result<std::string> render_key = ResolvePublicKey(options.render_server_public_key,
                                                      "security.curve.render_server_public_key");
    if (!render_key.ok()) return render_key.status();
    setup.render_server_public_key = std::move(*render_key);
  }
  return setup;
}

}  // namespace procmod
