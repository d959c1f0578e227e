#include "ivf_flat_scan.hpp"

#include <algorithm>

namespace ralm::dense {

namespace {

// The best k hits offered so far, in any id order: a heap whose front is the
// hit that ranks last, so nearly every offer is one float comparison.
class BestK {
 public:
  explicit BestK(std::int64_t k) : k_(static_cast<std::size_t>(k)) { heap_.reserve(k_); }
  void offer(const Hit& h) {
    if (heap_.size() < k_) {
      heap_.push_back(h);
      std::push_heap(heap_.begin(), heap_.end(), ranks_before);
    } else if (h.score >= heap_.front().score && ranks_before(h, heap_.front())) {
      std::pop_heap(heap_.begin(), heap_.end(), ranks_before);
      heap_.back() = h;
      std::push_heap(heap_.begin(), heap_.end(), ranks_before);
    }
  }
  std::vector<Hit> take() {
    std::sort(heap_.begin(), heap_.end(), ranks_before);
    return std::move(heap_);
  }

 private:
  std::size_t k_;
  std::vector<Hit> heap_;
};

}  // namespace

std::optional<IvfFlatScan> IvfFlatScan::of(const FaissIndex& index, Metric metric, ScanKernels kernels,
                                           std::int64_t returnable) {
  auto lists = index.flat_lists();
  if (!lists) return std::nullopt;
  return IvfFlatScan(index, std::move(*lists), metric, kernels, returnable < 0 ? index.size() : returnable);
}

IvfFlatScan::IvfFlatScan(const FaissIndex& index, FaissIndex::FlatLists lists, Metric metric,
                         ScanKernels kernels, std::int64_t returnable)
    : index_(&index),
      lists_(std::move(lists)),
      dim_(index.dim()),
      metric_(metric),
      kernels_(kernels),
      returnable_(returnable) {}

std::vector<std::vector<Hit>> IvfFlatScan::search(const float* queries, std::int64_t nq,
                                                  std::int64_t k) const {
  const std::int64_t nlist = lists_.nlist;
  const std::int64_t nprobe = std::clamp<std::int64_t>(index_->nprobe(), 1, nlist);
  // Each query's lists: the nprobe best centroids by our own scores.
  std::vector<float> centroid_scores(static_cast<std::size_t>(nq * nlist));
  score_block(kernels_, metric_, queries, nq, lists_.centroids, nlist, dim_, dim_, centroid_scores.data(),
              nlist);
  std::vector<std::vector<std::int64_t>> probing(static_cast<std::size_t>(nlist));  // list -> its queries
  for (std::int64_t q = 0; q < nq; ++q) {
    std::vector<Hit> best(static_cast<std::size_t>(nlist));
    for (std::int64_t l = 0; l < nlist; ++l)
      best[static_cast<std::size_t>(l)] = {l, centroid_scores[static_cast<std::size_t>(q * nlist + l)]};
    rank_hits(best, nprobe);
    for (const Hit& h : best)
      probing[static_cast<std::size_t>(h.id)].push_back(q);
  }
  // Each probed list once, for all its queries.
  std::vector<BestK> top(static_cast<std::size_t>(nq), BestK(k));
  std::vector<float> batch, scores;
  for (std::int64_t l = 0; l < nlist; ++l) {
    const auto& qs = probing[static_cast<std::size_t>(l)];
    const std::int64_t rows = lists_.sizes[static_cast<std::size_t>(l)];
    if (qs.empty() || rows == 0) continue;
    const auto m = static_cast<std::int64_t>(qs.size());
    batch.resize(static_cast<std::size_t>(m * dim_));
    for (std::int64_t i = 0; i < m; ++i)
      std::copy_n(queries + qs[static_cast<std::size_t>(i)] * dim_, dim_, batch.data() + i * dim_);
    scores.resize(static_cast<std::size_t>(m * rows));
    score_block(kernels_, metric_, batch.data(), m, lists_.vectors[static_cast<std::size_t>(l)], rows, dim_,
                dim_, scores.data(), rows);
    const std::int64_t* ids = lists_.ids[static_cast<std::size_t>(l)];
    for (std::int64_t i = 0; i < m; ++i) {
      BestK& best = top[static_cast<std::size_t>(qs[static_cast<std::size_t>(i)])];
      const float* s = scores.data() + i * rows;
      for (std::int64_t r = 0; r < rows; ++r) {
        if (ids[r] < returnable_) best.offer({ids[r], s[r]});
      }
    }
  }
  std::vector<std::vector<Hit>> out;
  out.reserve(static_cast<std::size_t>(nq));
  for (BestK& b : top)
    out.push_back(b.take());
  return out;
}

}  // namespace ralm::dense
