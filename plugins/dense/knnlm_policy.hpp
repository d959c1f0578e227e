// The `knnlm` context policy: kNN-LM (Khandelwal et al., 2020). At every
// position the engine hands it the model's key; it finds the k nearest
// datastore entries and rewrites the next-token distribution to
//
//   p(w) = λ · p_kNN(w) + (1 − λ) · p_LM(w),
//   p_kNN(w) ∝ Σ over neighbours i with value w of exp(score_i / T),
//
// where score_i is the exact scan's score: the negated squared L2 distance
// (`distance: l2`, the paper's) or the inner product (`distance: ip`). It
// never looks at passages, so the engine does not retrieve for it.
#pragma once

#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "datastore_files.hpp"
#include "exact_search.hpp"
#include "ivf_flat_scan.hpp"
#include "mpi_shards.hpp"
#include "ralm/context_policy.hpp"

namespace ralm::dense {

struct KnnLmOptions {
  std::int64_t k = 32;
  double lambda = 0.25;
  double temperature = 1.0;
  Metric metric = Metric::l2;
  std::int64_t k_factor = 1;  // approximate datastores: candidates = k x k_factor, ranked exactly
  int threads = 1;
};

// p_kNN as (token, probability) pairs, one per distinct token among `hits`,
// in order of first appearance; `value_of(id)` is an entry's token.
template <class ValueOf>
std::vector<std::pair<TokenId, double>> knn_distribution(std::span<const Hit> hits, double temperature,
                                                         ValueOf value_of);

// Rewrites `logits` to log(λ·p_kNN + (1 − λ)·softmax(logits)); λ = 0 leaves
// them untouched.
void interpolate_logits(std::span<float> logits, std::span<const std::pair<TokenId, double>> p_knn,
                        double lambda);

// The policy is its own NeighbourSearch: speculative kNN-LM (the engine with
// a speculation scheduler) caches the successors of the entries it finds.
class KnnLmPolicy final : public ContextPolicy, public NeighbourSearch {
 public:
  KnnLmPolicy(std::shared_ptr<const PassageStore> store, Datastore datastore, KnnLmOptions options);

  bool uses_passages() const override { return false; }
  std::unique_ptr<PolicyState> begin(const Tokens& input) override;
  Layout on_retrieval(PolicyState& state, const Tokens& input, const Tokens& generated,
                      std::span<const RetrievedPassage> passages) override;
  bool adjusts_logits() const override { return true; }
  void adjust_logits(PolicyState& state, std::span<float> logits, std::span<const float> key) override;

  const NeighbourSearch* neighbour_search() const override { return this; }

  // NeighbourSearch: the k nearest entries to each key, best first.
  std::vector<std::vector<Hit>> search(std::span<const float> keys, std::int64_t k) const override;
  std::int64_t key_dim() const override { return datastore_.key_dim; }
  std::int64_t top_k() const override { return options_.k; }
  std::vector<float> score(std::span<const float> key, std::span<const PassageId> ids) const override;
  std::vector<PassageId> successors(PassageId id, std::int32_t n) const override;
  void adjust_with(std::span<float> logits, std::span<const Hit> neighbours) const override;

  // Searches from then on by the shard ranks of an MPI job, each over its
  // shard file set (exact or approximate, as the index is); scores stay
  // this process's exact scan's.
  void use_shard_ranks(std::unique_ptr<mpi_shards::ShardClient> client) { shards_ = std::move(client); }

  // The k nearest entries to one key, best first.
  std::vector<Hit> neighbours(std::span<const float> key) const;
  const Datastore& datastore() const { return datastore_; }

 private:
  std::shared_ptr<const PassageStore> store_;
  Datastore datastore_;
  KnnLmOptions options_;
  ExactSearch exact_;
  std::unique_ptr<mpi_shards::ShardClient> shards_;
  // IVF…,Flat datastores are scanned list by list with our kernels.
  std::optional<IvfFlatScan> ivf_;
};

template <class ValueOf>
std::vector<std::pair<TokenId, double>> knn_distribution(std::span<const Hit> hits, double temperature,
                                                         ValueOf value_of) {
  std::vector<std::pair<TokenId, double>> p;
  if (hits.empty()) return p;
  // A softmax over scores / T, shifted by the best score so nothing underflows
  // to an all-zero sum.
  double best = hits[0].score;
  for (const Hit& h : hits)
    best = std::max(best, static_cast<double>(h.score));
  double total = 0;
  for (const Hit& h : hits) {
    const double w = std::exp((static_cast<double>(h.score) - best) / temperature);
    const TokenId token = value_of(h.id);
    auto it = std::find_if(p.begin(), p.end(), [&](const auto& e) { return e.first == token; });
    if (it == p.end()) {
      p.emplace_back(token, w);
    } else {
      it->second += w;
    }
    total += w;
  }
  for (auto& e : p)
    e.second /= total;
  return p;
}

}  // namespace ralm::dense
