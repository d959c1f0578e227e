#include "ralm/core/corpus/text_cleaning.hpp"

#include <cctype>
#include <regex>

namespace ralm::core {

namespace {
bool is_space(char c) {
  return std::isspace(static_cast<unsigned char>(c)) != 0;
}
}  // namespace

std::vector<std::string_view> split_words(std::string_view text) {
  std::vector<std::string_view> words;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_space(text[i]))
      ++i;
    const std::size_t start = i;
    while (i < text.size() && !is_space(text[i]))
      ++i;
    if (i > start) words.push_back(text.substr(start, i - start));
  }
  return words;
}

std::string collapse_whitespace(std::string_view text) {
  std::string out;
  for (std::string_view w : split_words(text)) {
    if (!out.empty()) out.push_back(' ');
    out.append(w);
  }
  return out;
}

std::string clean_foldoc(std::string_view body) {
  std::string text;
  text.reserve(body.size());
  for (char c : body) {
    if (c != '{' && c != '}') text.push_back(c);
  }
  text = collapse_whitespace(text);
  static const std::regex category("^<[^>]{1,40}>\\s*");
  static const std::regex date("\\s*\\(\\d{4}-\\d{2}-\\d{2}\\)\\s*$");
  text = std::regex_replace(text, category, "");
  text = std::regex_replace(text, date, "");
  return text;
}

std::vector<std::string> split_passages(std::string_view text, std::size_t words) {
  std::vector<std::string> passages;
  const auto all = split_words(text);
  for (std::size_t start = 0; start < all.size(); start += words) {
    std::string p;
    for (std::size_t i = start; i < std::min(all.size(), start + words); ++i) {
      if (!p.empty()) p.push_back(' ');
      p.append(all[i]);
    }
    passages.push_back(std::move(p));
  }
  return passages;
}

}  // namespace ralm::core
