#include "shard_search.hpp"

#include <algorithm>

#include "dense_retriever.hpp"

namespace ralm::dense {

ShardSearch::ShardSearch(ShardFiles files, const ShardSearchOptions& options)
    : files_(std::move(files)),
      options_(options),
      with_filler_(vectors_with_filler(files_.data(), files_.rows, files_.dim, options.filler_rows)),
      exact_(with_filler_.empty() ? files_.data() : with_filler_.data(),
             files_.rows + std::max<std::int64_t>(options.filler_rows, 0), files_.dim, options.metric,
             default_scan_kernels(), options.threads, std::int64_t{16} << 20, files_.rows) {
  if (!files_.faiss) return;
  files_.faiss->set_search_parameters(options.nprobe, options.ef_search);
  ivf_ = IvfFlatScan::of(*files_.faiss, options.metric, default_scan_kernels());
  if (options_.min_candidates <= 0) {
    options_.min_candidates = files_.faiss->exact_distances() ? DenseRetriever::kMinCandidates
                                                              : DenseRetriever::kMinCompressedCandidates;
  }
}

std::vector<std::vector<Hit>> ShardSearch::search(const float* queries, std::int64_t nq,
                                                  std::int64_t k) const {
  k = std::min(k, files_.rows);
  if (k <= 0) return std::vector<std::vector<Hit>>(static_cast<std::size_t>(nq));
  if (!files_.faiss) return exact_.search(queries, nq, k);
  if (ivf_) return ivf_->search(queries, nq, k);
  // DenseRetriever::search's rule, over the shard's rows.
  const std::int64_t kc = std::min(
      files_.rows, std::max(k * std::max<std::int64_t>(1, options_.k_factor), options_.min_candidates));
  const int faiss_threads = static_cast<int>(std::clamp<std::int64_t>(
      files_.rows * files_.dim * static_cast<std::int64_t>(sizeof(float)) >> 24, 1, options_.threads));
  const std::vector<std::int64_t> candidates = files_.faiss->search(queries, nq, kc, faiss_threads);
  return exact_.rerank(queries, nq, candidates, kc, k);
}

}  // namespace ralm::dense
