// Dense retrieval: the scan kernels (AVX-512, portable) against Eigen; exact
// search against brute force; score() equal to search() bit for bit, for the
// exact scan and for each kind of FAISS index; approximate recall; the lsa
// encoder; persistence, a mismatched index, bad input; `ralm index build`.
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <fstream>
#include <limits>
#include <random>
#include <set>
#include <thread>

#include "dense_index_files.hpp"
#include "dense_retriever.hpp"
#include "exact_search.hpp"
#include "filler_index.hpp"
#include "fixture_corpus.hpp"
#include "lsa_encoder.hpp"
#include "ralm/core/corpus/corpus_builder.hpp"
#include "ralm/error.hpp"
#include "run_command.hpp"
#include "scan_kernels.hpp"

namespace {

namespace fs = std::filesystem;
using namespace ralm::dense;
using ralm::Hit;
using ralm::PassageId;
using ralm::test::TempDir;

std::vector<float> random_matrix(std::int64_t rows, std::int64_t cols, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> m(static_cast<std::size_t>(rows * cols));
  for (float& x : m)
    x = g(rng);
  return m;
}

std::vector<ScanKernels> kernel_sets() {
  std::vector<ScanKernels> sets{ScanKernels::portable};
  if (scan_kernels_supported(ScanKernels::avx512)) sets.push_back(ScanKernels::avx512);
  return sets;
}

// --- kernels ---------------------------------------------------------------

TEST(ScanKernels, MatchEigenOnOddSizes) {
  for (const ScanKernels set : kernel_sets()) {
    for (const Metric metric : {Metric::inner_product, Metric::l2}) {
      for (const std::int64_t dim : {1, 7, 16, 17, 33, 100, 257}) {
        for (const std::int64_t nq : {1, 3, 8, 9, 17}) {
          const std::int64_t nrows = 37;
          const auto q = random_matrix(nq, dim, 1), r = random_matrix(nrows, dim, 2);
          std::vector<float> out(static_cast<std::size_t>(nq * nrows));
          score_block(set, metric, q.data(), nq, r.data(), nrows, dim, dim, out.data(), nrows);
          const Eigen::Map<const Eigen::Matrix<float, -1, -1, Eigen::RowMajor>> qm(q.data(), nq, dim),
              rm(r.data(), nrows, dim);
          for (std::int64_t i = 0; i < nq; ++i) {
            for (std::int64_t j = 0; j < nrows; ++j) {
              const double want = metric == Metric::l2
                                      ? -(qm.row(i).cast<double>() - rm.row(j).cast<double>()).squaredNorm()
                                      : qm.row(i).cast<double>().dot(rm.row(j).cast<double>());
              EXPECT_NEAR(out[static_cast<std::size_t>(i * nrows + j)], want, 1e-4 * (std::abs(want) + dim))
                  << scan_kernels_name(set) << " " << metric_name(metric) << " dim " << dim << " nq " << nq;
            }
          }
        }
      }
    }
  }
}

// The invariant score() rests on: a pair's bits do not depend on the batch.
TEST(ScanKernels, APairScoresTheSameBitsInAnyBatch) {
  for (const ScanKernels set : kernel_sets()) {
    for (const Metric metric : {Metric::inner_product, Metric::l2}) {
      const std::int64_t dim = 45, nq = 11, nrows = 29;
      const auto q = random_matrix(nq, dim, 3), r = random_matrix(nrows, dim, 4);
      std::vector<float> batch(static_cast<std::size_t>(nq * nrows));
      score_block(set, metric, q.data(), nq, r.data(), nrows, dim, dim, batch.data(), nrows);
      for (std::int64_t i = 0; i < nq; ++i) {
        for (std::int64_t j = 0; j < nrows; ++j) {
          float one = 0;
          score_block(set, metric, q.data() + i * dim, 1, r.data() + j * dim, 1, dim, dim, &one, 1);
          EXPECT_EQ(one, batch[static_cast<std::size_t>(i * nrows + j)]);
        }
      }
    }
  }
}

TEST(ScanKernels, Avx512AgreesWithPortable) {
  if (!scan_kernels_supported(ScanKernels::avx512)) GTEST_SKIP() << "no AVX-512 on this CPU";
  const std::int64_t dim = 768, nq = 8, nrows = 101;
  const auto q = random_matrix(nq, dim, 5), r = random_matrix(nrows, dim, 6);
  std::vector<float> a(static_cast<std::size_t>(nq * nrows)), b(a.size());
  score_block(ScanKernels::avx512, Metric::inner_product, q.data(), nq, r.data(), nrows, dim, dim, a.data(),
              nrows);
  score_block(ScanKernels::portable, Metric::inner_product, q.data(), nq, r.data(), nrows, dim, dim, b.data(),
              nrows);
  for (std::size_t i = 0; i < a.size(); ++i)
    EXPECT_NEAR(a[i], b[i], 1e-3);
  EXPECT_EQ(choose_scan_kernels("portable"), ScanKernels::portable);
  EXPECT_EQ(choose_scan_kernels(nullptr), ScanKernels::avx512);
}

// Every register-block shape and its row tail (batches of 1 to 9 queries, 1
// to 40 rows), odd dimensions, a row stride and an output stride wider than
// the data: each score has the bits of the pair scored alone, and nothing
// outside the output's rows x queries is written.
TEST(ScanKernels, EveryBatchAndRowCountScoresEachPairAsAlone) {
  constexpr float kGuard = -12345.0f;
  for (const ScanKernels set : kernel_sets()) {
    for (const Metric metric : {Metric::inner_product, Metric::l2}) {
      for (const std::int64_t dim : {1, 15, 17, 259}) {
        const std::int64_t ld = dim + 3, max_rows = 40, ldo = max_rows + 5;
        const auto q = random_matrix(9, dim, 21), r = random_matrix(max_rows, ld, 22);
        std::vector<float> alone(static_cast<std::size_t>(9 * max_rows));
        for (std::int64_t i = 0; i < 9; ++i)
          for (std::int64_t j = 0; j < max_rows; ++j)
            score_block(set, metric, q.data() + i * dim, 1, r.data() + j * ld, 1, ld, dim,
                        &alone[static_cast<std::size_t>(i * max_rows + j)], 1);
        for (std::int64_t nq = 1; nq <= 9; ++nq) {
          for (std::int64_t nrows = 1; nrows <= max_rows; ++nrows) {
            std::vector<float> out(static_cast<std::size_t>(10 * ldo), kGuard);
            score_block(set, metric, q.data(), nq, r.data(), nrows, ld, dim, out.data(), ldo);
            for (std::int64_t i = 0; i < 10; ++i) {
              for (std::int64_t j = 0; j < ldo; ++j) {
                const float got = out[static_cast<std::size_t>(i * ldo + j)];
                if (i < nq && j < nrows) {
                  ASSERT_EQ(got, alone[static_cast<std::size_t>(i * max_rows + j)])
                      << scan_kernels_name(set) << " " << metric_name(metric) << " dim " << dim << " nq "
                      << nq << " rows " << nrows << " pair " << i << "," << j;
                } else {
                  ASSERT_EQ(got, kGuard) << scan_kernels_name(set) << " wrote outside the output: nq " << nq
                                         << " rows " << nrows << " at " << i << "," << j;
                }
              }
            }
          }
        }
      }
    }
  }
}

// The top-k filter's scan: the first score strictly above the threshold, at
// every start and length around the 16-wide groups; NaN is never above.
TEST(ScanKernels, NextAboveFindsTheFirstScoreAboveTheThreshold) {
  std::vector<float> s(70);
  std::mt19937_64 rng(23);
  for (float& x : s)
    x = static_cast<float>(rng() % 5);  // many exact ties with the threshold
  s[33] = std::numeric_limits<float>::quiet_NaN();
  s[50] = std::numeric_limits<float>::infinity();
  for (const ScanKernels set : kernel_sets()) {
    for (const float threshold : {-1.0f, 2.0f, 3.0f, 4.0f, std::numeric_limits<float>::infinity()}) {
      for (std::int64_t n = 0; n <= 70; ++n) {
        for (std::int64_t from = 0; from <= n; ++from) {
          std::int64_t want = from;
          while (want < n && !(s[static_cast<std::size_t>(want)] > threshold))
            ++want;
          ASSERT_EQ(next_above(set, s.data(), from, n, threshold), want)
              << scan_kernels_name(set) << " threshold " << threshold << " from " << from << " n " << n;
        }
      }
    }
  }
}

// --- exact search ------------------------------------------------------------

std::vector<Hit> brute_force(const std::vector<float>& rows, std::int64_t n, const float* q, std::int64_t dim,
                             ScanKernels set, Metric metric, std::int64_t k) {
  std::vector<float> s(static_cast<std::size_t>(n));
  score_block(set, metric, q, 1, rows.data(), n, dim, dim, s.data(), n);
  std::vector<Hit> hits;
  for (std::int64_t i = 0; i < n; ++i)
    hits.push_back({i, s[static_cast<std::size_t>(i)]});
  ralm::rank_hits(hits, k);
  return hits;
}

TEST(ExactSearch, EqualsBruteForceWithTiesToTheLowerId) {
  const std::int64_t n = 5000, dim = 40, nq = 9, k = 25;
  auto rows = random_matrix(n, dim, 7);
  // Exact ties: copies of row 4321 at lower and higher ids.
  for (const std::int64_t copy : {17, 2048, 4999})
    std::copy_n(rows.data() + 4321 * dim, dim, rows.data() + copy * dim);
  auto q = random_matrix(nq, dim, 8);
  std::copy_n(rows.data() + 4321 * dim, dim, q.data());  // query 0 finds the four copies first
  for (const ScanKernels set : kernel_sets()) {
    for (const Metric metric : {Metric::inner_product, Metric::l2}) {
      for (const int threads : {1, 3}) {
        // One byte per thread: every thread gets rows, and their lists are merged.
        const ExactSearch exact(rows.data(), n, dim, metric, set, threads, /*bytes_per_thread=*/1);
        const auto results = exact.search(q.data(), nq, k);
        ASSERT_EQ(results.size(), static_cast<std::size_t>(nq));
        for (std::int64_t i = 0; i < nq; ++i) {
          EXPECT_EQ(results[static_cast<std::size_t>(i)],
                    brute_force(rows, n, q.data() + i * dim, dim, set, metric, k))
              << "query " << i << " threads " << threads;
        }
        if (metric == Metric::l2) {
          const auto& top = results[0];
          EXPECT_EQ((std::vector<PassageId>{top[0].id, top[1].id, top[2].id, top[3].id}),
                    (std::vector<PassageId>{17, 2048, 4321, 4999}));
        }
      }
    }
  }
}

// k larger than a kernel call's rows (rows_per_block: 1,560 at 40
// dimensions), every batch size from 1 to 9, and ties that straddle the
// calls' boundaries: each query's list equals brute force, ties to the lower id.
TEST(ExactSearch, LargeKAndEveryBatchSizeEqualBruteForce) {
  const std::int64_t n = 4000, dim = 40;
  auto rows = random_matrix(n, dim, 24);
  // Copies of row 100 around the boundaries of 1,560-row calls, and a run of
  // identical rows: exact ties at every rank where they fall.
  for (const std::int64_t copy : {1559, 1560, 1561, 3119, 3120, 3999})
    std::copy_n(rows.data() + 100 * dim, dim, rows.data() + copy * dim);
  for (std::int64_t i = 2000; i < 2300; ++i)
    std::copy_n(rows.data() + 7 * dim, dim, rows.data() + i * dim);
  auto q = random_matrix(9, dim, 25);
  std::copy_n(rows.data() + 100 * dim, dim, q.data() + 2 * dim);
  std::copy_n(rows.data() + 7 * dim, dim, q.data() + 5 * dim);
  for (const ScanKernels set : kernel_sets()) {
    for (const Metric metric : {Metric::inner_product, Metric::l2}) {
      const ExactSearch exact(rows.data(), n, dim, metric, set, 2);
      for (const auto& none : exact.search(q.data(), 9, 0))
        EXPECT_TRUE(none.empty()) << "k = 0 keeps nothing";
      for (const std::int64_t k : {std::int64_t{1}, std::int64_t{10}, std::int64_t{1700}, n}) {
        for (std::int64_t nq = 1; nq <= 9; ++nq) {
          const auto results = exact.search(q.data(), nq, k);
          ASSERT_EQ(results.size(), static_cast<std::size_t>(nq));
          for (std::int64_t i = 0; i < nq; ++i) {
            ASSERT_EQ(results[static_cast<std::size_t>(i)],
                      brute_force(rows, n, q.data() + i * dim, dim, set, metric, k))
                << scan_kernels_name(set) << " " << metric_name(metric) << " k " << k << " nq " << nq
                << " query " << i;
          }
        }
      }
    }
  }
}

TEST(ExactSearch, RanksLikeEigenBruteForce) {
  const std::int64_t n = 3000, dim = 64, k = 10;
  const auto rows = random_matrix(n, dim, 9), q = random_matrix(1, dim, 10);
  const ExactSearch exact(rows.data(), n, dim, Metric::inner_product, default_scan_kernels(), 2);
  const auto hits = exact.search(q.data(), 1, k)[0];
  const Eigen::Map<const Eigen::Matrix<float, -1, -1, Eigen::RowMajor>> rm(rows.data(), n, dim);
  const Eigen::VectorXd s =
      rm.cast<double>() * Eigen::Map<const Eigen::VectorXf>(q.data(), dim).cast<double>();
  std::vector<std::pair<double, std::int64_t>> all;
  for (std::int64_t i = 0; i < n; ++i)
    all.push_back({-s(i), i});
  std::sort(all.begin(), all.end());
  for (std::int64_t i = 0; i < k; ++i) {
    EXPECT_EQ(hits[static_cast<std::size_t>(i)].id, all[static_cast<std::size_t>(i)].second);
    EXPECT_NEAR(hits[static_cast<std::size_t>(i)].score, -all[static_cast<std::size_t>(i)].first, 1e-4);
  }
}

// --- the retriever over corpora ---------------------------------------------------

const std::string kCorpus = RALM_SOURCE_DIR "/tests/fixtures/corpus";

using ralm::test::fixture_corpus;

// A synthetic corpus big enough for IVF and HNSW: documents drawn from a few
// topics' word lists, each passage 40 words.
fs::path synthetic_corpus(const TempDir& dir, int documents) {
  std::mt19937_64 rng(11);
  const int topics = 12, words_per_topic = 60;
  std::ofstream out(dir.path() / "synthetic.jsonl");
  for (int d = 0; d < documents; ++d) {
    const int t1 = static_cast<int>(rng() % topics), t2 = static_cast<int>(rng() % topics);
    std::string text;
    for (int w = 0; w < 40; ++w) {
      const int topic = (rng() % 3 == 0) ? t2 : t1;
      const int word =
          static_cast<int>(std::min<std::uint64_t>(rng() % words_per_topic, rng() % words_per_topic));
      text += "w" + std::to_string(topic) + "x" + std::to_string(word) + " ";
    }
    out << R"({"id":"d)" << d << R"(","title":"doc )" << d << R"(","text":")" << text << "\"}\n";
  }
  out.close();
  ralm::core::CorpusBuildOptions o;
  o.sources = {ralm::core::parse_source("jsonl:" + (dir.path() / "synthetic.jsonl").string())};
  o.out = dir.path() / "synthetic";
  o.words_per_passage = 40;
  ralm::core::build_corpus(o);
  return o.out;
}

DenseIndexSpec spec_for(const ralm::PassageStore& store, const std::string& index, std::int64_t dim,
                        Metric metric = Metric::inner_product) {
  DenseIndexSpec spec;
  spec.lsa.dim = dim;
  spec.lsa.min_df = 1;
  spec.index = index;
  spec.metric = metric;
  spec.threads = 2;
  spec.dir = store.dir() / spec.default_folder_name();
  return spec;
}

std::unique_ptr<DenseRetriever> open_retriever(std::shared_ptr<const ralm::PassageStore> store,
                                               const DenseIndexSpec& spec, std::int64_t nprobe = 0,
                                               std::int64_t ef = 0, std::int64_t k_factor = 1) {
  if (!dense_index_exists(spec)) build_dense_index(*store, spec, false);
  auto files = open_dense_index(*store, spec);
  if (files.faiss) files.faiss->set_search_parameters(nprobe, ef);
  return std::make_unique<DenseRetriever>(store, std::move(files), spec.metric, k_factor, spec.threads);
}

std::vector<std::string> synthetic_queries(int count) {
  std::mt19937_64 rng(12);
  std::vector<std::string> queries;
  for (int i = 0; i < count; ++i) {
    std::string q;
    const int t = static_cast<int>(rng() % 12);
    for (int w = 0; w < 6; ++w)
      q += "w" + std::to_string(t) + "x" + std::to_string(rng() % 60) + " ";
    queries.push_back(q);
  }
  return queries;
}

TEST(DenseRetriever, LsaFindsThePassageAboutTheQuery) {
  TempDir dir;
  const auto store = ralm::PassageStore::open(fixture_corpus(dir));
  auto r = open_retriever(store, spec_for(*store, "Flat", 16));
  const auto hits = r->search(std::vector<std::string>{store->passage(2).text}, 3)[0];
  ASSERT_EQ(hits.size(), 3u);
  EXPECT_EQ(hits[0].id, 2);
  EXPECT_GT(hits[0].score, 0.99f);  // the passage text without its title
  // score() of the search's ids: the same bits.
  std::vector<PassageId> ids;
  for (const Hit& h : hits)
    ids.push_back(h.id);
  const auto s = r->score(store->passage(2).text, ids);
  for (std::size_t i = 0; i < ids.size(); ++i)
    EXPECT_EQ(s[i], hits[i].score);
}

// Asynchronous verification searches on one thread while the speculative
// cache scores on another: concurrent calls give the serial results.
TEST(DenseRetriever, ConcurrentSearchAndScoreGiveTheSerialResults) {
  TempDir dir;
  const auto store = ralm::PassageStore::open(synthetic_corpus(dir, 600));
  for (const std::string index : {"Flat", "HNSW16"}) {
    auto r = open_retriever(store, spec_for(*store, index, 16));
    const auto queries = synthetic_queries(40);
    const auto want = r->search(queries, 5);
    const std::vector<PassageId> ids{1, 2, 3, 500};
    const auto want_scores = r->score_batch(queries, ids);
    std::vector<std::vector<Hit>> got;
    std::vector<float> got_scores;
    std::thread searcher([&] {
      for (int rep = 0; rep < 3; ++rep)
        got = r->search(queries, 5);
    });
    std::thread scorer([&] {
      for (int rep = 0; rep < 3; ++rep)
        got_scores = r->score_batch(queries, ids);
    });
    searcher.join();
    scorer.join();
    EXPECT_EQ(got, want) << index;
    EXPECT_EQ(got_scores, want_scores) << index;
  }
}

TEST(DenseRetriever, FillerVectorsAreScannedButNeverReturned) {
  TempDir dir;
  const auto store = ralm::PassageStore::open(synthetic_corpus(dir, 300));
  const auto spec = spec_for(*store, "Flat", 16);
  const auto plain = open_retriever(store, spec);
  auto files = open_dense_index(*store, spec);
  // Ten times the corpus in filler, with negative-ish and positive scores mixed in.
  DenseRetriever filled(store, std::move(files), spec.metric, 1, 2, default_scan_kernels(),
                        store->size() * 10);
  EXPECT_EQ(filled.exact().scanned_rows(), store->size() * 11);
  EXPECT_EQ(filled.size(), store->size());
  const auto queries = synthetic_queries(20);
  EXPECT_EQ(filled.search(queries, store->size()), plain->search(queries, store->size()));
  const std::vector<ralm::PassageId> ids{0, 5, store->size() - 1};
  EXPECT_EQ(filled.score_batch(queries, ids), plain->score_batch(queries, ids));
  EXPECT_THROW(filled.score(queries[0], std::vector<ralm::PassageId>{store->size()}), ralm::InputError);
}

// An IVF…,Flat index over the corpus and corpus-like filler: every probed
// filler row is scanned, none returned; probing every list is the exact
// search over the corpus alone, and the built index is reused.
TEST(DenseRetriever, IvfFillerIsScannedButNeverReturned) {
  TempDir dir;
  const auto store = ralm::PassageStore::open(synthetic_corpus(dir, 300));
  const auto exact = open_retriever(store, spec_for(*store, "Flat", 16));
  const auto spec = spec_for(*store, "IVF8,Flat", 16);
  open_retriever(store, spec);  // builds the corpus's own index
  auto files = open_dense_index(*store, spec);
  const auto* vectors = reinterpret_cast<const float*>(files.vectors->bytes());
  files.faiss = filler_index(vectors, store->size(), files.dim, store->size() * 10, spec.index, spec.metric,
                             spec.faiss_dir(), 2);
  EXPECT_EQ(files.faiss->size(), store->size() * 11);
  files.faiss->set_search_parameters(/*nprobe=*/8, 0);
  DenseRetriever filled(store, std::move(files), spec.metric, 1, 2);
  const auto queries = synthetic_queries(20);
  EXPECT_EQ(filled.search(queries, 10), exact->search(queries, 10));
  // The second use reads the index the first one wrote.
  const auto again = filler_index(vectors, store->size(), 16, store->size() * 10, spec.index, spec.metric,
                                  spec.faiss_dir(), 2);
  EXPECT_EQ(again->size(), store->size() * 11);
  for (const auto& entry : fs::directory_iterator(spec.faiss_dir()))
    EXPECT_EQ(entry.path().string().find(".partial"), std::string::npos) << entry.path();
}

TEST(DenseRetriever, BadInputIsAnInputError) {
  TempDir dir;
  const auto store = ralm::PassageStore::open(fixture_corpus(dir));
  auto r = open_retriever(store, spec_for(*store, "Flat", 8));
  EXPECT_THROW(r->search(std::vector<std::string>{"compiler"}, store->size() + 1), ralm::InputError);
  EXPECT_THROW(r->search(std::vector<std::string>{"compiler"}, 0), ralm::InputError);
  EXPECT_THROW(r->search(std::vector<std::string>{"  \n"}, 1), ralm::InputError);
  EXPECT_THROW(r->score("compiler", std::vector<ralm::PassageId>{store->size()}), ralm::InputError);
  // k equal to the corpus: every passage once.
  const auto all = r->search(std::vector<std::string>{"compiler"}, store->size())[0];
  std::set<PassageId> ids;
  for (const Hit& h : all)
    ids.insert(h.id);
  EXPECT_EQ(static_cast<std::int64_t>(ids.size()), store->size());
  // Words the encoder never saw: the zero vector, every score 0, ids in order.
  const auto unknown = r->search(std::vector<std::string>{"qqqzzz xxyyzz"}, 3)[0];
  EXPECT_EQ(unknown, (std::vector<Hit>{{0, 0.0f}, {1, 0.0f}, {2, 0.0f}}));
}

TEST(DenseRetriever, PersistsAndRefusesAnIndexForAnotherCorpusOrEncoder) {
  TempDir dir;
  const auto store = ralm::PassageStore::open(fixture_corpus(dir));
  const auto spec = spec_for(*store, "Flat", 8);
  auto first = open_retriever(store, spec);
  const std::vector<std::string> q{"lisp compiler", "the jargon file"};
  const auto before = first->search(q, 3);
  EXPECT_TRUE(fs::exists(spec.dir / "meta.json"));
  EXPECT_TRUE(fs::exists(spec.dir / "vectors.f32"));
  auto second = open_retriever(store, spec);  // opens what the first built
  EXPECT_EQ(second->search(q, 3), before);
  for (const auto& item : fs::directory_iterator(store->dir()))
    EXPECT_EQ(item.path().filename().string().find(".partial"), std::string::npos) << item.path();

  // Another encoder setting over the same folder.
  auto other = spec;
  other.lsa.min_df = 2;
  try {
    open_dense_index(*store, other);
    FAIL() << "expected an InputError";
  } catch (const ralm::InputError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("encoder"), std::string::npos) << m;
    EXPECT_NE(m.find("ralm index build PIPELINE --force"), std::string::npos) << m;
  }
  // Another corpus pointed at this index folder.
  TempDir dir2;
  ralm::core::CorpusBuildOptions o;
  o.sources = {ralm::core::parse_source("jsonl:" + kCorpus + "/docs.jsonl")};
  o.out = dir2.path() / "corpus";
  ralm::core::build_corpus(o);
  const auto store2 = ralm::PassageStore::open(o.out);
  try {
    open_dense_index(*store2, spec);
    FAIL() << "expected an InputError";
  } catch (const ralm::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("corpus"), std::string::npos) << e.what();
  }
  // Rebuilding replaces it whole.
  build_dense_index(*store, spec, true);
  EXPECT_EQ(open_retriever(store, spec)->search(q, 3), before);
}

TEST(DenseRetriever, AFailedBuildLeavesNothingBehind) {
  TempDir dir;
  const auto store = ralm::PassageStore::open(fixture_corpus(dir));
  // More IVF lists than vectors: FAISS's k-means refuses to train.
  const auto spec = spec_for(*store, "IVF64,Flat", 8);
  EXPECT_THROW(build_dense_index(*store, spec, false), ralm::Error);
  EXPECT_FALSE(fs::exists(spec.faiss_dir()));
  for (const auto& item : fs::directory_iterator(spec.dir))
    EXPECT_EQ(item.path().filename().string().find(".partial"), std::string::npos) << item.path();
  EXPECT_THROW(check_factory_string("IVF12,Nonsense", 8, Metric::inner_product), ralm::InputError);
}

// (index, metric, recall floor, k_factor): a PQ index's candidates are
// refined by exact scores, so it is asked for more of them.
class Approximate : public ::testing::TestWithParam<std::tuple<std::string, Metric, double, std::int64_t>> {};

// For every approximate kind: score() equals the scores search() returns, bit
// for bit, over many queries; recall@10 against exact search above a floor.
TEST_P(Approximate, ScoreEqualsSearchAndRecallIsAboveTheFloor) {
  const auto& [index, metric, floor, k_factor] = GetParam();
  static TempDir dir;
  static const auto store = ralm::PassageStore::open(synthetic_corpus(dir, 1500));
  auto exact = open_retriever(store, spec_for(*store, "Flat", 32, metric));
  auto approx = open_retriever(store, spec_for(*store, index, 32, metric), 4, 64, k_factor);
  const auto queries = synthetic_queries(100);
  const std::int64_t k = 10;
  const auto want = exact->search(queries, k);
  const auto got = approx->search(queries, k);
  double found = 0;
  for (std::size_t i = 0; i < queries.size(); ++i) {
    std::vector<PassageId> ids;
    for (const Hit& h : got[i])
      ids.push_back(h.id);
    const auto s = approx->score(queries[i], ids);
    for (std::size_t j = 0; j < ids.size(); ++j)
      ASSERT_EQ(s[j], got[i][j].score) << index << " query " << i << " id " << ids[j];
    // The exact retriever scores the same pairs with the same bits.
    EXPECT_EQ(exact->score(queries[i], ids), s);
    // Flat: score() of the exact search's ids gives the exact search's bits.
    std::vector<PassageId> exact_ids;
    std::vector<float> exact_scores;
    for (const Hit& h : want[i]) {
      exact_ids.push_back(h.id);
      exact_scores.push_back(h.score);
    }
    ASSERT_EQ(exact->score(queries[i], exact_ids), exact_scores) << "Flat query " << i;
    std::set<PassageId> truth;
    for (const Hit& h : want[i])
      truth.insert(h.id);
    for (PassageId id : ids)
      found += truth.count(id);
  }
  // score_batch: the same bits again.
  std::vector<PassageId> ids{0, 5, 77, 1499};
  const auto batch = approx->score_batch(queries, ids);
  for (std::size_t i = 0; i < 10; ++i)
    EXPECT_EQ(approx->score(queries[i], ids),
              std::vector<float>(batch.begin() + static_cast<std::ptrdiff_t>(i * 4),
                                 batch.begin() + static_cast<std::ptrdiff_t>(i * 4 + 4)));
  // The portable kernels over the same index: their own bits, equal between search() and score().
  auto files = open_dense_index(*store, spec_for(*store, index, 32, metric));
  if (files.faiss) files.faiss->set_search_parameters(4, 64);
  DenseRetriever portable(store, std::move(files), metric, k_factor, 2, ScanKernels::portable);
  const std::vector<std::string> some(queries.begin(), queries.begin() + 20);
  const auto portable_hits = portable.search(some, k);
  for (std::size_t i = 0; i < some.size(); ++i) {
    std::vector<PassageId> pids;
    for (const Hit& h : portable_hits[i])
      pids.push_back(h.id);
    const auto s = portable.score(some[i], pids);
    for (std::size_t j = 0; j < pids.size(); ++j)
      ASSERT_EQ(s[j], portable_hits[i][j].score) << "portable " << index << " query " << i;
  }
  const double recall = found / static_cast<double>(queries.size() * k);
  EXPECT_GE(recall, floor) << index;
  std::cout << index << " " << metric_name(metric) << ": recall@10 " << recall << "\n";
}

INSTANTIATE_TEST_SUITE_P(Kinds, Approximate,
                         ::testing::Values(std::make_tuple("IVF16,Flat", Metric::inner_product, 0.9, 1),
                                           std::make_tuple("IVF16,Flat", Metric::l2, 0.9, 1),
                                           std::make_tuple("HNSW16", Metric::inner_product, 0.9, 1),
                                           std::make_tuple("IVF16,PQ8x4", Metric::inner_product, 0.8, 8)),
                         [](const auto& param_info) {
                           std::string name = std::get<0>(param_info.param) + "_" +
                                              metric_name(std::get<1>(param_info.param));
                           for (char& c : name)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return name;
                         });

// The candidate pool: 64 for indexes that rank by distances to the full
// vectors, 256 for indexes of compressed codes (their ranking is an
// estimate), the pipeline's `candidates` when it gives one.
TEST(DenseRetriever, CompressedIndexesRankMoreCandidatesExactly) {
  TempDir dir;
  const auto store = ralm::PassageStore::open(synthetic_corpus(dir, 600));
  for (const auto& [index, exact_distances] :
       std::vector<std::pair<std::string, bool>>{{"IVF4,Flat", true},
                                                 {"HNSW8", true},
                                                 {"IDMap,Flat", true},
                                                 {"IVF4,PQ4x4", false},
                                                 {"IVF4,SQ8", false}}) {
    const auto spec = spec_for(*store, index, 32);
    build_dense_index(*store, spec, false);
    auto files = open_dense_index(*store, spec);
    ASSERT_TRUE(files.faiss) << index;
    EXPECT_EQ(files.faiss->exact_distances(), exact_distances) << index;
    const DenseRetriever by_default(store, std::move(files), spec.metric, 1, 1);
    EXPECT_EQ(by_default.min_candidates(),
              exact_distances ? DenseRetriever::kMinCandidates : DenseRetriever::kMinCompressedCandidates)
        << index;
    const DenseRetriever given(store, open_dense_index(*store, spec), spec.metric, 1, 1,
                               default_scan_kernels(), 0, 100);
    EXPECT_EQ(given.min_candidates(), 100) << index;
  }
}

// --- the command ---------------------------------------------------------------

TEST(IndexCommand, BuildsTheRetrieversIndexAndRebuildsWithForce) {
  TempDir dir;
  fixture_corpus(dir);
  const auto pipeline = dir.write("dense.yaml", R"(name: dense
retriever:
  plugin: dense
  corpus: corpus
  dim: 8
  min_df: 1
  index: HNSW8
)");
  const std::vector<std::string> cmd{RALM_EXE, "--plugin-path", RALM_SHIPPED_PLUGIN_DIR,
                                     "index",  "build",         pipeline.string()};
  auto r = ralm::test::run_command(cmd);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("is ready"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(dir.path() / "corpus/dense-lsa8/faiss-HNSW8-ip/faiss.index"));
  auto again = cmd;
  again.push_back("--force");
  r = ralm::test::run_command(again);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // A bad factory string names the pipeline's line.
  auto bad = cmd;
  bad.insert(bad.end(), {"--set", "retriever.index=IVF4,Bogus"});
  r = ralm::test::run_command(bad);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("retriever.index"), std::string::npos) << r.err;
  // Filler is for the exact scan and IVF…,Flat indexes only.
  auto filler = cmd;
  filler.insert(filler.end(), {"--set", "retriever.filler_vectors=10"});
  r = ralm::test::run_command(filler);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("retriever.filler_vectors"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("IVF"), std::string::npos) << r.err;
}

}  // namespace

// --- the model encoder, through the plugins as a pipeline builds them ----------

#include "ralm/core/pipeline.hpp"
#include "ralm/core/pipeline_builder.hpp"
#include "ralm/core/plugin_manager.hpp"
#include "ralm/core/registry.hpp"

namespace {

TEST(ModelEncoder, MeanHiddenStatesThroughThePipelinesModel) {
  TempDir dir;
  fixture_corpus(dir);
  const auto pipeline = dir.write("dense-model.yaml", R"(name: dense-model
model:
  plugin: llama
  init: random
  seed: 1
  tokenizer: bytes
  hidden_size: 32
  intermediate_size: 64
  num_layers: 1
  num_heads: 4
  num_kv_heads: 2
  context_length: 128
retriever:
  plugin: dense
  corpus: corpus
  encoder: model
  max_tokens: 24
)");
  ralm::core::Registry registry;
  ralm::core::PluginManager(registry).load_search_path({RALM_SHIPPED_PLUGIN_DIR});
  const auto spec = ralm::core::load_pipeline(pipeline, {}, registry);
  const auto built = ralm::core::build_pipeline(spec, registry);
  ASSERT_TRUE(built.retriever);
  EXPECT_TRUE(fs::exists(dir.path() / "corpus/dense-model/vectors.f32"));
  const std::vector<std::string> q{"a lisp compiler", "the jargon file", "hacker"};
  const auto results = built.retriever->search(q, 4);
  for (std::size_t i = 0; i < q.size(); ++i) {
    ASSERT_EQ(results[i].size(), 4u);
    std::vector<PassageId> ids;
    for (const Hit& h : results[i])
      ids.push_back(h.id);
    const auto s = built.retriever->score(q[i], ids);
    for (std::size_t j = 0; j < ids.size(); ++j)
      EXPECT_EQ(s[j], results[i][j].score);
  }
  // A passage's own text finds it (or a passage that starts the same way, at the same score).
  const std::string text =
      std::string(built.retriever->passage(1).title) + "\n" + std::string(built.retriever->passage(1).text);
  EXPECT_GT(built.retriever->search(std::vector<std::string>{text}, 1)[0][0].score, 0.9999f);
  // Without a model section, the encoder is refused with the fix.
  ralm::test::TempDir dir2;
  fixture_corpus(dir2);
  const auto bad =
      dir2.write("bad.yaml", "retriever:\n  plugin: dense\n  corpus: corpus\n  encoder: model\n");
  const auto bad_spec = ralm::core::load_pipeline(bad, {}, registry);
  EXPECT_THROW(ralm::core::build_pipeline(bad_spec, registry), ralm::InputError);
}

}  // namespace

namespace {

TEST(RetrievalEvalCommand, ReportsRecallMrrAndOverlap) {
  TempDir dir;
  fixture_corpus(dir);
  const auto dense =
      dir.write("dense.yaml", "retriever:\n  plugin: dense\n  corpus: corpus\n  dim: 4\n  min_df: 1\n");
  const auto bm25 = dir.write("bm25.yaml", "retriever:\n  plugin: bm25\n  corpus: corpus\n");
  const std::vector<std::string> base{RALM_EXE, "--plugin-path", RALM_SHIPPED_PLUGIN_DIR};
  auto index = base;
  index.insert(index.end(), {"index", "build", bm25.string(), "--force"});
  auto r = ralm::test::run_command(index);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto eval = base;
  eval.insert(eval.end(), {"retrieval-eval", dense.string(), bm25.string()});
  r = ralm::test::run_command(eval);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("R@10"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("dense"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("bm25"), std::string::npos) << r.out;
}

}  // namespace
