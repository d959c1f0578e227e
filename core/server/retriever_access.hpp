// The HTTP threads' way to the pipeline's retriever, for /v1/retrieve and the
// passages a completion's answer shows. The Retriever interface lets two
// threads call it at once; the HTTP threads take turns through one mutex, so
// that the server adds one caller beside the engine's own.
#pragma once

#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "ralm/core/engine/result_json.hpp"
#include "ralm/retriever.hpp"

namespace ralm::server {

class RetrieverAccess {
 public:
  explicit RetrieverAccess(Retriever* retriever) : retriever_(retriever) {}

  bool available() const { return retriever_ != nullptr; }
  // The best k passages for one query (k beyond the store: all of it).
  std::vector<Hit> search(const std::string& query, std::int64_t k);
  core::ResultJson passages_json(std::span<const Hit> hits);
  core::ResultJson retrievals_json(const std::vector<core::RetrievalRecord>& records);

 private:
  std::mutex mutex_;
  Retriever* retriever_;
};

}  // namespace ralm::server
