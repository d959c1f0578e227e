// An example Retriever plugin: ranks passages by how many distinct words they
// share with the query. Small enough to read in one sitting, and it honours
// the whole Retriever contract: batched search, ties broken by the lower id,
// and score() computed by the very function search() ranks by.
#include <algorithm>
#include <cctype>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "ralm/ralm.hpp"

namespace {

std::set<std::string> words(std::string_view text) {
  std::set<std::string> out;
  std::string word;
  for (char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      word.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    } else if (!word.empty()) {
      out.insert(word);
      word.clear();
    }
  }
  if (!word.empty()) out.insert(word);
  return out;
}

class OverlapRetriever final : public ralm::Retriever {
 public:
  explicit OverlapRetriever(std::vector<std::string> texts) : texts_(std::move(texts)) {
    for (const std::string& t : texts_)
      words_.push_back(words(t));
  }

  std::vector<std::vector<ralm::Hit>> search(std::span<const std::string> queries, std::int64_t k) override {
    std::vector<std::vector<ralm::Hit>> results;
    for (const std::string& q : queries) {
      std::vector<ralm::Hit> hits;
      const auto query_words = words(q);
      for (std::size_t id = 0; id < texts_.size(); ++id) {
        hits.push_back({static_cast<ralm::PassageId>(id), overlap(query_words, id)});
      }
      ralm::rank_hits(hits, k);
      results.push_back(std::move(hits));
    }
    return results;
  }

  std::vector<float> score(std::string_view query, std::span<const ralm::PassageId> ids) override {
    const auto query_words = words(query);
    std::vector<float> out;
    for (ralm::PassageId id : ids)
      out.push_back(overlap(query_words, checked(id)));
    return out;
  }

  ralm::Passage passage(ralm::PassageId id) const override {
    return {id, "passage " + std::to_string(id), texts_[checked(id)]};
  }

  std::int64_t size() const override { return static_cast<std::int64_t>(texts_.size()); }

 private:
  float overlap(const std::set<std::string>& query_words, std::size_t id) const {
    const auto& passage_words = words_[id];
    return static_cast<float>(
        std::count_if(query_words.begin(), query_words.end(),
                      [&](const std::string& w) { return passage_words.count(w) > 0; }));
  }

  std::size_t checked(ralm::PassageId id) const {
    if (id < 0 || id >= size()) {
      throw ralm::InputError("overlap retriever: passage id " + std::to_string(id) + " is outside 0.." +
                             std::to_string(size() - 1));
    }
    return static_cast<std::size_t>(id);
  }

  std::vector<std::string> texts_;
  std::vector<std::set<std::string>> words_;
};

}  // namespace

RALM_PLUGIN("overlap-example", "1.0.0", "example out-of-tree plugin: a word-overlap retriever") {
  registrar.add<ralm::Retriever>(
      "overlap", "ranks passages by the number of distinct words shared with the query",
      {ralm::param::string_list("texts", {}, "the passages, inline"),
       ralm::param::path("file", "", "a text file with one passage per line (added after `texts`)")},
      [](const ralm::Params& p, ralm::BuildContext&) {
        std::vector<std::string> texts = p.get_string_list("texts");
        const auto file = p.get_path("file");
        if (!file.empty()) {
          std::ifstream in(file);
          if (!in) p.fail("file", "cannot open " + file.string() + "; check the path");
          for (std::string line; std::getline(in, line);) {
            if (!line.empty()) texts.push_back(line);
          }
        }
        if (texts.empty()) p.fail("texts", "no passages: give `texts: [...]` or `file: passages.txt`");
        return std::make_unique<OverlapRetriever>(std::move(texts));
      });
}
