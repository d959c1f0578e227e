#include "ralm/core/corpus/text_cleaning.hpp"

#include <algorithm>
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

namespace {

// GCIDE writes accented letters as [=a] (macron), [a^] (breve), ['e], ["o],
// [aum] (umlaut), ... and ligatures as [ae]: the letters stay, the marks go.
// Returns false for a bracket that is text, such as [Obs.] or [R.].
bool gcide_character(std::string_view token, std::string& out) {
  static const std::vector<std::pair<std::string_view, std::string_view>> named = {
      {"ae", "ae"},        {"oe", "oe"},       {"AE", "AE"},      {"OE", "OE"},       {"eth", "\u00f0"},
      {"thorn", "\u00fe"}, {"yogh", "\u021d"}, {"deg", "\u00b0"}, {"sect", "\u00a7"}, {"root", "\u221a"},
      {"ng", "ng"},        {"th", "th"},       {"add", "a"},      {"asl", "a"}};
  for (const auto& [name, text] : named) {
    if (token == name) {
      out.append(text);
      return true;
    }
  }
  auto is_letter = [](char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; };
  // [aum], [imac], [ccedil]-style: one letter and the mark's name.
  for (std::string_view mark : {"um", "mac", "cr", "ac", "gr", "ced", "til"}) {
    if (token.size() == 1 + mark.size() && is_letter(token[0]) && token.substr(1) == mark) {
      out.push_back(token[0]);
      return true;
    }
  }
  const std::string_view marks = "=^'\"`~.,*-";
  std::size_t start = 0, end = token.size();
  while (start < end && marks.find(token[start]) != std::string_view::npos)
    ++start;
  while (end > start && token[end - 1] == '^')
    --end;
  const std::string_view letters = token.substr(start, end - start);
  if ((start == 0 && end == token.size()) || letters.empty() || letters.size() > 2 ||
      !std::all_of(letters.begin(), letters.end(), is_letter)) {
    return false;
  }
  out.append(letters);
  return true;
}

bool is_gcide_source_tag(std::string_view token) {
  for (std::string_view s : {"Webster", "WordNet", "PJC", "Century Dict"}) {
    if (token.find(s) != std::string_view::npos) return true;
  }
  return false;
}

}  // namespace

std::string clean_gcide(std::string_view body) {
  std::string text;
  text.reserve(body.size());
  for (std::size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (c == '{' || c == '}') continue;
    if (c == '\\') {
      // A pronunciation \Ap"ple\, with its respelling ([a^]p"p'l) if one follows.
      const auto close = body.find_first_of("\\\n", i + 1);
      if (close != std::string_view::npos && body[close] == '\\') {
        while (!text.empty() && text.back() == ' ')  // "Apple \Ap"ple\, n." -> "Apple, n."
          text.pop_back();
        i = close;
        std::size_t j = i + 1;
        while (j < body.size() && (body[j] == ' ' || body[j] == '\t'))
          ++j;
        if (j < body.size() && body[j] == '(') {
          const auto paren = body.find(')', j);
          if (paren != std::string_view::npos && paren - j < 80) i = paren;
        }
        continue;
      }
    }
    if (c == '[') {
      const auto close = body.find(']', i + 1);
      if (close != std::string_view::npos && close - i < 48) {
        const std::string_view token = body.substr(i + 1, close - i - 1);
        if (is_gcide_source_tag(token) || gcide_character(token, text)) {
          i = close;
          continue;
        }
      }
    }
    text.push_back(c);
  }
  return collapse_whitespace(text);
}

std::string strip_pos_tags(std::string_view tagged) {
  std::string text;
  bool glue_next = true;  // no space before the first word or after an opening mark
  for (std::string_view token : split_words(tagged)) {
    const auto slash = token.rfind('/');
    std::string_view word = slash == std::string_view::npos || slash == 0 ? token : token.substr(0, slash);
    const bool opening = word == "``" || word == "(";
    const bool closing = word == "''" || word == ")" || word == "." || word == "," || word == ";" ||
                         word == ":" || word == "?" || word == "!";
    if (word == "``" || word == "''") word = "\"";
    if (!glue_next && !closing) text.push_back(' ');
    text.append(word);
    glue_next = opening;
  }
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
