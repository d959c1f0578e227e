#include "added_tokens.hpp"

#include "unicode.hpp"

namespace ralm::hf {
namespace {

// Rust regex's \w$ and ^\w, and the spans of \s*$ and ^\s*, on UTF-8.
char32_t last_char(std::string_view s) {
  std::size_t start = s.size() - 1;
  while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80)
    --start;
  return next_code_point(s, start);
}
bool ends_with_word(std::string_view s) {
  return !s.empty() && is_alphabetic_word(last_char(s));
}
bool starts_with_word(std::string_view s) {
  std::size_t pos = 0;
  return !s.empty() && is_alphabetic_word(next_code_point(s, pos));
}
std::size_t whitespace_run_start_at_end(std::string_view s) {
  std::size_t end = s.size();
  while (end > 0) {
    std::size_t start = end - 1;
    while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80)
      --start;
    std::size_t probe = start;
    if (!is_whitespace(next_code_point(s, probe))) break;
    end = start;
  }
  return end;
}
std::size_t whitespace_run_length_at_start(std::string_view s) {
  std::size_t pos = 0;
  while (pos < s.size()) {
    std::size_t next = pos;
    if (!is_whitespace(next_code_point(s, next))) break;
    pos = next;
  }
  return pos;
}

}  // namespace

void AddedTokenMatcher::add(std::string pattern, const AddedToken& token) {
  if (pattern.empty()) return;
  by_first_byte_[static_cast<unsigned char>(pattern[0])].push_back(patterns_.size());
  patterns_.push_back({std::move(pattern), token});
}

void AddedTokenMatcher::split(const Piece& piece, std::vector<Piece>& out) const {
  const std::string_view text = piece.text;
  std::size_t done = 0;  // the end of the last token taken, with what it stripped
  const auto emit_text = [&](std::size_t begin, std::size_t end) {
    if (end > begin)
      out.push_back(
          {std::string(text.substr(begin, end - begin)), piece.at_origin && begin == 0, std::nullopt});
  };
  std::size_t search = 0;
  while (search < text.size()) {
    // Leftmost, then longest (Aho-Corasick's LeftmostLongest).
    const Pattern* found = nullptr;
    std::size_t at = search;
    for (; at < text.size() && found == nullptr; ++at) {
      for (const std::size_t index : by_first_byte_[static_cast<unsigned char>(text[at])]) {
        const Pattern& p = patterns_[index];
        if (text.compare(at, p.text.size(), p.text) == 0 &&
            (found == nullptr || p.text.size() > found->text.size()))
          found = &p;
      }
    }
    if (found == nullptr) break;
    std::size_t start = at - 1, stop = start + found->text.size();
    search = stop;
    const AddedToken& token = found->token;
    if (token.single_word) {
      const bool start_space = start == 0 || !ends_with_word(text.substr(0, start));
      const bool stop_space = stop == text.size() || !starts_with_word(text.substr(stop));
      if (!start_space || !stop_space) continue;
    }
    if (token.lstrip) start = std::max(whitespace_run_start_at_end(text.substr(0, start)), done);
    if (token.rstrip) stop += whitespace_run_length_at_start(text.substr(stop));
    emit_text(done, start);
    out.push_back({std::string(text.substr(start, stop - start)), piece.at_origin && start == 0, token.id});
    // The search goes on after the match itself, not after what rstrip
    // took (HF's iterator does).
    done = stop;
  }
  emit_text(done, text.size());
}

}  // namespace ralm::hf
