// Exact top-k over a matrix of passage vectors with the scan kernels: the
// `Flat` index, and the rescoring every dense search ends with.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "ralm/types.hpp"
#include "scan_kernels.hpp"

namespace ralm::dense {

class ExactSearch {
 public:
  // `vectors`: n x dim, row-major, kept alive by the owner. A scan uses at
  // most one thread per `bytes_per_thread` of vectors: below that, waking a
  // second thread costs more than it saves (on a loaded machine a scheduler
  // time slice, milliseconds, against a scan of a fraction of one).
  //
  // Rows from `returnable` on (default: none) are scanned but never returned:
  // filler that gives a small corpus the scan cost of a large one, for
  // benchmarks of the retrieval-dominated regime.
  ExactSearch(const float* vectors, std::int64_t n, std::int64_t dim, Metric metric, ScanKernels kernels,
              int threads, std::int64_t bytes_per_thread = std::int64_t{16} << 20,
              std::int64_t returnable = -1);

  std::int64_t size() const { return returnable_; }
  std::int64_t scanned_rows() const { return n_; }
  std::int64_t dim() const { return dim_; }
  Metric metric() const { return metric_; }
  ScanKernels kernels() const { return kernels_; }

  // The best k rows for each of nq queries (nq x dim), ranked by
  // ranks_before(). One pass over the vectors for the whole batch, split
  // across threads by row ranges.
  std::vector<std::vector<Hit>> search(const float* queries, std::int64_t nq, std::int64_t k) const;

  // out[q * ids.size() + i] = the score of row ids[i] for query q: the same
  // kernel, so the same bits as search(). Ids must be in 0..size()-1.
  void score(const float* queries, std::int64_t nq, std::span<const PassageId> ids, float* out) const;

  // Ranks each query's candidates (nq x per_query ids, -1 for none, as FAISS
  // returns them) by their exact scores and keeps the best k.
  std::vector<std::vector<Hit>> rerank(const float* queries, std::int64_t nq,
                                       std::span<const std::int64_t> candidates, std::int64_t per_query,
                                       std::int64_t k) const;

 private:
  const float* vectors_;
  std::int64_t n_, dim_, returnable_;
  Metric metric_;
  ScanKernels kernels_;
  int threads_;
  std::int64_t bytes_per_thread_;
};

}  // namespace ralm::dense
