#include "completion_text.hpp"

#include <algorithm>

namespace ralm::server {

std::size_t incomplete_utf8_tail(std::string_view text) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const auto continuation = [](unsigned char b) { return (b & 0xC0) == 0x80; };
  // Walk back over at most three continuation bytes to the byte that starts
  // the last character.
  std::size_t tail = 1;
  while (tail <= 3 && tail <= text.size() && continuation(byte(text.size() - tail)))
    ++tail;
  if (tail > 3 || tail > text.size()) return 0;
  const std::size_t start = text.size() - tail;
  const unsigned char lead = byte(start);
  std::size_t length = 0;
  unsigned char second_low = 0x80, second_high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) second_low = 0xA0;   // no overlong forms
    if (lead == 0xED) second_high = 0x9F;  // no surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) second_low = 0x90;   // no overlong forms
    if (lead == 0xF4) second_high = 0x8F;  // nothing past U+10FFFF
  } else {
    return 0;  // ASCII, or a byte no character starts with: nothing to wait for
  }
  if (tail >= length) return 0;  // complete (or too long: invalid either way)
  if (tail >= 2 && (byte(start + 1) < second_low || byte(start + 1) > second_high)) return 0;
  return tail;
}

std::size_t replacement_tail(std::string_view text) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  std::size_t tail = 0;
  while (text.size() - tail >= kReplacement.size() &&
         text.compare(text.size() - tail - kReplacement.size(), kReplacement.size(), kReplacement) == 0)
    tail += kReplacement.size();
  return tail;
}

std::size_t partial_stop_tail(std::string_view text, const std::vector<std::string>& stop) {
  std::size_t longest = 0;
  for (const std::string& s : stop) {
    for (std::size_t n = std::min(s.size() - 1, text.size()); n > longest; --n) {
      if (text.compare(text.size() - n, n, s, 0, n) == 0) {
        longest = n;
        break;
      }
    }
  }
  return longest;
}

CompletionText::CompletionText(const Tokenizer& tokenizer, std::vector<std::string> stop)
    : tokenizer_(tokenizer), stop_(std::move(stop)) {}

std::string CompletionText::add(std::span<const TokenId> tokens) {
  if (stopped_) return {};
  const TokenId eos = tokenizer_.eos();
  for (const TokenId t : tokens)
    if (t != eos) tokens_.push_back(t);
  const std::string decoded = tokenizer_.decode(tokens_);
  std::size_t end = decoded.size() - incomplete_utf8_tail(decoded);
  end -= replacement_tail(std::string_view(decoded).substr(0, end));
  end -= partial_stop_tail(std::string_view(decoded).substr(0, end), stop_);
  return release(decoded, end);
}

std::string CompletionText::finish() {
  if (stopped_) return {};
  const std::string decoded = tokenizer_.decode(tokens_);
  return release(decoded, decoded.size());
}

std::string CompletionText::release(const std::string& decoded, std::size_t end) {
  // A stop string may begin in text released earlier (held back as a
  // partial match); it cannot begin before the longest stop string's reach.
  std::size_t longest_stop = 0;
  for (const std::string& s : stop_)
    longest_stop = std::max(longest_stop, s.size());
  const std::size_t from = released_.size() > longest_stop ? released_.size() - longest_stop : 0;
  std::size_t cut = std::string::npos;
  for (const std::string& s : stop_)
    cut = std::min(cut, decoded.find(s, from));
  if (cut != std::string::npos) {
    stopped_ = true;
    end = cut;
  }
  // Decoding more tokens extends the text decoded before (a tokenizer's
  // decode is prefix-stable past its first piece), so the new text starts
  // where the released text ends; nothing released is taken back.
  if (end <= released_.size()) return {};
  std::string fresh = decoded.substr(released_.size(), end - released_.size());
  released_ += fresh;
  return fresh;
}

}  // namespace ralm::server
