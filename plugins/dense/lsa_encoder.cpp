#include "lsa_encoder.hpp"

#include <omp.h>

#include <Eigen/Dense>
#include <Eigen/Eigenvalues>
#include <Eigen/Sparse>
#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>

#include "binary_files.hpp"
#include "ralm/error.hpp"
#include "ralm/log.hpp"
#include "ralm/progress.hpp"
#include "ralm/text_analysis/analyzer.hpp"

namespace ralm::dense {

namespace fs = std::filesystem;

void normalize(float* v, std::int64_t dim) {
  double sum = 0;
  for (std::int64_t i = 0; i < dim; ++i)
    sum += static_cast<double>(v[i]) * static_cast<double>(v[i]);
  if (sum == 0) return;
  const auto scale = static_cast<float>(1.0 / std::sqrt(sum));
  for (std::int64_t i = 0; i < dim; ++i)
    v[i] *= scale;
}

std::string LsaEncoder::fingerprint_of(const LsaOptions& o) {
  return "lsa dim=" + std::to_string(o.dim) + " min_df=" + std::to_string(o.min_df) +
         " max_vocab=" + std::to_string(o.max_vocab) + " seed=" + std::to_string(o.seed) +
         " power_iterations=" + std::to_string(o.power_iterations) +
         " analyzer=" + text_analysis::kAnalyzerName;
}

void LsaEncoder::index_terms() {
  ids_.clear();
  ids_.reserve(terms_.size());
  for (std::size_t i = 0; i < terms_.size(); ++i)
    ids_.emplace(terms_[i], static_cast<std::int32_t>(i));
}

namespace {

std::string passage_text(const PassageStore& store, PassageId id) {
  std::string s(store.title(id));
  s.push_back('\n');
  s.append(store.text(id));
  return s;
}

using SparseRows = Eigen::SparseMatrix<float, Eigen::RowMajor, std::int64_t>;
using Mat = Eigen::MatrixXf;

// Replaces the columns of m by an orthonormal basis of their span.
void orthonormalize(Mat& m) {
  Eigen::HouseholderQR<Mat> qr(m);
  m = qr.householderQ() * Mat::Identity(m.rows(), m.cols());
}

}  // namespace

std::unique_ptr<LsaEncoder> LsaEncoder::train(const PassageStore& store, const LsaOptions& options,
                                              int threads) {
  auto enc = std::unique_ptr<LsaEncoder>(new LsaEncoder(options));
  const std::int64_t n = store.size();
  if (n == 0) throw InputError(store.dir().string() + ": the corpus is empty; nothing to train lsa on");

  // Pass 1: every passage's terms, interned, and each term's document frequency.
  std::unordered_map<std::string, std::int32_t> all_ids;
  std::vector<std::string> all_terms;
  std::vector<std::int64_t> df;
  std::vector<std::vector<std::int32_t>> passage_terms(static_cast<std::size_t>(n));
  {
    text_analysis::Analyzer analyzer;
    Progress progress("lsa: analysing", n, "passages");
    for (PassageId id = 0; id < n; ++id) {
      auto& ids = passage_terms[static_cast<std::size_t>(id)];
      for (std::string& t : analyzer.terms(passage_text(store, id))) {
        auto [it, fresh] = all_ids.try_emplace(std::move(t), static_cast<std::int32_t>(all_terms.size()));
        if (fresh) {
          all_terms.push_back(it->first);
          df.push_back(0);
        }
        ids.push_back(it->second);
      }
      std::sort(ids.begin(), ids.end());
      for (std::size_t i = 0; i < ids.size(); ++i)
        if (i == 0 || ids[i] != ids[i - 1]) ++df[static_cast<std::size_t>(ids[i])];
      progress.advance();
    }
    progress.finish();
  }

  // The vocabulary: the max_vocab most frequent terms with df >= min_df, in
  // term order so the saved encoder does not depend on hash order.
  std::vector<std::int32_t> kept;
  for (std::size_t t = 0; t < all_terms.size(); ++t)
    if (df[t] >= options.min_df) kept.push_back(static_cast<std::int32_t>(t));
  std::sort(kept.begin(), kept.end(), [&](std::int32_t a, std::int32_t b) {
    const auto ua = static_cast<std::size_t>(a), ub = static_cast<std::size_t>(b);
    return df[ua] != df[ub] ? df[ua] > df[ub] : all_terms[ua] < all_terms[ub];
  });
  if (static_cast<std::int64_t>(kept.size()) > options.max_vocab)
    kept.resize(static_cast<std::size_t>(options.max_vocab));
  std::sort(kept.begin(), kept.end(), [&](std::int32_t a, std::int32_t b) {
    return all_terms[static_cast<std::size_t>(a)] < all_terms[static_cast<std::size_t>(b)];
  });
  if (kept.empty()) {
    throw InputError(store.dir().string() + ": no term occurs in " + std::to_string(options.min_df) +
                     " passages; lower the retriever's min_df");
  }
  std::vector<std::int32_t> vocab_of(all_terms.size(), -1);
  for (std::size_t v = 0; v < kept.size(); ++v) {
    const auto t = static_cast<std::size_t>(kept[v]);
    vocab_of[t] = static_cast<std::int32_t>(v);
    enc->terms_.push_back(all_terms[t]);
    enc->idf_.push_back(static_cast<float>(
        std::log((1.0 + static_cast<double>(n)) / (1.0 + static_cast<double>(df[t]))) + 1.0));
  }
  enc->index_terms();
  const auto vocab = static_cast<std::int64_t>(kept.size());

  // The TF-IDF matrix, rows L2-normalised.
  SparseRows x(n, vocab);
  {
    std::vector<Eigen::Triplet<float, std::int64_t>> triplets;
    for (PassageId id = 0; id < n; ++id) {
      const auto& ids = passage_terms[static_cast<std::size_t>(id)];
      const std::size_t first = triplets.size();
      double norm = 0;
      for (std::size_t i = 0; i < ids.size();) {
        std::size_t j = i;
        while (j < ids.size() && ids[j] == ids[i])
          ++j;
        const std::int32_t v = vocab_of[static_cast<std::size_t>(ids[i])];
        if (v >= 0) {
          const float w =
              (1.0f + std::log(static_cast<float>(j - i))) * enc->idf_[static_cast<std::size_t>(v)];
          triplets.emplace_back(id, v, w);
          norm += static_cast<double>(w) * w;
        }
        i = j;
      }
      for (std::size_t i = first; i < triplets.size(); ++i) {
        triplets[i] = Eigen::Triplet<float, std::int64_t>(
            triplets[i].row(), triplets[i].col(), static_cast<float>(triplets[i].value() / std::sqrt(norm)));
      }
    }
    x.setFromTriplets(triplets.begin(), triplets.end());
  }
  passage_terms.clear();

  // Randomized truncated SVD: X ~ U S V^T; the projection is V's first dim columns.
  const Eigen::Index l = std::min<Eigen::Index>(options.dim + 10, std::min<Eigen::Index>(n, vocab));
  Progress progress("lsa: truncated SVD", options.power_iterations + 2, "steps");
  Eigen::setNbThreads(std::max(1, threads));
  Mat omega(vocab, l);
  std::mt19937_64 rng(static_cast<std::uint64_t>(options.seed));
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  for (Eigen::Index j = 0; j < l; ++j)
    for (Eigen::Index i = 0; i < vocab; ++i)
      omega(i, j) = gauss(rng);
  Mat y = x * omega;
  progress.advance();
  for (std::int64_t it = 0; it < options.power_iterations; ++it) {
    orthonormalize(y);
    Mat z = x.transpose() * y;
    orthonormalize(z);
    y = x * z;
    progress.advance();
  }
  orthonormalize(y);
  const Mat bt = x.transpose() * y;  // B^T = X^T Q: vocab x l
  const Eigen::MatrixXd gram = (bt.transpose() * bt).cast<double>();
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(gram);  // eigenvalues ascending
  progress.advance();
  progress.finish();
  const double top = std::max(eig.eigenvalues()(l - 1), 0.0);
  enc->dim_ = std::min<std::int64_t>(options.dim, l);
  if (enc->dim_ < options.dim) {
    log_warn("lsa: the corpus allows only " + std::to_string(enc->dim_) + " dimensions (asked for " +
             std::to_string(options.dim) + ")");
  }
  enc->projection_.assign(static_cast<std::size_t>(vocab * enc->dim_), 0.0f);
  for (std::int64_t c = 0; c < enc->dim_; ++c) {
    const Eigen::Index e = l - 1 - c;
    const double lambda = eig.eigenvalues()(e);
    // Directions with no singular value to speak of stay zero.
    if (lambda <= top * 1e-10 || lambda <= 0) continue;
    const Eigen::VectorXf vcol =
        (bt * eig.eigenvectors().col(e).cast<float>()) / static_cast<float>(std::sqrt(lambda));
    for (std::int64_t t = 0; t < vocab; ++t)
      enc->projection_[static_cast<std::size_t>(t * enc->dim_ + c)] = vcol(t);
  }
  return enc;
}

void LsaEncoder::encode(std::span<const std::string> texts, float* out, int threads) const {
  const auto n = static_cast<std::int64_t>(texts.size());
  const int nt = static_cast<int>(std::clamp<std::int64_t>(n / 64, 1, std::max(1, threads)));
#pragma omp parallel num_threads(nt)
  {
    text_analysis::Analyzer analyzer;
    std::vector<std::int32_t> ids;
#pragma omp for schedule(dynamic, 16)
    for (std::int64_t i = 0; i < n; ++i) {
      ids.clear();
      for (const std::string& t : analyzer.terms(texts[static_cast<std::size_t>(i)])) {
        const auto it = ids_.find(t);
        if (it != ids_.end()) ids.push_back(it->second);
      }
      // Terms in vocabulary order, so the sum's order depends only on the text.
      std::sort(ids.begin(), ids.end());
      // The projection (vocabulary x dim floats, 51 MB at the defaults) is
      // mostly out of cache: ask for all of this text's rows at once, so
      // their misses overlap instead of following one another (the first
      // load of a row was the hot spot of this loop in a profile; BM25's
      // analyser above costs about as much as the rest of the encoding).
      for (const std::int32_t v : ids) {
        const char* p =
            reinterpret_cast<const char*>(projection_.data() + static_cast<std::size_t>(v) * dim_);
        for (std::int64_t b = 0; b < dim_ * static_cast<std::int64_t>(sizeof(float)); b += 64)
          __builtin_prefetch(p + b);
      }
      float* row = out + i * dim_;
      std::fill_n(row, dim_, 0.0f);
      for (std::size_t a = 0; a < ids.size();) {
        std::size_t b = a;
        while (b < ids.size() && ids[b] == ids[a])
          ++b;
        const auto v = static_cast<std::size_t>(ids[a]);
        const float w = (1.0f + std::log(static_cast<float>(b - a))) * idf_[v];
        const float* p = projection_.data() + v * static_cast<std::size_t>(dim_);
        for (std::int64_t c = 0; c < dim_; ++c)
          row[c] += w * p[c];
        a = b;
      }
      normalize(row, dim_);
    }
  }
}

void LsaEncoder::save(const fs::path& dir) const {
  std::ofstream vocab(dir / "vocab.txt", std::ios::binary);
  for (const std::string& t : terms_)
    vocab << t << '\n';
  if (!vocab) throw Error((dir / "vocab.txt").string() + ": write failed");
  write_floats(dir / "idf.f32", idf_);
  write_floats(dir / "projection.f32", projection_);
  std::ofstream(dir / "lsa.txt") << dim_ << "\n";
}

std::unique_ptr<LsaEncoder> LsaEncoder::load(const fs::path& dir, const LsaOptions& options) {
  auto enc = std::unique_ptr<LsaEncoder>(new LsaEncoder(options));
  std::ifstream meta(dir / "lsa.txt");
  if (!(meta >> enc->dim_) || enc->dim_ < 1) {
    throw InputError((dir / "lsa.txt").string() +
                     ": missing or malformed; rebuild the index with `ralm index build --force`");
  }
  std::ifstream vocab(dir / "vocab.txt", std::ios::binary);
  for (std::string t; std::getline(vocab, t);)
    enc->terms_.push_back(t);
  enc->idf_ = read_floats(dir / "idf.f32");
  enc->projection_ = read_floats(dir / "projection.f32");
  if (enc->idf_.size() != enc->terms_.size() ||
      enc->projection_.size() != enc->terms_.size() * static_cast<std::size_t>(enc->dim_)) {
    throw InputError(dir.string() +
                     ": the lsa encoder's files disagree; rebuild the index with `ralm index build --force`");
  }
  enc->index_terms();
  return enc;
}

}  // namespace ralm::dense
