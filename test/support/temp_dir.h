// temp_dir.h: a scratch directory for the files a test writes (YAML configurations,
// an ipc:// socket file), made with mkdtemp so tests running in parallel never share
// one, and removed with everything in it when the TempDir goes, pass or fail.
#ifndef PROCMOD_TEST_SUPPORT_TEMP_DIR_H_
#define PROCMOD_TEST_SUPPORT_TEMP_DIR_H_

#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace procmod::testing {

class TempDir {
 public:
  // Throws if mkdtemp fails: GoogleTest reports it as a failure of the test.
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "procmod-test-XXXXXX");
    if (mkdtemp(pattern.data()) == nullptr) {
      throw std::runtime_error("mkdtemp " + pattern + ": " + std::strerror(errno));
    }
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;  // a destructor must not throw; a leftover is harmless
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Writes `text` to the file `name` in this directory; returns its path.
  std::string Write(const std::string& name, std::string_view text) const {
    const std::string path = path_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace procmod::testing

#endif  // PROCMOD_TEST_SUPPORT_TEMP_DIR_H_
