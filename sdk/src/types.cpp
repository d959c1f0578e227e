#include "ralm/types.hpp"

#include <algorithm>

namespace ralm {

void rank_hits(std::vector<Hit>& hits, std::int64_t k) {
  const auto n = static_cast<std::int64_t>(hits.size());
  if (k < 0 || k >= n) {
    std::sort(hits.begin(), hits.end(), ranks_before);
    return;
  }
  std::partial_sort(hits.begin(), hits.begin() + k, hits.end(), ranks_before);
  hits.resize(static_cast<std::size_t>(k));
}

}  // namespace ralm
