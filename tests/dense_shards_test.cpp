// The shard file sets of a dense index (plugins/dense/shard_files.hpp) and a
// shard rank's search over one (shard_search.hpp), without MPI: each shard
// searched here, the local top k merged as rank 0 merges them. Exact and
// IVF…,Flat shards give the unsharded search's hits bit for bit; IVF-PQ
// shards re-rank a superset of the unsharded candidates, so each rank of
// their top k scores at least the unsharded one's, and equals it when the
// candidates are the whole probed lists. Broken or mismatched sets are
// InputErrors naming the file. (mpi_dense_test.sh runs the same over ranks.)
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "faiss_index.hpp"
#include "ralm/error.hpp"
#include "run_command.hpp"
#include "shard_files.hpp"
#include "shard_search.hpp"

namespace {

namespace fs = std::filesystem;
using namespace ralm::dense;
using ralm::Hit;
using ralm::test::TempDir;

constexpr std::int64_t kRows = 3000, kDim = 16, kQueries = 24, kK = 10;

// Clustered rows (as real vectors are), so that an IVF's lists matter.
std::vector<float> clustered_rows(std::int64_t rows, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> centres(static_cast<std::size_t>(32 * kDim));
  for (float& x : centres)
    x = 4 * g(rng);
  std::vector<float> m(static_cast<std::size_t>(rows * kDim));
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::int64_t c = static_cast<std::int64_t>(rng() % 32);
    for (std::int64_t d = 0; d < kDim; ++d)
      m[static_cast<std::size_t>(r * kDim + d)] = centres[static_cast<std::size_t>(c * kDim + d)] + g(rng);
  }
  return m;
}

struct Fixture {
  TempDir dir;
  std::vector<float> rows = clustered_rows(kRows, 1);
  std::vector<float> queries = clustered_rows(kQueries, 2);

  ShardSetSpec sets(std::int64_t shards, const std::string& index) const {
    ShardSetSpec s;
    s.dir = dir.path() / "index";
    s.rows_file = "vectors.f32";
    s.identity = {{"corpus_checksum", "c0ffee"}};
    s.rebuild_hint = "rebuild them";
    s.shards = shards;
    if (index != "Flat") {
      s.index = index;
      s.faiss_folder = "faiss-" + std::to_string(std::hash<std::string>()(index));
    }
    return s;
  }

  // Builds `shards` sets of the rows (an approximate index trained once over
  // all of them) and searches each, merged by ranks_before().
  std::vector<std::vector<Hit>> sharded_search(std::int64_t shards, const std::string& index,
                                               const ShardSearchOptions& options) const {
    const ShardSetSpec s = sets(shards, index);
    // Trained once per index string, as `ralm index build` trains once.
    std::unique_ptr<FaissIndex>& trained = trained_[index];
    if (index != "Flat" && !trained)
      trained = FaissIndex::build("", index, options.metric, rows.data(), kRows, kDim, 1);
    build_shard_sets(s, rows.data(), kRows, kDim, trained.get(), 1, false);
    std::vector<std::vector<Hit>> merged(static_cast<std::size_t>(kQueries));
    for (std::int64_t shard = 0; shard < shards; ++shard) {
      const ShardSearch search(open_shard(s, shard), options);
      const auto hits = search.search(queries.data(), kQueries, kK);
      for (std::int64_t q = 0; q < kQueries; ++q) {
        for (Hit h : hits[static_cast<std::size_t>(q)]) {
          h.id += search.first_row();
          merged[static_cast<std::size_t>(q)].push_back(h);
        }
      }
    }
    for (auto& q : merged)
      ralm::rank_hits(q, kK);
    return merged;
  }

 private:
  mutable std::map<std::string, std::unique_ptr<FaissIndex>> trained_;
};

void expect_same_hits(const std::vector<std::vector<Hit>>& a, const std::vector<std::vector<Hit>>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t q = 0; q < a.size(); ++q) {
    ASSERT_EQ(a[q].size(), b[q].size()) << "query " << q;
    for (std::size_t i = 0; i < a[q].size(); ++i) {
      EXPECT_EQ(a[q][i].id, b[q][i].id) << "query " << q << " rank " << i;
      EXPECT_EQ(a[q][i].score, b[q][i].score) << "query " << q << " rank " << i;
    }
  }
}

TEST(ShardSets, ExactShardsMergeToTheUnshardedSearch) {
  const Fixture f;
  ShardSearchOptions options;
  expect_same_hits(f.sharded_search(3, "Flat", options), f.sharded_search(1, "Flat", options));
}

TEST(ShardSets, IvfFlatShardsProbeTheUnshardedListsAndMergeToItsHits) {
  const Fixture f;
  ShardSearchOptions options;
  options.nprobe = 2;  // of 16: approximate
  const auto one = f.sharded_search(1, "IVF16,Flat", options);
  expect_same_hits(f.sharded_search(4, "IVF16,Flat", options), one);
  // The search is approximate indeed: it differs from exact search.
  ShardSearchOptions exact;
  const auto truth = f.sharded_search(1, "Flat", exact);
  std::int64_t differ = 0;
  for (std::size_t q = 0; q < one.size(); ++q)
    if (one[q].size() != truth[q].size() || one[q].back().id != truth[q].back().id) ++differ;
  EXPECT_GT(differ, 0);
}

TEST(ShardSets, IvfPqShardsRerankASupersetOfTheUnshardedCandidates) {
  const Fixture f;
  ShardSearchOptions options;
  options.nprobe = 4;
  options.min_candidates = 12;  // few: the shards' extra candidates matter
  const auto one = f.sharded_search(1, "IVF16,PQ4x4np", options);
  const auto three = f.sharded_search(3, "IVF16,PQ4x4np", options);
  std::int64_t better = 0;
  for (std::size_t q = 0; q < one.size(); ++q) {
    ASSERT_EQ(one[q].size(), three[q].size());
    for (std::size_t i = 0; i < one[q].size(); ++i) {
      EXPECT_GE(three[q][i].score, one[q][i].score) << "query " << q << " rank " << i;
      if (three[q][i].score > one[q][i].score) ++better;
    }
  }
  EXPECT_GT(better, 0) << "the test should show the difference it states";
  // With every probed row a candidate, the shards' top k is the unsharded one.
  options.min_candidates = kRows;
  expect_same_hits(f.sharded_search(3, "IVF16,PQ4x4np", options), f.sharded_search(1, "IVF16,PQ4x4np", options));
}

// The InputError of opening `shard` of `s`, with `what` in it.
void expect_refused(const ShardSetSpec& s, std::int64_t shard, const std::string& what) {
  try {
    (void)open_shard(s, shard);
    ADD_FAILURE() << "opened; expected an error with: " << what;
  } catch (const ralm::InputError& e) {
    EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "one line: " << e.what();
  }
}

TEST(ShardSets, MismatchedOrBrokenSetsAreRefusedNamingTheFile) {
  const Fixture f;
  ShardSearchOptions options;
  (void)f.sharded_search(3, "Flat", options);
  const ShardSetSpec three = f.sets(3, "Flat");
  expect_refused(f.sets(2, "Flat"), 0,
                 "shard-0-of-2: missing (shard 0 of 2; the folder has shard file sets for shards: 3)");
  ShardSetSpec other_corpus = three;
  other_corpus.identity["corpus_checksum"] = "0ther";
  expect_refused(other_corpus, 1, "shard-1-of-3/meta.json: built for corpus_checksum \"c0ffee\"");
  expect_refused(f.sets(3, "IVF16,Flat"), 2, "meta.json: missing");
  fs::resize_file(three.shard_dir(2) / "vectors.f32", static_cast<std::uintmax_t>(4 * kDim * 7 + 2));
  expect_refused(three, 2, "shard-2-of-3/vectors.f32: its size disagrees with meta.json's rows and dim");
}

}  // namespace
