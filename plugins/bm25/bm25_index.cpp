#include "bm25_index.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "ralm/error.hpp"
#include "ralm/progress.hpp"
#include "ralm/staging_directory.hpp"
#include "ralm/text_analysis/analyzer.hpp"

namespace ralm::bm25 {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

template <class T>
void write_array(const fs::path& file, const std::vector<T>& values) {
  std::ofstream out(file, std::ios::binary);
  out.write(reinterpret_cast<const char*>(values.data()),
            static_cast<std::streamsize>(values.size() * sizeof(T)));
  if (!out) throw Error(file.string() + ": write failed");
}

}  // namespace

void build_index(const PassageStore& store, const fs::path& dir, bool overwrite) {
  StagingDirectory staging(dir, overwrite);
  text_analysis::Analyzer analyzer;
  std::unordered_map<std::string, std::uint32_t> term_ids;
  std::vector<std::vector<std::pair<std::uint32_t, std::uint32_t>>> postings;  // per term id: (passage, tf)
  std::vector<std::uint32_t> lengths(static_cast<std::size_t>(store.size()));
  std::uint64_t total_length = 0;
  Progress progress("bm25 index", store.size(), "passages");
  std::unordered_map<std::uint32_t, std::uint32_t> tf;
  for (PassageId id = 0; id < store.size(); ++id) {
    std::string contents(store.title(id));
    contents.push_back('\n');
    contents.append(store.text(id));
    const auto terms = analyzer.terms(contents);
    tf.clear();
    for (const std::string& t : terms) {
      auto [it, fresh] = term_ids.try_emplace(t, static_cast<std::uint32_t>(term_ids.size()));
      if (fresh) postings.emplace_back();
      ++tf[it->second];
    }
    // Passages arrive in id order, so every posting list stays sorted.
    for (const auto& [term, count] : tf)
      postings[term].emplace_back(static_cast<std::uint32_t>(id), count);
    lengths[static_cast<std::size_t>(id)] = static_cast<std::uint32_t>(terms.size());
    total_length += terms.size();
    progress.advance();
  }
  progress.finish();

  std::vector<std::pair<std::string, std::uint32_t>> sorted(term_ids.begin(), term_ids.end());
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::uint64_t> term_offsets{0}, posting_offsets{0};
  std::vector<std::uint32_t> ids, tfs;
  std::string term_data;
  for (const auto& [term, tid] : sorted) {
    term_data += term;
    term_offsets.push_back(term_data.size());
    for (const auto& [passage, count] : postings[tid]) {
      ids.push_back(passage);
      tfs.push_back(count);
    }
    posting_offsets.push_back(ids.size());
  }
  {
    std::ofstream out(staging.path() / "terms.data", std::ios::binary);
    out << term_data;
  }
  write_array(staging.path() / "terms.offsets", term_offsets);
  write_array(staging.path() / "postings.offsets", posting_offsets);
  write_array(staging.path() / "postings.ids", ids);
  write_array(staging.path() / "postings.tfs", tfs);
  write_array(staging.path() / "lengths", lengths);
  const json meta = {{"format", kIndexFormat},
                     {"version", kIndexVersion},
                     {"analyzer", text_analysis::kAnalyzerName},
                     {"corpus_checksum", store.manifest().checksum},
                     {"passages", store.size()},
                     {"terms", sorted.size()},
                     {"postings", ids.size()},
                     {"total_length", total_length}};
  std::ofstream(staging.path() / "meta.json") << meta.dump(2) << "\n";
  staging.commit();
}

Bm25Index::Bm25Index(const fs::path& dir, const PassageStore& store, float k1, float b) : dir_(dir) {
  const fs::path meta_file = dir / "meta.json";
  std::ifstream in(meta_file);
  if (!in)
    throw InputError(dir.string() + ": no BM25 index here (no meta.json); build it with `ralm index build`");
  json meta;
  std::uint64_t total_length = 0;
  try {
    meta = json::parse(in);
    if (meta.at("format") != kIndexFormat || meta.at("version") != kIndexVersion) {
      throw InputError(meta_file.string() + ": not a BM25 index of this ralm version; rebuild it");
    }
    if (meta.at("analyzer") != text_analysis::kAnalyzerName) {
      throw InputError(meta_file.string() + ": built with analyser " +
                       meta.at("analyzer").get<std::string>() + ", this ralm analyses with " +
                       text_analysis::kAnalyzerName + "; delete the folder to rebuild it");
    }
    if (meta.at("corpus_checksum") != store.manifest().checksum) {
      throw InputError(meta_file.string() + ": built for corpus checksum " +
                       meta.at("corpus_checksum").get<std::string>() + ", but " + store.dir().string() +
                       " has " + store.manifest().checksum +
                       "; delete the index folder to rebuild it for this corpus");
    }
    passages_ = meta.at("passages");
    term_count_ = meta.at("terms");
    total_length = meta.at("total_length");
  } catch (const json::exception& e) {
    throw InputError(meta_file.string() + ": malformed: " + e.what());
  }
  terms_data_ = std::make_unique<MappedFile>(dir / "terms.data");
  terms_offsets_ = std::make_unique<MappedFile>(dir / "terms.offsets");
  postings_offsets_ = std::make_unique<MappedFile>(dir / "postings.offsets");
  postings_ids_ = std::make_unique<MappedFile>(dir / "postings.ids");
  postings_tfs_ = std::make_unique<MappedFile>(dir / "postings.tfs");
  const MappedFile lengths(dir / "lengths");
  const auto t = static_cast<std::size_t>(term_count_);
  if (terms_offsets_->count<std::uint64_t>() != t + 1 || postings_offsets_->count<std::uint64_t>() != t + 1 ||
      lengths.count<std::uint32_t>() != static_cast<std::size_t>(passages_) ||
      postings_ids_->size() != postings_tfs_->size() ||
      postings_offsets_->at<std::uint64_t>(t) != postings_ids_->count<std::uint32_t>()) {
    throw InputError(dir.string() +
                     ": the index files disagree with meta.json; delete the folder to rebuild it");
  }
  // Lucene's BM25: idf = ln(1 + (N - df + 0.5) / (df + 0.5)), always positive.
  const double average =
      passages_ > 0 ? static_cast<double>(total_length) / static_cast<double>(passages_) : 1.0;
  k1_plus_1_ = k1 + 1.0f;
  norm_.resize(static_cast<std::size_t>(passages_));
  for (std::size_t i = 0; i < norm_.size(); ++i) {
    norm_[i] = static_cast<float>(k1 * (1.0 - b + b * lengths.at<std::uint32_t>(i) / average));
  }
}

std::vector<std::string> Bm25Index::unique_terms(std::vector<std::string> terms) {
  std::vector<std::string> out;
  for (auto& t : terms) {
    if (std::find(out.begin(), out.end(), t) == out.end()) out.push_back(std::move(t));
  }
  return out;
}

void Bm25Index::corrupt(const char* file) const {
  throw InputError((dir_ / file).string() + ": points outside the index; the index is corrupt: delete " +
                   dir_.string() + " to rebuild it");
}

bool Bm25Index::find(const std::string& term, Term& out) const {
  std::size_t lo = 0, hi = static_cast<std::size_t>(term_count_);
  // Offsets are checked where they are read (opening checks only the counts):
  // a corrupt index is an InputError, never a read outside its files.
  const auto term_at = [&](std::size_t i) {
    const auto a = terms_offsets_->at<std::uint64_t>(i), b = terms_offsets_->at<std::uint64_t>(i + 1);
    if (a > b || b > terms_data_->size()) corrupt("terms.offsets");
    return std::string_view(terms_data_->bytes() + a, b - a);
  };
  while (lo < hi) {
    const std::size_t mid = (lo + hi) / 2;
    if (term_at(mid) < term) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  if (lo == static_cast<std::size_t>(term_count_) || term_at(lo) != term) return false;
  out.begin = postings_offsets_->at<std::uint64_t>(lo);
  out.end = postings_offsets_->at<std::uint64_t>(lo + 1);
  if (out.begin > out.end || out.end > postings_ids_->count<std::uint32_t>()) corrupt("postings.offsets");
  const double df = static_cast<double>(out.end - out.begin), n = static_cast<double>(passages_);
  out.idf = static_cast<float>(std::log(1.0 + (n - df + 0.5) / (df + 0.5)));
  return true;
}

std::vector<Hit> Bm25Index::search(const std::vector<std::string>& query, std::int64_t k,
                                   SearchScratch& s) const {
  // The buffer stays zero between queries (only touched entries are reset
  // below), so a query costs its postings, not the corpus size.
  s.scores.resize(static_cast<std::size_t>(passages_), 0.0f);
  s.touched.clear();
  const auto* ids = reinterpret_cast<const std::uint32_t*>(postings_ids_->bytes());
  const auto* tfs = reinterpret_cast<const std::uint32_t*>(postings_tfs_->bytes());
  for (const std::string& term : query) {
    Term t;
    if (!find(term, t)) continue;
    for (std::uint64_t p = t.begin; p < t.end; ++p) {
      if (ids[p] >= s.scores.size()) corrupt("postings.ids");
      float& score = s.scores[ids[p]];
      // Every contribution is positive, so zero means "not seen yet".
      if (score == 0.0f) s.touched.push_back(ids[p]);
      score += contribution(t.idf, tfs[p], ids[p]);
    }
  }
  std::vector<Hit> hits;
  hits.reserve(s.touched.size());
  for (std::uint32_t id : s.touched)
    hits.push_back({id, s.scores[id]});
  rank_hits(hits, k);
  // Fewer matches than k: the rest of the ranking is every other passage at
  // score 0, lower ids first.
  for (PassageId id = 0; static_cast<std::int64_t>(hits.size()) < k && id < passages_; ++id) {
    if (s.scores[static_cast<std::size_t>(id)] == 0.0f) hits.push_back({id, 0.0f});
  }
  for (std::uint32_t id : s.touched)
    s.scores[id] = 0.0f;
  return hits;
}

float Bm25Index::score(const std::vector<std::string>& query, PassageId id) const {
  const auto* ids = reinterpret_cast<const std::uint32_t*>(postings_ids_->bytes());
  const auto* tfs = reinterpret_cast<const std::uint32_t*>(postings_tfs_->bytes());
  float score = 0.0f;
  for (const std::string& term : query) {
    Term t;
    if (!find(term, t)) continue;
    const auto* first = ids + t.begin;
    const auto* last = ids + t.end;
    const auto* it = std::lower_bound(first, last, static_cast<std::uint32_t>(id));
    if (it != last && *it == id) score += contribution(t.idf, tfs[it - ids], id);
  }
  return score;
}

}  // namespace ralm::bm25
