#include "filler_index.hpp"

#include <cmath>
#include <vector>

#include "ralm/log.hpp"

namespace ralm::dense {

namespace {

std::vector<float> corpus_like_rows(const float* vectors, std::int64_t n, std::int64_t dim,
                                    std::int64_t filler) {
  std::vector<float> all(static_cast<std::size_t>((n + filler) * dim));
  std::copy(vectors, vectors + n * dim, all.begin());
  std::uint64_t x = 0x2545F4914F6CDD1Dull;
  const auto uniform = [&x] {  // xorshift, in [-0.5, 0.5)
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return static_cast<float>(x >> 40) / static_cast<float>(1 << 24) - 0.5f;
  };
  for (std::int64_t i = 0; i < filler; ++i) {
    const float* source = vectors + (i % n) * dim;
    float* row = all.data() + (n + i) * dim;
    double norm = 0;
    for (std::int64_t c = 0; c < dim; ++c)
      norm += static_cast<double>(source[c]) * source[c];
    // Noise of about the source's own norm: a neighbour, not a copy.
    const auto scale = static_cast<float>(2.0 * std::sqrt(norm / static_cast<double>(dim)));
    for (std::int64_t c = 0; c < dim; ++c)
      row[c] = source[c] + scale * uniform();
  }
  return all;
}

std::string file_safe(std::string s) {
  for (char& c : s) {
    if (c == ',') c = '_';
  }
  return s;
}

}  // namespace

std::unique_ptr<FaissIndex> filler_index(const float* vectors, std::int64_t n, std::int64_t dim,
                                         std::int64_t filler, const std::string& factory, Metric metric,
                                         const std::filesystem::path& dir, int threads) {
  const auto file = dir / ("filler-" + std::to_string(filler) + "-" + file_safe(factory) + "-" +
                           metric_name(metric) + ".faiss");
  if (std::filesystem::exists(file)) return std::make_unique<FaissIndex>(file);
  log_info("faiss: building " + factory + " over the corpus and " + std::to_string(filler) +
           " filler vectors into " + file.string());
  const std::vector<float> all = corpus_like_rows(vectors, n, dim, filler);
  // Written aside and renamed: an interrupted build leaves nothing behind.
  const auto partial = std::filesystem::path(file.string() + ".partial");
  auto index = FaissIndex::build(partial, factory, metric, all.data(), n + filler, dim, threads,
                                 /*max_train=*/std::int64_t{256} * 1024);
  std::filesystem::rename(partial, file);
  return index;
}

}  // namespace ralm::dense
