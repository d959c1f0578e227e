#include "knnlm_policy.hpp"

#include <cmath>
#include <limits>

#include "ralm/error.hpp"

namespace ralm::dense {

void interpolate_logits(std::span<float> logits, std::span<const std::pair<TokenId, double>> p_knn,
                        double lambda) {
  if (lambda == 0.0 || logits.empty()) return;
  double max = -std::numeric_limits<double>::infinity();
  for (float x : logits)
    max = std::max(max, static_cast<double>(x));
  double sum = 0;
  for (float x : logits)
    sum += std::exp(static_cast<double>(x) - max);
  const double log_z = max + std::log(sum);
  // log((1 − λ)·p_LM) for every token, then the tokens kNN votes for.
  const double log_keep = lambda < 1.0 ? std::log1p(-lambda) : -std::numeric_limits<double>::infinity();
  std::vector<double> p_lm;
  p_lm.reserve(p_knn.size());
  for (const auto& [token, p] : p_knn)
    p_lm.push_back(std::exp(static_cast<double>(logits[static_cast<std::size_t>(token)]) - log_z));
  for (float& x : logits)
    x = static_cast<float>(static_cast<double>(x) - log_z + log_keep);
  for (std::size_t i = 0; i < p_knn.size(); ++i) {
    const auto [token, p] = p_knn[i];
    logits[static_cast<std::size_t>(token)] =
        static_cast<float>(std::log(lambda * p + (1.0 - lambda) * p_lm[i]));
  }
}

KnnLmPolicy::KnnLmPolicy(std::shared_ptr<const PassageStore> store, Datastore datastore, KnnLmOptions options)
    : store_(std::move(store)),
      datastore_(std::move(datastore)),
      options_(options),
      exact_(datastore_.key_rows(), datastore_.entries, datastore_.key_dim, options.metric,
             default_scan_kernels(), options.threads) {
  if (datastore_.faiss) ivf_ = IvfFlatScan::of(*datastore_.faiss, options.metric, default_scan_kernels());
}

// kNN-LM remembers nothing between positions: each lookup uses its own key.
std::unique_ptr<PolicyState> KnnLmPolicy::begin(const Tokens&) {
  return std::make_unique<NoPolicyState>();
}

// The layout is the input and what was generated, as with `none`.
Layout KnnLmPolicy::on_retrieval(PolicyState&, const Tokens& input, const Tokens& generated,
                                 std::span<const RetrievedPassage>) {
  return text_only_layout(input, generated);
}

std::vector<std::vector<Hit>> KnnLmPolicy::search(std::span<const float> keys, std::int64_t k) const {
  const auto dim = static_cast<std::size_t>(datastore_.key_dim);
  if (keys.empty() || keys.size() % dim != 0) {
    throw Error("knnlm: keys of total width " + std::to_string(keys.size()) + " for a datastore of width " +
                std::to_string(dim));
  }
  const auto nq = static_cast<std::int64_t>(keys.size() / dim);
  k = std::max(k, options_.k);
  if (shards_) return shards_->search(keys.data(), nq, k);
  if (!datastore_.faiss) return exact_.search(keys.data(), nq, k);
  if (ivf_) return ivf_->search(keys.data(), nq, k);
  // FAISS answers each query on its own and the candidates are ranked by
  // their exact scores, so a key's neighbours do not depend on the batch.
  // The pool does not grow with k: its best top_k() stay what they are.
  const std::int64_t kc = std::min(datastore_.entries, options_.k * options_.k_factor);
  const std::vector<std::int64_t> candidates =
      datastore_.faiss->search(keys.data(), nq, kc, options_.threads);
  return exact_.rerank(keys.data(), nq, candidates, kc, std::min(k, kc));
}

std::vector<Hit> KnnLmPolicy::neighbours(std::span<const float> key) const {
  if (static_cast<std::int64_t>(key.size()) != datastore_.key_dim) {
    throw Error("knnlm: a key of width " + std::to_string(key.size()) + " for a datastore of width " +
                std::to_string(datastore_.key_dim));
  }
  return search(key, options_.k)[0];
}

std::vector<float> KnnLmPolicy::score(std::span<const float> key, std::span<const PassageId> ids) const {
  // Scored here even with shard ranks, as DenseRetriever::score_batch.
  // In chunks, so that the rows exact_.score() gathers stay in the L1 cache
  // instead of streaming a copy of the whole speculative cache through memory.
  constexpr std::size_t kChunk = 32;
  std::vector<float> out(ids.size());
  for (std::size_t i = 0; i < ids.size(); i += kChunk)
    exact_.score(key.data(), 1, ids.subspan(i, std::min(kChunk, ids.size() - i)), out.data() + i);
  return out;
}

std::vector<PassageId> KnnLmPolicy::successors(PassageId id, std::int32_t n) const {
  std::vector<PassageId> next;
  for (PassageId at = id; static_cast<std::int32_t>(next.size()) < n;) {
    at = datastore_.successor(at);
    if (at < 0) break;
    next.push_back(at);
  }
  return next;
}

void KnnLmPolicy::adjust_with(std::span<float> logits, std::span<const Hit> hits) const {
  // An approximate index may find nothing in the lists it probes: then there
  // is no kNN distribution to mix in, and the model's stands.
  if (options_.lambda == 0.0 || hits.empty()) return;
  const auto p_knn = knn_distribution(hits, options_.temperature, [&](PassageId id) {
    const TokenId t = datastore_.value(id);
    if (t < 0 || static_cast<std::size_t>(t) >= logits.size())
      throw Error("knnlm: datastore value " + std::to_string(t) + " outside the model's vocabulary");
    return t;
  });
  interpolate_logits(logits, p_knn, options_.lambda);
}

void KnnLmPolicy::adjust_logits(PolicyState&, std::span<float> logits, std::span<const float> key) {
  if (options_.lambda == 0.0) return;
  adjust_with(logits, neighbours(key));
}

}  // namespace ralm::dense
