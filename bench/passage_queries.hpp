// The retrieval benchmarks' queries and latency percentiles: runs of 32
// consecutive words from random passages of the store (seed 42), the shape
// of In-Context RALM's 32-token queries, so every benchmark searches alike.
#pragma once

#include <algorithm>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "ralm/passage_store.hpp"

namespace ralm::bench {

inline std::vector<std::string> passage_queries(const PassageStore& store, int n_queries) {
  std::mt19937_64 rng(42);
  std::vector<std::string> queries;
  while (static_cast<int>(queries.size()) < n_queries) {
    std::istringstream words{std::string(store.text(static_cast<PassageId>(rng() % store.size())))};
    std::string w, q;
    for (int i = 0; i < 32 && words >> w; ++i)
      q += (q.empty() ? "" : " ") + w;
    if (q.size() > 20) queries.push_back(q);
  }
  return queries;
}

// The value at fraction p of the sorted values (nearest rank below).
inline double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

}  // namespace ralm::bench
