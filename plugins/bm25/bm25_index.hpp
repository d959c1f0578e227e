// An on-disk BM25 inverted index over a passage store.
//
// Folder layout (little-endian):
//   meta.json         format, version, analyser, corpus checksum, counts, total length
//   terms.data        the sorted terms back to back; terms.offsets: T+1 uint64
//   postings.offsets  T+1 uint64 into postings.ids (uint32 passage ids, ascending
//                     per term) and postings.tfs (uint32 term frequencies)
//   lengths           N uint32: each passage's length in terms
//
// search() and score() share one scoring function, term by term in query
// order, so a score() of a passage equals, bit for bit, the score search()
// ranked it by: RaLMSpec's speculative cache depends on that.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "ralm/mapped_file.hpp"
#include "ralm/passage_store.hpp"
#include "ralm/types.hpp"

namespace ralm::bm25 {

inline constexpr const char* kIndexFormat = "ralmkit-bm25";
inline constexpr int kIndexVersion = 1;

// Builds the index of `store` (title and text of each passage) into `dir`,
// atomically.
void build_index(const PassageStore& store, const std::filesystem::path& dir, bool overwrite);

// Reusable per-thread buffers for search().
struct SearchScratch {
  std::vector<float> scores;
  std::vector<std::uint32_t> touched;
};

class Bm25Index {
 public:
  // Opens an index; one built for another corpus (checksum) or another
  // analyser is an InputError saying how to rebuild.
  Bm25Index(const std::filesystem::path& dir, const PassageStore& store, float k1, float b);

  std::int64_t passages() const { return passages_; }

  // Query terms in first-occurrence order, repeats dropped: the order both
  // search() and score() add contributions in.
  static std::vector<std::string> unique_terms(std::vector<std::string> terms);

  std::vector<Hit> search(const std::vector<std::string>& unique_query_terms, std::int64_t k,
                          SearchScratch& scratch) const;
  float score(const std::vector<std::string>& unique_query_terms, PassageId id) const;

 private:
  struct Term {
    std::uint64_t begin = 0, end = 0;  // into the postings arrays
    float idf = 0;
  };
  bool find(const std::string& term, Term& out) const;
  [[noreturn]] void corrupt(const char* file) const;
  float contribution(float idf, std::uint32_t tf, PassageId id) const {
    return idf * ((static_cast<float>(tf) * k1_plus_1_) /
                  (static_cast<float>(tf) + norm_[static_cast<std::size_t>(id)]));
  }

  std::filesystem::path dir_;
  std::int64_t passages_ = 0;
  std::int64_t term_count_ = 0;
  float k1_plus_1_ = 0;
  std::vector<float> norm_;  // k1 * (1 - b + b * length / average length), per passage
  std::unique_ptr<MappedFile> terms_data_, terms_offsets_, postings_offsets_, postings_ids_, postings_tfs_;
};

}  // namespace ralm::bm25
