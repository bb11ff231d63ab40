// lines.h: a tool's output as lines, and the questions tests ask of them.
#ifndef PROCMOD_TEST_SUPPORT_LINES_H_
#define PROCMOD_TEST_SUPPORT_LINES_H_

#include <algorithm>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace procmod::testing {

inline std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

inline bool StartsWith(const std::string& text, std::string_view prefix) {
  return text.rfind(prefix, 0) == 0;
}

inline size_t CountStartingWith(const std::vector<std::string>& lines, std::string_view prefix) {
  return static_cast<size_t>(std::count_if(
      lines.begin(), lines.end(), [&](const std::string& l) { return StartsWith(l, prefix); }));
}

inline bool Contains(const std::vector<std::string>& lines, const std::string& line) {
  return std::find(lines.begin(), lines.end(), line) != lines.end();
}

}  // namespace procmod::testing

#endif  // PROCMOD_TEST_SUPPORT_LINES_H_
