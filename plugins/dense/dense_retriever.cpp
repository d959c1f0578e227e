#include "dense_retriever.hpp"

#include <algorithm>

#include "ralm/error.hpp"

namespace ralm::dense {

std::vector<float> vectors_with_filler(const float* vectors, std::int64_t n, std::int64_t dim,
                                       std::int64_t filler) {
  if (filler <= 0) return {};
  std::vector<float> all(static_cast<std::size_t>((n + filler) * dim));
  std::copy(vectors, vectors + n * dim, all.begin());
  std::uint64_t x = 0x9E3779B97F4A7C15ull;
  for (auto it = all.begin() + n * dim; it != all.end(); ++it) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *it = (static_cast<float>(x >> 40) / static_cast<float>(1 << 24) - 0.5f) * 0.01f;
  }
  return all;
}

DenseRetriever::DenseRetriever(std::shared_ptr<const PassageStore> store, DenseIndexFiles files,
                               Metric metric, std::int64_t k_factor, int threads, ScanKernels kernels,
                               std::int64_t filler_rows, std::int64_t min_candidates)
    : store_(std::move(store)),
      files_(std::move(files)),
      with_filler_(vectors_with_filler(reinterpret_cast<const float*>(files_.vectors->bytes()),
                                       store_->size(), files_.dim, filler_rows)),
      exact_(with_filler_.empty() ? reinterpret_cast<const float*>(files_.vectors->bytes())
                                  : with_filler_.data(),
             store_->size() + std::max<std::int64_t>(filler_rows, 0), files_.dim, metric, kernels, threads,
             std::int64_t{16} << 20, store_->size()),
      ivf_(files_.faiss ? IvfFlatScan::of(*files_.faiss, metric, kernels, store_->size()) : std::nullopt),
      k_factor_(std::max<std::int64_t>(1, k_factor)),
      min_candidates_(min_candidates > 0                                 ? min_candidates
                      : files_.faiss && !files_.faiss->exact_distances() ? kMinCompressedCandidates
                                                                         : kMinCandidates),
      threads_(std::max(1, threads)) {}

std::vector<float> DenseRetriever::encode(std::span<const std::string> queries) const {
  for (const std::string& q : queries) {
    if (q.find_first_not_of(" \t\r\n") == std::string::npos) {
      throw InputError("dense: empty query; a query needs at least one word");
    }
  }
  std::vector<float> rows(queries.size() * static_cast<std::size_t>(files_.dim));
  files_.encoder->encode_queries(queries, rows.data(), threads_);
  return rows;
}

std::vector<std::vector<Hit>> DenseRetriever::search(std::span<const std::string> queries, std::int64_t k) {
  if (k < 1 || k > size()) {
    throw InputError("dense: k = " + std::to_string(k) + " is outside 1.." + std::to_string(size()) +
                     " (the corpus's passages)");
  }
  const std::vector<float> q = encode(queries);
  const auto nq = static_cast<std::int64_t>(queries.size());
  if (shards_) return shards_->search(q.data(), nq, k);
  if (!files_.faiss) return exact_.search(q.data(), nq, k);
  // Exact scores over the probed lists: every k ranks the same candidates.
  if (ivf_) return ivf_->search(q.data(), nq, k);

  const std::int64_t kc = std::min(size(), std::max(k * k_factor_, min_candidates_));
  // FAISS by the exact scan's rule: a thread per 16 MiB of vectors at most.
  const int faiss_threads = static_cast<int>(std::clamp<std::int64_t>(
      size() * files_.dim * static_cast<std::int64_t>(sizeof(float)) >> 24, 1, threads_));
  const std::vector<std::int64_t> candidates = files_.faiss->search(q.data(), nq, kc, faiss_threads);
  return exact_.rerank(q.data(), nq, candidates, kc, k);
}

std::optional<Retriever::RemoteSearchTimes> DenseRetriever::remote_search_times() const {
  if (!shards_) return std::nullopt;
  const mpi_shards::ShardClient::Times t = shards_->times();
  return RemoteSearchTimes{t.exchanges, t.wall_s, t.slowest_shard_s};
}

void DenseRetriever::check_ids(std::span<const PassageId> ids) const {
  for (PassageId id : ids) {
    if (id < 0 || id >= size()) {
      throw InputError("dense: passage id " + std::to_string(id) + " is outside 0.." +
                       std::to_string(size() - 1));
    }
  }
}

std::vector<float> DenseRetriever::score(std::string_view query, std::span<const PassageId> ids) {
  const std::string q(query);
  return score_batch(std::span<const std::string>(&q, 1), ids);
}

std::vector<float> DenseRetriever::score_batch(std::span<const std::string> queries,
                                               std::span<const PassageId> ids) {
  check_ids(ids);
  const std::vector<float> q = encode(queries);
  std::vector<float> out(queries.size() * ids.size());
  // With shard ranks too: this process maps the same index and runs the same
  // kernels (the shard ranks checked both), so its scores are theirs, bit for
  // bit, without a round trip per speculative-cache lookup.
  exact_.score(q.data(), static_cast<std::int64_t>(queries.size()), ids, out.data());
  return out;
}

}  // namespace ralm::dense
