#include "ralm/text_analysis/analyzer.hpp"

#include <libstemmer.h>

#include <algorithm>
#include <array>
#include <cctype>

#include "ralm/error.hpp"

namespace ralm::text_analysis {

struct Analyzer::Stemmer {
  sb_stemmer* stemmer = nullptr;
  ~Stemmer() {
    if (stemmer) sb_stemmer_delete(stemmer);
  }
};

Analyzer::Analyzer() : stemmer_(std::make_unique<Stemmer>()) {
  stemmer_->stemmer = sb_stemmer_new("english", "UTF_8");
  if (!stemmer_->stemmer) throw Error("text analysis: libstemmer has no English stemmer");
}

Analyzer::~Analyzer() = default;

// Lucene's EnglishAnalyzer.ENGLISH_STOP_WORDS_SET, sorted.
bool is_stop_word(std::string_view word) {
  static constexpr std::array<std::string_view, 33> kStop = {
      "a",   "an",    "and",  "are",   "as",    "at",   "be",   "but", "by",  "for",  "if",
      "in",  "into",  "is",   "it",    "no",    "not",  "of",   "on",  "or",  "such", "that",
      "the", "their", "then", "there", "these", "they", "this", "to",  "was", "will", "with"};
  return std::binary_search(kStop.begin(), kStop.end(), word);
}

std::vector<std::string> Analyzer::terms(std::string_view text) {
  std::vector<std::string> out;
  std::string word;
  auto flush = [&] {
    if (word.empty() || is_stop_word(word)) {
      word.clear();
      return;
    }
    const sb_symbol* stem = sb_stemmer_stem(
        stemmer_->stemmer, reinterpret_cast<const sb_symbol*>(word.data()), static_cast<int>(word.size()));
    if (!stem) throw Error("text analysis: out of memory while stemming");
    out.emplace_back(reinterpret_cast<const char*>(stem),
                     static_cast<std::size_t>(sb_stemmer_length(stemmer_->stemmer)));
    word.clear();
  };
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    // Bytes of multi-byte UTF-8 characters count as letters, so accented
    // words stay whole.
    if (std::isalnum(c) || c >= 0x80) {
      word.push_back(static_cast<char>(std::tolower(c)));
    } else {
      flush();
    }
  }
  flush();
  return out;
}

}  // namespace ralm::text_analysis
