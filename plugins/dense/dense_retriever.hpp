// The `dense` retriever: dense search over a passage store.
//
// Every score it returns, from search(), score() or score_batch(), is the
// exact scan kernel's score of the (encoded query, passage vector) pair
// (scan_kernels.hpp), so score() equals search() bit for bit by construction:
//   - index: Flat    the exact scan over all vectors, a batch in one pass;
//   - anything else  FAISS proposes k x k_factor candidates per query, which
//                    are ranked by their exact scores (FAISS's own `RFlat`
//                    refinement, with our kernel). An approximate index's
//                    distances differ between code paths (a PQ code's lookup
//                    tables, HNSW's batched distance functions), and a cache
//                    that compares them with re-scored ones would see
//                    mismatches that are not there.
// An approximate search may find fewer than k passages (an IVF whose probed
// lists hold fewer); it then returns what it found.
//
// search(), score() and score_batch() may run concurrently (asynchronous
// verification beside the speculative cache): the lsa and bert encoders, the scan and
// FAISS's search keep no state between calls. With `encoder: model` they
// call the Model from several threads, which is the Model's to allow.
#pragma once

#include <memory>
#include <optional>

#include "dense_index_files.hpp"
#include "exact_search.hpp"
#include "ivf_flat_scan.hpp"
#include "mpi_shards.hpp"
#include "ralm/retriever.hpp"

namespace ralm::dense {

// The passages' vectors followed by `filler` rows of small random values
// (xorshift, seeded: the same filler on every run); empty when filler is 0.
std::vector<float> vectors_with_filler(const float* vectors, std::int64_t n, std::int64_t dim,
                                       std::int64_t filler);

class DenseRetriever final : public Retriever {
 public:
  // `filler_rows` > 0 (exact search only) appends that many seeded random
  // vectors that every search scans and none returns (ExactSearch).
  // `min_candidates` 0: kMinCandidates, or kMinCompressedCandidates for an
  // index of compressed codes (FaissIndex::exact_distances() false).
  DenseRetriever(std::shared_ptr<const PassageStore> store, DenseIndexFiles files, Metric metric,
                 std::int64_t k_factor, int threads, ScanKernels kernels = default_scan_kernels(),
                 std::int64_t filler_rows = 0, std::int64_t min_candidates = 0);

  // An approximate search asks FAISS for max(k × k_factor, min_candidates)
  // candidates, so every k up to min_candidates / k_factor sees the same
  // candidates and the top k is the first k of a search for more: RaLMSpec's
  // verification fetches `prefetch` passages and compares the first `top_k`
  // with what the baseline's search for `top_k` returned.
  static constexpr std::int64_t kMinCandidates = 64;
  // A PQ or SQ index ranks by estimated distances, so the true top 10 is
  // spread deeper in its list: IVF256,PQ64x4 at nprobe 64 found 0.915 of the
  // exact top 10 from 64 candidates and 0.972 from 256, the ceiling its probed
  // lists allow (default corpus, docs/BENCHMARKS.md).
  static constexpr std::int64_t kMinCompressedCandidates = 256;
  std::int64_t min_candidates() const { return min_candidates_; }

  std::vector<std::vector<Hit>> search(std::span<const std::string> queries, std::int64_t k) override;
  std::vector<float> score(std::string_view query, std::span<const PassageId> ids) override;
  std::vector<float> score_batch(std::span<const std::string> queries,
                                 std::span<const PassageId> ids) override;
  Passage passage(PassageId id) const override { return store_->passage(id); }
  std::int64_t size() const override { return store_->size(); }
  // With shard ranks: their slowest search and the rest, per batch.
  std::optional<RemoteSearchTimes> remote_search_times() const override;

  std::int64_t dim() const { return files_.dim; }
  const ExactSearch& exact() const { return exact_; }
  // Searches from then on by the shard ranks of an MPI job, each over its
  // shard file set (exact or approximate, as the index is); scores stay
  // this process's exact scan's.
  void use_shard_ranks(std::unique_ptr<mpi_shards::ShardClient> client) { shards_ = std::move(client); }
  // Rows of encoded queries (queries.size() x dim()).
  std::vector<float> encode(std::span<const std::string> queries) const;

 private:
  void check_ids(std::span<const PassageId> ids) const;

  std::shared_ptr<const PassageStore> store_;
  DenseIndexFiles files_;
  std::vector<float> with_filler_;  // the passages' vectors and the filler, when there is filler
  ExactSearch exact_;
  // IVF…,Flat indexes are scanned list by list with our kernels: a batch of
  // similar queries (a speculation round's) reads each list once.
  std::optional<IvfFlatScan> ivf_;
  std::unique_ptr<mpi_shards::ShardClient> shards_;
  std::int64_t k_factor_;
  std::int64_t min_candidates_;
  int threads_;
};

}  // namespace ralm::dense
