#include "retriever_access.hpp"

#include <algorithm>

namespace ralm::server {

std::vector<Hit> RetrieverAccess::search(const std::string& query, std::int64_t k) {
  std::lock_guard lock(mutex_);
  const std::string queries[] = {query};
  return retriever_->search(queries, std::min(k, std::max<std::int64_t>(retriever_->size(), 1))).at(0);
}

core::ResultJson RetrieverAccess::passages_json(std::span<const Hit> hits) {
  std::lock_guard lock(mutex_);
  return core::passages_json(hits, retriever_);
}

core::ResultJson RetrieverAccess::retrievals_json(const std::vector<core::RetrievalRecord>& records) {
  std::lock_guard lock(mutex_);
  return core::retrieval_records_json(records, retriever_);
}

}  // namespace ralm::server
