// did_you_mean.h: the word a user most likely meant, for "(did you mean 'ping'?)".
//
// One rule for every place that names an unknown word: a YAML key or choice
// (config.cc) and a command-line flag or command (lib/tool/). So a typo gets the same
// help whether it was made in a file or on the command line.
//
//   std::string_view best = Suggest("pnig", {"ping", "connect"});   // "ping"
#ifndef PROCMOD_SRC_CONFIG_DID_YOU_MEAN_H_
#define PROCMOD_SRC_CONFIG_DID_YOU_MEAN_H_

#include <cstddef>
#include <span>
#include <string_view>

namespace procmod {

// Levenshtein distance: insertions, deletions and substitutions of one character.
size_t EditDistance(std::string_view a, std::string_view b);

// The candidate `word` most likely meant, or "": the closest one within edit distance
// 2, or one that `word` starts (or is started by), when both have 3 or more letters.
std::string_view Suggest(std::string_view word, std::span<const std::string_view> candidates);

}  // namespace procmod

#endif  // PROCMOD_SRC_CONFIG_DID_YOU_MEAN_H_
