// The xapian retriever: sharded rankings equal Xapian's single-database
// ranking, locally and through `xapian-tcpsrv` servers this test starts on
// 127.0.0.1; score() equals search(); a shard that dies mid-run, a bad host,
// a port with nothing listening and a shard list that does not match the
// index each give one clear error, or with partial results a counted search
// of the others. A batch runs its queries at once on a pool of connections
// (parallel_queries): the same rankings as one after another, and the same
// errors, from every thread at once, as one line, leaving no thread behind;
// connections a server closed while idle are opened again.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "ralm/core/corpus/corpus_builder.hpp"
#include "ralm/error.hpp"
#include "run_command.hpp"
#include "shard_index.hpp"
#include "synthetic_corpus.hpp"
#include "xapian_retriever.hpp"
#include "xapian_tcpsrv.hpp"

namespace {

namespace fs = std::filesystem;
namespace xs = ralm::xapian_shards;
using ralm::test::free_port;
using ralm::test::ShardServer;
using ralm::test::TempDir;

const std::string kCorpus = RALM_SOURCE_DIR "/tests/fixtures/corpus";

// 160 passages over 32 words: many share words, so rankings have ties, which
// must break to the lower id across shards as in one database.
std::shared_ptr<const ralm::PassageStore> fixture_store(const TempDir& dir) {
  ralm::core::CorpusBuildOptions o;
  o.sources = {ralm::core::parse_source("jsonl:" + ralm::test::write_synthetic_corpus(dir).string())};
  o.out = dir.path() / "corpus";
  o.words_per_passage = 12;
  ralm::core::build_corpus(o);
  return ralm::PassageStore::open(o.out);
}

const std::vector<std::string>& queries() {
  static const std::vector<std::string> q = [] {
    std::vector<std::string> all = ralm::test::topic_prompts();
    all.insert(all.end(), {"disk block cache page table", "token parser grammar stack", "pointer"});
    return all;
  }();
  return q;
}

std::vector<xs::ShardLocation> local_shards(const fs::path& dir, std::int64_t count) {
  std::vector<xs::ShardLocation> out;
  for (std::int64_t s = 0; s < count; ++s)
    out.push_back({.path = xs::shard_path(dir, s), .host = "", .port = 0});
  return out;
}

xs::ShardLocation remote(unsigned port) {
  return {.path = {}, .host = "127.0.0.1", .port = port};
}

xs::RetrieverSettings with_parallel_queries(std::int64_t parallel) {
  xs::RetrieverSettings settings;
  settings.parallel_queries = parallel;
  return settings;
}

// The threads of this process: a batch's threads must all have ended.
std::int64_t thread_count() {
  std::int64_t n = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator("/proc/self/task"))
    ++n;
  return n;
}

// queries() repeated to `n`: a batch wider than the pool, so threads take
// several queries each.
std::vector<std::string> batch_of(std::size_t n) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n; ++i)
    out.push_back(queries()[i % queries().size()]);
  return out;
}

class XapianShards : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    store_ = fixture_store(*dir_);
    xs::build_shards(*store_, dir_->path() / "one", 1, false);
    xs::build_shards(*store_, dir_->path() / "three", 3, false);
  }
  static void TearDownTestSuite() {
    store_.reset();
    delete dir_;
  }
  static fs::path one() { return dir_->path() / "one"; }
  static fs::path three() { return dir_->path() / "three"; }

  static inline TempDir* dir_ = nullptr;
  static inline std::shared_ptr<const ralm::PassageStore> store_;
};

void expect_same_rankings(ralm::Retriever& a, ralm::Retriever& b, std::int64_t k) {
  const auto ra = a.search(queries(), k), rb = b.search(queries(), k);
  ASSERT_EQ(ra.size(), rb.size());
  for (std::size_t q = 0; q < ra.size(); ++q) {
    ASSERT_FALSE(ra[q].empty()) << queries()[q];
    ASSERT_EQ(ra[q].size(), rb[q].size()) << queries()[q];
    for (std::size_t i = 0; i < ra[q].size(); ++i) {
      EXPECT_EQ(ra[q][i].id, rb[q][i].id) << queries()[q] << " rank " << i;
      EXPECT_EQ(ra[q][i].score, rb[q][i].score) << queries()[q] << " rank " << i;
    }
  }
}

TEST_F(XapianShards, PassagesKeepTheirStoreIdsInEveryShard) {
  xs::XapianRetriever single(store_, local_shards(one(), 1), {});
  for (const auto& hits : single.search(queries(), 5)) {
    for (const ralm::Hit& h : hits) {
      // The passage's own title words find it first among equals.
      const ralm::Passage p = single.passage(h.id);
      EXPECT_GE(h.id, 0);
      EXPECT_LT(h.id, store_->size());
      EXPECT_FALSE(p.text.empty());
    }
  }
  xs::XapianRetriever sharded(store_, local_shards(three(), 3), {});
  for (ralm::PassageId id : {0, 1, 2, 5, 7}) {
    const std::string text(store_->text(id));
    const auto hits = sharded.search({&text, 1}, 1);
    ASSERT_EQ(hits[0].size(), 1u);
    EXPECT_EQ(sharded.score(text, std::vector<ralm::PassageId>{hits[0][0].id})[0], hits[0][0].score);
  }
}

TEST_F(XapianShards, ThreeLocalShardsRankAsOneDatabase) {
  xs::XapianRetriever single(store_, local_shards(one(), 1), {});
  xs::XapianRetriever sharded(store_, local_shards(three(), 3), {});
  expect_same_rankings(single, sharded, 10);
}

TEST_F(XapianShards, RemoteShardsRankAsOneDatabase) {
  ShardServer s0(xs::shard_path(three(), 0)), s1(xs::shard_path(three(), 1)), s2(xs::shard_path(three(), 2));
  xs::XapianRetriever single(store_, local_shards(one(), 1), {});
  xs::XapianRetriever remote_shards(store_, {remote(s0.port()), remote(s1.port()), remote(s2.port())}, {});
  expect_same_rankings(single, remote_shards, 10);
}

TEST_F(XapianShards, ScoreEqualsSearchBitForBit) {
  ShardServer s0(xs::shard_path(three(), 0)), s1(xs::shard_path(three(), 1)), s2(xs::shard_path(three(), 2));
  xs::XapianRetriever r(store_, {remote(s0.port()), remote(s1.port()), remote(s2.port())}, {});
  for (const std::string& q : queries()) {
    const auto hits = r.search({&q, 1}, 8)[0];
    std::vector<ralm::PassageId> ids;
    for (const ralm::Hit& h : hits)
      ids.push_back(h.id);
    ids.push_back(store_->size() - 1);  // likely not matching: scores 0 unless it does
    const std::vector<float> scores = r.score(q, ids);
    for (std::size_t i = 0; i < hits.size(); ++i)
      EXPECT_EQ(scores[i], hits[i].score) << q;
  }
}

// A batch over remote shards, its queries at once (8 threads over 20
// queries): bit for bit the rankings of one query after another and of one
// local database, in the same order; score_batch() likewise.
TEST_F(XapianShards, AParallelBatchOverRemoteShardsRanksAsOneAfterAnother) {
  ShardServer s0(xs::shard_path(three(), 0)), s1(xs::shard_path(three(), 1)), s2(xs::shard_path(three(), 2));
  const std::vector<xs::ShardLocation> where = {remote(s0.port()), remote(s1.port()), remote(s2.port())};
  xs::XapianRetriever parallel(store_, where, with_parallel_queries(8));
  xs::XapianRetriever sequential(store_, where, with_parallel_queries(1));
  xs::XapianRetriever single(store_, local_shards(one(), 1), with_parallel_queries(1));
  const std::vector<std::string> batch = batch_of(20);
  const auto got = parallel.search(batch, 10);
  for (xs::XapianRetriever* other : {&sequential, &single}) {
    const auto want = other->search(batch, 10);
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t q = 0; q < got.size(); ++q) {
      ASSERT_EQ(got[q].size(), want[q].size()) << batch[q];
      for (std::size_t i = 0; i < got[q].size(); ++i) {
        EXPECT_EQ(got[q][i].id, want[q][i].id) << batch[q] << " rank " << i;
        EXPECT_EQ(got[q][i].score, want[q][i].score) << batch[q] << " rank " << i;
      }
    }
  }
  std::vector<ralm::PassageId> ids;
  for (const ralm::Hit& h : got[0])
    ids.push_back(h.id);
  ids.push_back(store_->size() - 1);
  const std::vector<float> scores = parallel.score_batch(batch, ids);
  ASSERT_EQ(scores.size(), batch.size() * ids.size());
  for (std::size_t q = 0; q < batch.size(); ++q) {
    const std::vector<float> row = sequential.score(batch[q], ids);
    for (std::size_t i = 0; i < ids.size(); ++i)
      EXPECT_EQ(scores[q * ids.size() + i], row[i]) << batch[q] << " id " << ids[i];
  }
}

// Asynchronous verification searches on one thread while the request scores
// its cache on another (sdk/include/ralm/retriever.hpp): both at once, over
// one pool, give what each gives alone.
TEST_F(XapianShards, SearchAndScoreFromTwoThreadsAtOnceGiveWhatEachGivesAlone) {
  ShardServer s0(xs::shard_path(three(), 0)), s1(xs::shard_path(three(), 1)), s2(xs::shard_path(three(), 2));
  xs::XapianRetriever r(store_, {remote(s0.port()), remote(s1.port()), remote(s2.port())},
                        with_parallel_queries(4));
  const std::vector<std::string> batch = batch_of(12);
  const std::vector<ralm::PassageId> ids = {0, 5, 17, store_->size() - 1};
  const auto hits = r.search(batch, 5);
  const std::vector<float> scores = r.score_batch(batch, ids);
  int searches_differ = 0, scores_differ = 0;
  {
    std::jthread searching([&] {
      for (int i = 0; i < 5; ++i) {
        const auto again = r.search(batch, 5);
        for (std::size_t q = 0; q < batch.size(); ++q) {
          for (std::size_t h = 0; h < again[q].size(); ++h)
            searches_differ += again[q][h].id != hits[q][h].id || again[q][h].score != hits[q][h].score;
        }
      }
    });
    for (int i = 0; i < 5; ++i)
      scores_differ += r.score_batch(batch, ids) != scores;
  }
  EXPECT_EQ(searches_differ, 0);
  EXPECT_EQ(scores_differ, 0);
}

// A server closes connections idle longer than its --idle-timeout; the
// pooled connections it closed are opened again, and the batch succeeds.
TEST_F(XapianShards, ConnectionsTheServersClosedWhileIdleAreOpenedAgain) {
  ShardServer s0(xs::shard_path(three(), 0), 300), s1(xs::shard_path(three(), 1), 300),
      s2(xs::shard_path(three(), 2), 300);
  xs::XapianRetriever r(store_, {remote(s0.port()), remote(s1.port()), remote(s2.port())},
                        with_parallel_queries(4));
  const std::vector<std::string> batch = batch_of(8);
  const auto first = r.search(batch, 5);
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  const auto again = r.search(batch, 5);
  ASSERT_EQ(again.size(), first.size());
  for (std::size_t q = 0; q < first.size(); ++q) {
    ASSERT_EQ(again[q].size(), first[q].size());
    for (std::size_t h = 0; h < first[q].size(); ++h)
      EXPECT_EQ(again[q][h].id, first[q][h].id);
  }
  EXPECT_EQ(r.live_shards(), 3);
}

TEST_F(XapianShards, ParallelQueriesBelowOneIsRefused) {
  EXPECT_THROW(xs::XapianRetriever(store_, local_shards(one(), 1), with_parallel_queries(0)),
               ralm::InputError);
}

void expect_one_error_naming(xs::XapianRetriever& r, const std::vector<std::string>& batch, unsigned port,
                             std::chrono::seconds within) {
  const auto started = std::chrono::steady_clock::now();
  try {
    r.search(batch, 3);
    FAIL() << "a search with a dead shard succeeded";
  } catch (const ralm::Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, within);
}

void expect_killed_shard_is_one_error(const std::shared_ptr<const ralm::PassageStore>& store,
                                      const fs::path& three, std::int64_t parallel) {
  ShardServer s0(xs::shard_path(three, 0)), s1(xs::shard_path(three, 1)), s2(xs::shard_path(three, 2));
  xs::RetrieverSettings settings = with_parallel_queries(parallel);
  settings.open.timeout_ms = 2000;
  xs::XapianRetriever r(store, {remote(s0.port()), remote(s1.port()), remote(s2.port())}, settings);
  const std::vector<std::string> batch = batch_of(20);
  ASSERT_FALSE(r.search(batch, 3)[0].empty());
  const std::int64_t threads = thread_count();
  s1.stop();
  expect_one_error_naming(r, batch, s1.port(), std::chrono::seconds(10));
  // Again, on connections that broke last time: the same one error.
  expect_one_error_naming(r, batch, s1.port(), std::chrono::seconds(10));
  EXPECT_EQ(thread_count(), threads);
}

TEST_F(XapianShards, AShardKilledMidRunIsAnErrorNamingIt) {
  expect_killed_shard_is_one_error(store_, three(), 1);
}

TEST_F(XapianShards, AShardKilledMidBatchIsOneErrorFromParallelQueries) {
  expect_killed_shard_is_one_error(store_, three(), 8);
}

// A shard that hangs: every thread's round trip waits out the timeout at
// once, then one probe names it; the threads do not probe one after another.
TEST_F(XapianShards, AStalledShardIsOneErrorWithinAboutTwoTimeouts) {
  ShardServer s0(xs::shard_path(three(), 0)), s1(xs::shard_path(three(), 1)), s2(xs::shard_path(three(), 2));
  xs::RetrieverSettings settings = with_parallel_queries(8);
  settings.open.timeout_ms = 1000;
  xs::XapianRetriever r(store_, {remote(s0.port()), remote(s1.port()), remote(s2.port())}, settings);
  const std::vector<std::string> batch = batch_of(16);
  ASSERT_FALSE(r.search(batch, 3)[0].empty());
  const std::int64_t threads = thread_count();
  s1.pause();
  // Sequential probes by 8 threads would take 8 timeouts and more.
  expect_one_error_naming(r, batch, s1.port(), std::chrono::seconds(5));
  EXPECT_EQ(thread_count(), threads);
}

void expect_partial_results_counted(const std::shared_ptr<const ralm::PassageStore>& store,
                                    const fs::path& three, std::int64_t parallel) {
  ShardServer s0(xs::shard_path(three, 0)), s1(xs::shard_path(three, 1)), s2(xs::shard_path(three, 2));
  xs::RetrieverSettings settings = with_parallel_queries(parallel);
  settings.partial_results = true;
  settings.open.timeout_ms = 2000;
  xs::XapianRetriever r(store, {remote(s0.port()), remote(s1.port()), remote(s2.port())}, settings);
  const std::vector<std::string> batch = batch_of(20);
  ASSERT_FALSE(r.search(batch, 5)[0].empty());
  EXPECT_EQ(r.partial_searches(), 0);
  s1.stop();
  const auto results = r.search(batch, 5);
  EXPECT_EQ(r.live_shards(), 2);
  EXPECT_EQ(r.partial_searches(), static_cast<std::int64_t>(batch.size()));
  bool any = false;
  for (const auto& hits : results) {
    for (const ralm::Hit& h : hits) {
      EXPECT_NE(h.id % 3, 1) << "a passage of the dead shard";
      any = true;
    }
  }
  EXPECT_TRUE(any);
  // Scores count too, one per query, and agree with the searches left.
  const std::vector<ralm::PassageId> ids = {results[0][0].id, results[1][0].id};
  const std::vector<float> scores = r.score_batch(std::span(batch).first(2), ids);
  EXPECT_EQ(scores[0], results[0][0].score);
  EXPECT_EQ(scores[3], results[1][0].score);
  EXPECT_EQ(r.partial_searches(), static_cast<std::int64_t>(batch.size()) + 2);
}

TEST_F(XapianShards, PartialResultsSearchTheShardsLeftAndCountIt) {
  expect_partial_results_counted(store_, three(), 1);
}

TEST_F(XapianShards, PartialResultsWithParallelQueriesCountEachQueryOnce) {
  expect_partial_results_counted(store_, three(), 8);
}

TEST_F(XapianShards, UnreachableShardsAreOneErrorNamingHostAndPort) {
  const unsigned nobody = free_port();
  try {
    xs::XapianRetriever r(store_, {remote(nobody)}, {});
    FAIL();
  } catch (const ralm::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:" + std::to_string(nobody)), std::string::npos)
        << e.what();
  }
  xs::RetrieverSettings quick;
  quick.open.connect_timeout_ms = 500;
  try {
    xs::XapianRetriever r(store_, {{.path = {}, .host = "no-such-host.invalid", .port = 7001}}, quick);
    FAIL();
  } catch (const ralm::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("no-such-host.invalid:7001"), std::string::npos) << e.what();
  }
  EXPECT_THROW(xs::parse_remote("127.0.0.1", "remote[0]"), ralm::InputError);
  EXPECT_THROW(xs::parse_remote("127.0.0.1:0", "remote[0]"), ralm::InputError);
  EXPECT_THROW(xs::parse_remote("127.0.0.1:99999", "remote[0]"), ralm::InputError);
  EXPECT_EQ(xs::parse_remote("localhost:7001", "remote[0]").port, 7001u);
}

TEST_F(XapianShards, AShardListThatDoesNotMatchTheIndexIsOneError) {
  ShardServer s0(xs::shard_path(three(), 0)), s1(xs::shard_path(three(), 1));
  try {
    xs::XapianRetriever r(store_, {remote(s0.port()), remote(s1.port())}, {});
    FAIL();
  } catch (const ralm::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("holds shard 0/3, but it is listed as shard 0/2"), std::string::npos)
        << e.what();
  }
  try {  // in the wrong order
    xs::XapianRetriever r(store_, {remote(s1.port()), remote(s0.port())}, {});
    FAIL();
  } catch (const ralm::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("holds shard 1/3"), std::string::npos) << e.what();
  }
}

TEST_F(XapianShards, AnIndexOfAnotherCorpusIsRefused) {
  TempDir other;
  ralm::core::CorpusBuildOptions o;
  o.sources = {ralm::core::parse_source("jsonl:" + kCorpus + "/docs.jsonl")};
  o.out = other.path() / "corpus";
  o.words_per_passage = 8;
  ralm::core::build_corpus(o);
  const auto store = ralm::PassageStore::open(o.out);
  EXPECT_THROW(xs::read_shard_count(three(), *store), ralm::InputError);
  EXPECT_THROW(xs::XapianRetriever(store, local_shards(three(), 3), {}), ralm::InputError);
}

}  // namespace
