// The `bm25` retriever: a passage store and its BM25 index.
#pragma once

#include <memory>

#include "bm25_index.hpp"
#include "ralm/retriever.hpp"

namespace ralm::bm25 {

class Bm25Retriever final : public Retriever {
 public:
  Bm25Retriever(std::shared_ptr<const PassageStore> store, std::unique_ptr<Bm25Index> index, int threads);

  // Queries run in parallel, one analyser and scratch buffer per thread.
  std::vector<std::vector<Hit>> search(std::span<const std::string> queries, std::int64_t k) override;
  std::vector<float> score(std::string_view query, std::span<const PassageId> ids) override;
  Passage passage(PassageId id) const override { return store_->passage(id); }
  std::int64_t size() const override { return store_->size(); }

 private:
  std::shared_ptr<const PassageStore> store_;
  std::unique_ptr<Bm25Index> index_;
  int threads_;
};

}  // namespace ralm::bm25
