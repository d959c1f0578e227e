// A shard rank's search over its own file set (shard_files.hpp): what
// DenseRetriever and KnnLmPolicy search in one process, over the shard's rows
// alone. index: Flat scans them exactly; an IVF…,Flat shard probes its lists
// with our kernels (the same lists the unsharded index probes: the shards
// share its coarse quantizer); any other FAISS index proposes candidates
// that are ranked by their exact scores.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "exact_search.hpp"
#include "ivf_flat_scan.hpp"
#include "shard_files.hpp"

namespace ralm::dense {

struct ShardSearchOptions {
  Metric metric = Metric::inner_product;
  int threads = 1;
  // index: Flat: seeded filler rows scanned and never returned (this
  // shard's share of filler_vectors).
  std::int64_t filler_rows = 0;
  std::int64_t nprobe = 0, ef_search = 0;  // 0: the index's own
  // Approximate indexes other than IVF…,Flat: candidates per query =
  // max(k x k_factor, min_candidates), at most the shard's rows.
  std::int64_t k_factor = 1;
  std::int64_t min_candidates = 0;
};

class ShardSearch {
 public:
  ShardSearch(ShardFiles files, const ShardSearchOptions& options);
  ShardSearch(const ShardSearch&) = delete;
  ShardSearch& operator=(const ShardSearch&) = delete;

  std::int64_t dim() const { return files_.dim; }
  std::int64_t first_row() const { return files_.first_row; }
  std::int64_t rows() const { return files_.rows; }

  // The best min(k, rows()) rows of the shard for each of nq queries, ids
  // local to the shard.
  std::vector<std::vector<Hit>> search(const float* queries, std::int64_t nq, std::int64_t k) const;

 private:
  ShardFiles files_;
  ShardSearchOptions options_;
  std::vector<float> with_filler_;
  ExactSearch exact_;
  std::optional<IvfFlatScan> ivf_;
};

}  // namespace ralm::dense
