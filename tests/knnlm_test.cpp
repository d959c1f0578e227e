// kNN-LM (the dense plugin's `knnlm` policy): p_kNN on a hand-built datastore
// against the formula; λ = 0 leaves the base model's logits; exact neighbour
// search against brute force; the datastore a tiny Llama builds (keys, values,
// successors); `ralm datastore build`, `ralm run` of a generate and a
// perplexity pipeline; bad input as one line naming the field.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "cli_expectations.hpp"
#include "datastore_files.hpp"
#include "knnlm_policy.hpp"
#include "ralm/error.hpp"
#include "tiny_engine.hpp"

namespace {

namespace fs = std::filesystem;
using namespace ralm::dense;
using ralm::Hit;
using ralm::TokenId;
using ralm::test::CommandResult;
using ralm::test::TempDir;

template <class T>
void write_array(const fs::path& file, const std::vector<T>& v) {
  std::ofstream(file, std::ios::binary)
      .write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(T)));
}

// A datastore written by hand: `n` random keys of width `dim`, value i % vocab.
struct HandDatastore {
  TempDir dir;
  std::int64_t n, dim;
  std::int32_t vocab;
  std::vector<float> keys;
  std::vector<std::int32_t> values;

  HandDatastore(std::int64_t n_, std::int64_t dim_, std::int32_t vocab_) : n(n_), dim(dim_), vocab(vocab_) {
    std::mt19937_64 rng(7);
    std::normal_distribution<float> g(0.0f, 1.0f);
    keys.resize(static_cast<std::size_t>(n * dim));
    for (float& x : keys)
      x = g(rng);
    for (std::int64_t i = 0; i < n; ++i)
      values.push_back(static_cast<std::int32_t>((i * 7) % vocab));
    std::vector<std::int64_t> successors(static_cast<std::size_t>(n), -1);
    write_array(dir.path() / "keys.f32", keys);
    write_array(dir.path() / "values.i32", values);
    write_array(dir.path() / "successors.i64", successors);
  }

  Datastore open() const {
    Datastore ds;
    ds.entries = n;
    ds.key_dim = dim;
    ds.keys = std::make_unique<ralm::MappedFile>(dir.path() / "keys.f32");
    ds.values = std::make_unique<ralm::MappedFile>(dir.path() / "values.i32");
    ds.successors = std::make_unique<ralm::MappedFile>(dir.path() / "successors.i64");
    return ds;
  }

  // Brute force in double: (score, entry) of every entry, best first.
  std::vector<std::pair<double, std::int64_t>> ranked(const std::vector<float>& q, Metric metric) const {
    std::vector<std::pair<double, std::int64_t>> all;
    for (std::int64_t i = 0; i < n; ++i) {
      double s = 0;
      for (std::int64_t c = 0; c < dim; ++c) {
        const double a = q[static_cast<std::size_t>(c)], b = keys[static_cast<std::size_t>(i * dim + c)];
        s += metric == Metric::l2 ? -(a - b) * (a - b) : a * b;
      }
      all.emplace_back(s, i);
    }
    std::sort(all.begin(), all.end(), [](const auto& x, const auto& y) { return x.first > y.first; });
    return all;
  }
};

std::vector<float> random_vector(std::int64_t n, std::uint64_t seed, float scale = 1.0f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, scale);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (float& x : v)
    x = g(rng);
  return v;
}

TEST(KnnDistribution, IsASoftmaxOfScoresSummedPerToken) {
  const std::vector<Hit> hits{{0, -1.0f}, {1, -2.0f}, {2, -2.5f}, {3, -4.0f}};
  const std::map<ralm::PassageId, TokenId> value{{0, 5}, {1, 9}, {2, 5}, {3, 1}};
  const double t = 2.0;
  const auto p =
      knn_distribution(std::span<const Hit>(hits), t, [&](ralm::PassageId id) { return value.at(id); });
  const double z = std::exp(-1.0 / t) + std::exp(-2.0 / t) + std::exp(-2.5 / t) + std::exp(-4.0 / t);
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[0].first, 5);
  EXPECT_NEAR(p[0].second, (std::exp(-1.0 / t) + std::exp(-2.5 / t)) / z, 1e-12);
  EXPECT_EQ(p[1].first, 9);
  EXPECT_NEAR(p[1].second, std::exp(-2.0 / t) / z, 1e-12);
  EXPECT_EQ(p[2].first, 1);
  EXPECT_NEAR(p[2].second, std::exp(-4.0 / t) / z, 1e-12);
}

TEST(KnnInterpolation, LambdaZeroLeavesTheLogitsAndOtherwiseMixes) {
  const std::vector<float> base = random_vector(20, 3, 2.0f);
  const std::vector<std::pair<TokenId, double>> p_knn{{4, 0.75}, {11, 0.25}};
  std::vector<float> same = base;
  interpolate_logits(same, p_knn, 0.0);
  EXPECT_EQ(same, base);

  std::vector<float> mixed = base;
  const double lambda = 0.3;
  interpolate_logits(mixed, p_knn, lambda);
  double z = 0;
  for (float x : base)
    z += std::exp(static_cast<double>(x));
  for (std::size_t w = 0; w < base.size(); ++w) {
    const double knn = w == 4 ? 0.75 : w == 11 ? 0.25 : 0.0;
    const double want = std::log(lambda * knn + (1 - lambda) * std::exp(static_cast<double>(base[w])) / z);
    EXPECT_NEAR(mixed[w], want, 1e-5) << w;
  }
}

// The policy on a hand-built datastore: its neighbours are brute force's, and
// its logits are log(λ·p_kNN + (1 − λ)·p_LM) with p_kNN from brute force.
TEST(KnnLmPolicy, MatchesBruteForceOnAHandBuiltDatastore) {
  const HandDatastore hand(300, 24, 17);
  for (const Metric metric : {Metric::l2, Metric::inner_product}) {
    KnnLmOptions o;
    o.k = 10;
    o.lambda = 0.4;
    o.temperature = 3.0;
    o.metric = metric;
    KnnLmPolicy policy(nullptr, hand.open(), o);
    for (std::uint64_t seed = 10; seed < 15; ++seed) {
      const std::vector<float> q = random_vector(hand.dim, seed);
      const auto want = hand.ranked(q, metric);
      const std::vector<Hit> got = policy.neighbours(q);
      ASSERT_EQ(got.size(), 10u);
      for (std::size_t i = 0; i < got.size(); ++i) {
        EXPECT_EQ(got[i].id, want[i].second) << metric_name(metric) << " rank " << i;
        EXPECT_NEAR(got[i].score, want[i].first, 1e-3 * (1 + std::abs(want[i].first)));
      }
      std::vector<double> knn(static_cast<std::size_t>(hand.vocab), 0.0);
      double z = 0;
      for (std::size_t i = 0; i < 10; ++i) {
        const double w = std::exp((want[i].first - want[0].first) / o.temperature);
        knn[static_cast<std::size_t>(hand.values[static_cast<std::size_t>(want[i].second)])] += w;
        z += w;
      }
      const std::vector<float> base = random_vector(hand.vocab, seed + 100);
      std::vector<float> logits = base;
      auto state = policy.begin({1});
      policy.adjust_logits(*state, logits, q);
      double zl = 0;
      for (float x : base)
        zl += std::exp(static_cast<double>(x));
      for (std::size_t w = 0; w < base.size(); ++w) {
        const double want_p =
            o.lambda * knn[w] / z + (1 - o.lambda) * std::exp(static_cast<double>(base[w])) / zl;
        EXPECT_NEAR(logits[w], std::log(want_p), 1e-4) << w;
      }
    }
  }
}

TEST(KnnLmPolicy, UsesNoPassagesAndAdjustsLogits) {
  const HandDatastore hand(20, 4, 5);
  KnnLmPolicy policy(nullptr, hand.open(), KnnLmOptions{});
  EXPECT_FALSE(policy.uses_passages());
  EXPECT_TRUE(policy.adjusts_logits());
  auto state = policy.begin({1, 2});
  const auto layout = policy.on_retrieval(*state, {1, 2}, {3}, {});
  EXPECT_EQ(layout.tokens, (ralm::Tokens{1, 2, 3}));
}

// The datastore a tiny Llama builds over the fixture corpus: one entry per
// position but the last of each passage, its key the model's, its value the
// next token, its successor the next entry of the same passage.
TEST(Datastore, HoldsTheModelsKeysAndNextTokens) {
  const ralm::test::TinyCorpus corpus;
  const auto model = ralm::test::tiny_llama();
  DatastoreSpec spec;
  spec.model = model;
  spec.dir = corpus.dir.path() / spec.default_folder_name();
  spec.max_passages = 5;
  build_datastore(*corpus.store, spec, false);
  EXPECT_TRUE(datastore_exists(spec));
  const Datastore ds = open_datastore(*corpus.store, spec);
  const std::int64_t dim = model->info().key_dim;
  EXPECT_EQ(ds.key_dim, dim);
  std::int64_t entry = 0;
  for (ralm::PassageId id = 0; id < 5; ++id) {
    const ralm::Tokens tokens = model->tokenizer().encode(
        std::string(corpus.store->title(id)) + "\n" + std::string(corpus.store->text(id)), true);
    auto seq = model->new_sequence();
    const ralm::EvalResult r = model->eval(*seq, tokens, {.keys = true});
    for (std::size_t t = 0; t + 1 < tokens.size(); ++t, ++entry) {
      EXPECT_EQ(ds.value(entry), tokens[t + 1]);
      EXPECT_EQ(ds.successor(entry), t + 2 < tokens.size() ? entry + 1 : -1);
      for (std::int64_t c = 0; c < dim; ++c)
        ASSERT_EQ(ds.key_rows()[entry * dim + c],
                  r.keys[t * static_cast<std::size_t>(dim) + static_cast<std::size_t>(c)]);
    }
  }
  EXPECT_EQ(ds.entries, entry);

  // Another model's weights, same shape: refused, naming the fix.
  ralm::llama::LlamaConfig c = model->config();
  auto other = std::make_shared<ralm::llama::LlamaModel>(c, ralm::llama::random_llama_weights(c, 6, 0.3),
                                                         std::make_unique<ralm::test::ByteTokenizer>(), 1);
  DatastoreSpec wrong = spec;
  wrong.model = other;
  try {
    open_datastore(*corpus.store, wrong);
    ADD_FAILURE() << "opened a datastore built with other weights";
  } catch (const ralm::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("other weights"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("ralm datastore build"), std::string::npos) << e.what();
  }
  // An approximate index over the same keys finds what exact search finds
  // for a stored key.
  DatastoreSpec ivf = spec;
  ivf.index = "IVF4,Flat";
  build_datastore(*corpus.store, ivf, false);
  Datastore ads = open_datastore(*corpus.store, ivf);
  ads.faiss->set_search_parameters(4, 0);
  KnnLmOptions o;
  o.k = 3;
  KnnLmPolicy exact(corpus.store, open_datastore(*corpus.store, spec), o);
  KnnLmPolicy approx(corpus.store, std::move(ads), o);
  const std::span<const float> key(ds.key_rows() + 7 * dim, static_cast<std::size_t>(dim));
  EXPECT_EQ(exact.neighbours(key)[0].id, 7);
  EXPECT_EQ(approx.neighbours(key)[0].id, 7);
}

TEST(Datastore, LeavesOutTheDocumentsItIsToldTo) {
  const ralm::test::TinyCorpus corpus;
  const auto model = ralm::test::tiny_llama();
  DatastoreSpec spec;
  spec.model = model;
  spec.dir = corpus.dir.path() / "odd";
  spec.exclude_document_step = 2;
  build_datastore(*corpus.store, spec, false);
  std::int64_t want = 0;
  for (ralm::PassageId id = 0; id < corpus.store->size(); ++id) {
    if (corpus.store->document(id) % 2 == 0) continue;
    want += static_cast<std::int64_t>(
                model->tokenizer()
                    .encode(std::string(corpus.store->title(id)) + "\n" + std::string(corpus.store->text(id)),
                            true)
                    .size()) -
            1;
  }
  EXPECT_EQ(open_datastore(*corpus.store, spec).entries, want);
  // Another exclusion is another datastore: refused, naming the field.
  DatastoreSpec other = spec;
  other.exclude_document_step = 3;
  try {
    open_datastore(*corpus.store, other);
    ADD_FAILURE() << "opened a datastore built with other exclusions";
  } catch (const ralm::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("exclude_document_step"), std::string::npos) << e.what();
  }
  DatastoreSpec none = spec;
  none.dir = corpus.dir.path() / "none";
  none.exclude_document_step = 1;
  EXPECT_THROW(build_datastore(*corpus.store, none, false), ralm::InputError);
  EXPECT_FALSE(fs::exists(none.dir));
}

TEST(KnnLmPolicy, RefusesAKeyOfAnotherWidth) {
  const HandDatastore hand(20, 4, 5);
  KnnLmPolicy policy(nullptr, hand.open(), KnnLmOptions{});
  const std::vector<float> key(5, 0.0f);
  EXPECT_THROW(policy.neighbours(key), ralm::Error);
}

// --- through the binary -------------------------------------------------------

using ralm::test::run_ralm;

using ralm::test::expect_input_error;

struct Workspace {
  TempDir dir;
  Workspace() {
    ralm::test::build_fixture_corpus(dir.path());
    dir.write("p.jsonl",
              "{\"id\": \"a\", \"prompt\": \"Lisp is\"}\n{\"id\": \"b\", \"prompt\": \"A compiler\"}\n");
    dir.write(
        "base.yaml",
        "model: {plugin: llama, init: random, seed: 1, tokenizer: bytes, hidden_size: 32,\n"
        "        intermediate_size: 64, num_layers: 2, num_heads: 4, num_kv_heads: 2, context_length: 512}\n"
        "policy: {plugin: knnlm, corpus: corpus, datastore: ds, k: 8, lambda: 0.5, build_if_missing: false}\n"
        "engine: {stride: 4, max_new_tokens: 6, threads: 1}\n"
        "task: {kind: generate, prompts: p.jsonl}\n");
    dir.write(
        "ppl.yaml",
        "extends: base.yaml\ntask: {kind: perplexity, prompts: null, corpus: corpus, max_tokens: 120}\n");
    dir.write("ppl-none.yaml", "extends: ppl.yaml\npolicy: {plugin: none}\n");
  }
  CommandResult run(std::vector<std::string> args) const { return run_ralm(std::move(args), dir.path()); }
};

TEST(KnnLmCli, BuildsTheDatastoreThenGeneratesAndScores) {
  Workspace w;
  // Nothing built yet, and the pipeline does not build on first use.
  expect_input_error(w.run({"run", "base.yaml"}), "ralm datastore build");
  auto r = w.run({"datastore", "build", "base.yaml"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("datastore of policy 'knnlm' is ready"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(w.dir.path() / "ds/keys.f32"));
  r = w.run({"run", "base.yaml", "--set", "task.output=" + (w.dir.path() / "out/gen").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  // Perplexity: λ = 0 is the model alone to the last digit printed.
  r = w.run({"compare", "ppl-none.yaml", "ppl.yaml"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto perplexity = [&](const std::string& out) {
    std::ifstream in(w.dir.path() / out / "summary.json");
    return nlohmann::json::parse(in).at("perplexity").get<double>();
  };
  r = w.run({"run", "ppl.yaml", "--set", "policy.lambda=0", "--set",
             "task.output=" + (w.dir.path() / "out/zero").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = w.run({"run", "ppl-none.yaml", "--set", "task.output=" + (w.dir.path() / "out/none").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = w.run({"run", "ppl.yaml", "--set", "task.output=" + (w.dir.path() / "out/knn").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(perplexity("out/zero"), perplexity("out/none"));
  // The scored text is in the datastore here, so kNN-LM can only help.
  EXPECT_LT(perplexity("out/knn"), perplexity("out/none"));

  // `ralm index build` builds a policy's datastore too; --force rebuilds it.
  r = w.run({"index", "build", "base.yaml", "--force"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

TEST(KnnLmCli, BadInputIsOneLineNamingTheField) {
  Workspace w;
  ASSERT_EQ(w.run({"datastore", "build", "base.yaml"}).exit_code, 0);
  expect_input_error(w.run({"run", "base.yaml", "--set", "policy.k=0"}), "policy.k");
  expect_input_error(w.run({"run", "base.yaml", "--set", "policy.k=100000"}), "lower k");
  // The same shape, other weights.
  expect_input_error(w.run({"run", "base.yaml", "--set", "model.seed=2"}), "other weights");
  // Another shape: another key width.
  expect_input_error(w.run({"run", "base.yaml", "--set", "model.hidden_size=16"}), "ralm datastore build");
  expect_input_error(w.run({"run", "base.yaml", "--set", "policy.index=IVF4,Bogus"}), "policy.index");
  w.dir.write("bm25.yaml",
              "extends: base.yaml\npolicy: {plugin: none}\nretriever: {plugin: bm25, corpus: corpus}\n");
  expect_input_error(w.run({"datastore", "build", "bm25.yaml"}), "keeps nothing");
}

}  // namespace
