// "Did you mean ...?" for misspelt keys and plugin names.
#pragma once

#include <string>
#include <vector>

namespace ralm::core {

// The candidate closest to `word` by edit distance, if it is close enough to
// be a likely typo (at most 2 edits, and fewer than half the letters);
// otherwise an empty string.
std::string closest_match(const std::string& word, const std::vector<std::string>& candidates);

// " (did you mean 'x'?)" or "".
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

// "a, b, c", or `none` for an empty list.
std::string join_names(const std::vector<std::string>& names, const std::string& none = "none");

}  // namespace ralm::core
