// English text analysis, shared by BM25 and the dense plugin's lsa encoder so
// that both see a text as the same terms: lower-case, split on anything that
// is not a letter or digit, drop English stop words, stem with Snowball's
// English (Porter2) stemmer. The choice follows Lucene's EnglishAnalyzer,
// which Pyserini's BM25 (In-Context RALM's retriever) uses: the same 33 stop
// words, a Porter stem.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ralm::text_analysis {

// Bumped whenever the analysis changes, so that an index built with another
// analysis is refused (indexes store it).
inline constexpr const char* kAnalyzerName = "lucene-english-stop+snowball-english/1";

class Analyzer {
 public:
  Analyzer();
  ~Analyzer();
  Analyzer(const Analyzer&) = delete;
  Analyzer& operator=(const Analyzer&) = delete;

  // The terms of `text`, in order, repeats kept.
  std::vector<std::string> terms(std::string_view text);

 private:
  struct Stemmer;
  std::unique_ptr<Stemmer> stemmer_;  // Snowball stemmers are not thread-safe: one per Analyzer
};

bool is_stop_word(std::string_view word);

}  // namespace ralm::text_analysis
