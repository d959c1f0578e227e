// Approximate search over an IVF…,Flat index, scanned list by list with our
// kernels: each query probes the `nprobe` lists whose centroids score best
// for it, and is ranked against every vector in them.
//
// Why not FAISS's own search: a batch. FAISS answers each query of a batch on
// its own, so a batch of s queries costs s searches; here each probed list is
// read once for all the queries of the batch that probe it, and the queries
// of one speculation round (consecutive positions of one text, or one
// request's successive queries) mostly probe the same lists. The answer for a
// query depends only on that query: its lists are chosen by our kernel's
// scores against the centroids, and each pair's score has the same bits in
// any batch (scan_kernels.hpp), so a round's batched verification equals the
// searches the baseline runs one at a time.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "faiss_index.hpp"
#include "ralm/types.hpp"
#include "scan_kernels.hpp"

namespace ralm::dense {

class IvfFlatScan {
 public:
  // Null unless `index` is an IVF…,Flat index (FaissIndex::flat_lists()).
  // The index must outlive the scan; its nprobe is read at every search.
  // Ids from `returnable` on (default: none) are scanned but never returned:
  // filler that gives a small corpus a large one's search cost.
  static std::optional<IvfFlatScan> of(const FaissIndex& index, Metric metric, ScanKernels kernels,
                                       std::int64_t returnable = -1);

  // The best k vectors of each query's probed lists (nq x dim queries),
  // ranked by ranks_before(): the same answer for a query in any batch.
  std::vector<std::vector<Hit>> search(const float* queries, std::int64_t nq, std::int64_t k) const;

 private:
  IvfFlatScan(const FaissIndex& index, FaissIndex::FlatLists lists, Metric metric, ScanKernels kernels,
              std::int64_t returnable);

  const FaissIndex* index_;
  FaissIndex::FlatLists lists_;
  std::int64_t dim_;
  Metric metric_;
  ScanKernels kernels_;
  std::int64_t returnable_;
};

}  // namespace ralm::dense
