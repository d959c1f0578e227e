#include "bm25_retriever.hpp"

#include <algorithm>

#include "ralm/error.hpp"
#include "ralm/text_analysis/analyzer.hpp"

namespace ralm::bm25 {

Bm25Retriever::Bm25Retriever(std::shared_ptr<const PassageStore> store, std::unique_ptr<Bm25Index> index,
                             int threads)
    : store_(std::move(store)), index_(std::move(index)), threads_(std::max(1, threads)) {}

namespace {
void check_query(std::string_view q) {
  if (q.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    throw InputError("bm25: empty query; a query needs at least one word");
  }
}
}  // namespace

std::vector<std::vector<Hit>> Bm25Retriever::search(std::span<const std::string> queries, std::int64_t k) {
  if (k < 1 || k > size()) {
    throw InputError("bm25: k = " + std::to_string(k) + " is outside 1.." + std::to_string(size()) +
                     " (the corpus's passages)");
  }
  for (const std::string& q : queries)
    check_query(q);
  std::vector<std::vector<Hit>> results(queries.size());
  const auto n = static_cast<std::int64_t>(queries.size());
  std::exception_ptr failure;
#pragma omp parallel num_threads(std::min <std::int64_t>(threads_, std::max <std::int64_t>(n, 1)))
  {
    text_analysis::Analyzer analyzer;
    SearchScratch scratch;
#pragma omp for schedule(dynamic)
    for (std::int64_t i = 0; i < n; ++i) {
      try {
        const auto terms = Bm25Index::unique_terms(analyzer.terms(queries[static_cast<std::size_t>(i)]));
        results[static_cast<std::size_t>(i)] = index_->search(terms, k, scratch);
      } catch (...) {
#pragma omp critical
        failure = std::current_exception();
      }
    }
  }
  if (failure) std::rethrow_exception(failure);
  return results;
}

std::vector<float> Bm25Retriever::score(std::string_view query, std::span<const PassageId> ids) {
  check_query(query);
  text_analysis::Analyzer analyzer;
  const auto terms = Bm25Index::unique_terms(analyzer.terms(query));
  std::vector<float> out;
  out.reserve(ids.size());
  for (PassageId id : ids) {
    if (id < 0 || id >= size()) {
      throw InputError("bm25: passage id " + std::to_string(id) + " is outside 0.." +
                       std::to_string(size() - 1));
    }
    out.push_back(index_->score(terms, id));
  }
  return out;
}

}  // namespace ralm::bm25
