#include "exact_search.hpp"

#include <omp.h>

#include <algorithm>

namespace ralm::dense {

namespace {

// Rows per kernel call: about 256 KiB of vectors, which stay in L2 while
// every group of 8 queries passes over them, in whole register blocks.
std::int64_t rows_per_block(std::int64_t dim) {
  const std::int64_t rows = (std::int64_t{256} << 10) / (std::max<std::int64_t>(dim, 1) * 4);
  return std::max(kScanRowMultiple, rows / kScanRowMultiple * kScanRowMultiple);
}

// The best k hits seen so far: a heap whose top is the hit that ranks last.
// A thread offers ids in ascending order, so a score equal to the worst kept
// one ranks after it (ties go to the lower id) and is rejected by one float
// comparison with the threshold, as almost every other score is once the
// heap is full: next_above() compares 16 scores per instruction.
class TopK {
 public:
  TopK(std::int64_t k, ScanKernels kernels)
      : k_(static_cast<std::size_t>(std::max<std::int64_t>(k, 0))), kernels_(kernels) {
    heap_.reserve(k_);
  }
  void offer_block(PassageId first, const float* scores, std::int64_t n) {
    std::int64_t r = 0;
    for (; r < n && heap_.size() < k_; ++r)
      add({first + r, scores[r]});
    if (k_ == 0 || heap_.size() < k_) return;  // nothing to keep, or fewer rows than k so far
    for (r = next_above(kernels_, scores, r, n, heap_.front().score); r < n;
         r = next_above(kernels_, scores, r + 1, n, heap_.front().score)) {
      add({first + r, scores[r]});
    }
  }
  std::vector<Hit>& hits() { return heap_; }

 private:
  void add(const Hit& h) {
    if (heap_.size() < k_) {
      heap_.push_back(h);
      std::push_heap(heap_.begin(), heap_.end(), ranks_before);
    } else {
      std::pop_heap(heap_.begin(), heap_.end(), ranks_before);
      heap_.back() = h;
      std::push_heap(heap_.begin(), heap_.end(), ranks_before);
    }
  }

  std::size_t k_;
  ScanKernels kernels_;
  std::vector<Hit> heap_;
};

}  // namespace

ExactSearch::ExactSearch(const float* vectors, std::int64_t n, std::int64_t dim, Metric metric,
                         ScanKernels kernels, int threads, std::int64_t bytes_per_thread,
                         std::int64_t returnable)
    : vectors_(vectors),
      n_(n),
      dim_(dim),
      returnable_(returnable < 0 ? n : std::min(returnable, n)),
      metric_(metric),
      kernels_(kernels),
      threads_(std::max(1, threads)),
      bytes_per_thread_(bytes_per_thread) {}

std::vector<std::vector<Hit>> ExactSearch::search(const float* queries, std::int64_t nq,
                                                  std::int64_t k) const {
  k = std::min(k, returnable_);
  const std::int64_t block = rows_per_block(dim_);
  const int threads = static_cast<int>(std::clamp<std::int64_t>(
      n_ * dim_ * static_cast<std::int64_t>(sizeof(float)) / std::max<std::int64_t>(1, bytes_per_thread_), 1,
      threads_));
  std::vector<std::vector<std::vector<Hit>>> partial(static_cast<std::size_t>(std::max(threads, 1)));
#pragma omp parallel num_threads(std::max(threads, 1))
  {
    const auto t = static_cast<std::int64_t>(omp_get_thread_num());
    const auto nt = static_cast<std::int64_t>(omp_get_num_threads());
    // Contiguous row ranges, whole blocks each.
    const std::int64_t blocks = (n_ + block - 1) / block;
    const std::int64_t b0 = blocks * t / nt, b1 = blocks * (t + 1) / nt;
    std::vector<TopK> top(static_cast<std::size_t>(nq), TopK(k, kernels_));
    std::vector<float> scores(static_cast<std::size_t>(nq * block));
    for (std::int64_t b = b0; b < b1; ++b) {
      const std::int64_t r0 = b * block, rows = std::min(block, n_ - r0);
      score_block(kernels_, metric_, queries, nq, vectors_ + r0 * dim_, rows, dim_, dim_, scores.data(),
                  block);
      for (std::int64_t q = 0; q < nq; ++q)
        top[static_cast<std::size_t>(q)].offer_block(r0, scores.data() + q * block,
                                                     std::clamp<std::int64_t>(returnable_ - r0, 0, rows));
    }
    auto& mine = partial[static_cast<std::size_t>(t)];
    for (TopK& tk : top)
      mine.push_back(std::move(tk.hits()));
  }
  // The ranking is a total order (ties go to the lower id), so merging the
  // threads' lists gives the same result whatever the split.
  std::vector<std::vector<Hit>> out(static_cast<std::size_t>(nq));
  for (std::int64_t q = 0; q < nq; ++q) {
    auto& hits = out[static_cast<std::size_t>(q)];
    for (auto& p : partial) {
      if (p.empty()) continue;
      auto& h = p[static_cast<std::size_t>(q)];
      hits.insert(hits.end(), h.begin(), h.end());
    }
    rank_hits(hits, k);
  }
  return out;
}

void ExactSearch::score(const float* queries, std::int64_t nq, std::span<const PassageId> ids,
                        float* out) const {
  // Gather the rows, then one kernel call: each pair's bits do not depend on
  // the block it is computed in (scan_kernels.hpp).
  const auto m = static_cast<std::int64_t>(ids.size());
  std::vector<float> rows(static_cast<std::size_t>(m * dim_));
  for (std::int64_t i = 0; i < m; ++i) {
    std::copy_n(vectors_ + ids[static_cast<std::size_t>(i)] * dim_, dim_, rows.data() + i * dim_);
  }
  score_block(kernels_, metric_, queries, nq, rows.data(), m, dim_, dim_, out, m);
}

std::vector<std::vector<Hit>> ExactSearch::rerank(const float* queries, std::int64_t nq,
                                                  std::span<const std::int64_t> candidates,
                                                  std::int64_t per_query, std::int64_t k) const {
  std::vector<std::vector<Hit>> results(static_cast<std::size_t>(nq));
  std::vector<PassageId> ids;
  std::vector<float> scores;
  for (std::int64_t i = 0; i < nq; ++i) {
    ids.clear();
    for (std::int64_t j = 0; j < per_query; ++j) {
      const std::int64_t id = candidates[static_cast<std::size_t>(i * per_query + j)];
      if (id >= 0 && id < returnable_) ids.push_back(id);
    }
    scores.resize(ids.size());
    score(queries + i * dim_, 1, ids, scores.data());
    auto& hits = results[static_cast<std::size_t>(i)];
    for (std::size_t j = 0; j < ids.size(); ++j)
      hits.push_back({ids[j], scores[j]});
    rank_hits(hits, k);
  }
  return results;
}

}  // namespace ralm::dense
