// The SDK's value types, parameters, errors, progress and the interfaces'
// default behaviours.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "ralm/ralm.hpp"
#include "ralm/staging_directory.hpp"
#include "ralm/writer_leftovers.hpp"
#include "run_command.hpp"

namespace {

using ralm::Hit;

TEST(RankHits, HigherScoreFirstAndTiesToTheLowerId) {
  std::vector<Hit> hits = {{7, 1.0f}, {3, 2.0f}, {5, 1.0f}, {1, 1.0f}, {9, 3.0f}};
  ralm::rank_hits(hits);
  const std::vector<Hit> want = {{9, 3.0f}, {3, 2.0f}, {1, 1.0f}, {5, 1.0f}, {7, 1.0f}};
  EXPECT_EQ(hits, want);
}

TEST(RankHits, KeepsTheBestK) {
  std::vector<Hit> hits = {{4, 0.5f}, {2, 0.5f}, {8, 0.9f}, {6, 0.1f}};
  ralm::rank_hits(hits, 2);
  const std::vector<Hit> want = {{8, 0.9f}, {2, 0.5f}};
  EXPECT_EQ(hits, want);
  std::vector<Hit> few = {{1, 1.0f}};
  ralm::rank_hits(few, 5);
  EXPECT_EQ(few.size(), 1u);
}

TEST(Value, MapsKeepOrderAndLocations) {
  ralm::Value m = ralm::Value::map({}, {"p.yaml", 1, 1});
  m.set("b", ralm::Value::integer(2, {"p.yaml", 2, 4}));
  m.set("a", ralm::Value::real(0.25, {"p.yaml", 3, 4}));
  m.set("b", ralm::Value::string("x", {"p.yaml", 4, 4}));
  ASSERT_EQ(m.as_map().size(), 2u);
  EXPECT_EQ(m.as_map()[0].first, "b");
  EXPECT_EQ(m.find("b")->as_string(), "x");
  EXPECT_EQ(m.find("b")->where().str(), "p.yaml:4:4");
  EXPECT_EQ(m.str(), "{b: x, a: 0.25}");
  m.erase("b");
  EXPECT_EQ(m.find("b"), nullptr);
}

TEST(Value, FloatsPrintShortestAndIntsWiden) {
  EXPECT_EQ(ralm::Value::real(0.1).str(), "0.1");
  EXPECT_EQ(ralm::Value::real(1e-6).str(), "1e-06");
  EXPECT_DOUBLE_EQ(ralm::Value::integer(3).as_float(), 3.0);
  EXPECT_THROW(ralm::Value::string("x").as_int(), ralm::Error);
}

ralm::Params sample_params() {
  ralm::Value v = ralm::Value::map({}, {"p.yaml", 5, 3});
  v.set("k", ralm::Value::integer(5, {"p.yaml", 6, 8}));
  v.set("lambda", ralm::Value::real(0.25, {"p.yaml", 7, 13}));
  v.set("sizes", ralm::Value::list({ralm::Value::integer(1), ralm::Value::integer(2)}, {"p.yaml", 8, 8}));
  v.set("depth", ralm::Value::integer(3, {"default", 0, 0}));
  return ralm::Params("retriever", v);
}

TEST(Params, ReadsTypedValues) {
  const ralm::Params p = sample_params();
  EXPECT_EQ(p.get_int("k"), 5);
  EXPECT_DOUBLE_EQ(p.get_float("lambda"), 0.25);
  EXPECT_EQ(p.get_int_list("sizes"), (std::vector<std::int64_t>{1, 2}));
  EXPECT_TRUE(p.has("k"));
  EXPECT_FALSE(p.has("nope"));
}

TEST(Params, FailNamesTheFileLineColumnAndKey) {
  const ralm::Params p = sample_params();
  try {
    p.fail("lambda", "must be below 0.2");
    FAIL() << "fail() returned";
  } catch (const ralm::InputError& e) {
    EXPECT_STREQ(e.what(), "p.yaml:7:13: retriever.lambda: must be below 0.2");
  }
  // A default was written nowhere, so the error points at the section.
  try {
    p.fail("depth", "too deep");
    FAIL() << "fail() returned";
  } catch (const ralm::InputError& e) {
    EXPECT_STREQ(e.what(), "p.yaml:5:3: retriever.depth: too deep");
  }
}

TEST(Params, ReadingAnUndocumentedKeyIsAPluginBug) {
  const ralm::Params p = sample_params();
  try {
    (void)p.get_int("undocumented");
    FAIL();
  } catch (const ralm::InputError&) {
    FAIL() << "a plugin bug must not be reported as the user's input error";
  } catch (const ralm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("not documented"), std::string::npos);
  }
}

TEST(ParamSpec, BuildersRecordLimits) {
  const ralm::ParamSpec s = ralm::param::integer("k", 4, "help").between(1, 8);
  EXPECT_FALSE(s.required());
  EXPECT_EQ(*s.min, 1);
  EXPECT_EQ(*s.max, 8);
  EXPECT_EQ(s.default_value->as_int(), 4);
  EXPECT_TRUE(ralm::param::required("index", ralm::ParamType::Path, "h").required());
  EXPECT_EQ(ralm::param::string("m", "a", "h").one_of({"a", "b"}).choices.size(), 2u);
}

TEST(Errors, InputErrorIsAnError) {
  try {
    throw ralm::InputError("bad");
  } catch (const ralm::Error& e) {
    EXPECT_STREQ(e.what(), "bad");
  }
}

TEST(Progress, LineShowsCountRateAndTimeLeft) {
  ralm::Progress progress("indexing", 200, "passages");
  progress.advance(50);
  const std::string line = progress.line();
  EXPECT_NE(line.find("indexing: 50/200 passages (25%)"), std::string::npos) << line;
  EXPECT_NE(line.find("passages/s"), std::string::npos) << line;
  EXPECT_NE(line.find("left"), std::string::npos) << line;
  ralm::Progress open_ended("reading", 0);
  open_ended.advance(3);
  EXPECT_EQ(open_ended.line().find("left"), std::string::npos);
}

TEST(Progress, FormatsDurations) {
  EXPECT_EQ(ralm::format_duration(4.25), "4.2s");
  EXPECT_EQ(ralm::format_duration(185), "3m05s");
  EXPECT_EQ(ralm::format_duration(3720), "1h02m");
  EXPECT_EQ(ralm::format_duration(-1), "?");
}

// A model whose evaluation records its calls, to check the defaults.
class CountingSequence final : public ralm::Sequence {
 public:
  std::int32_t length() const override { return static_cast<std::int32_t>(tokens_.size()); }
  const ralm::Tokens& tokens() const override { return tokens_; }
  void truncate(std::int32_t n) override { tokens_.resize(static_cast<std::size_t>(n)); }
  std::unique_ptr<ralm::Sequence> clone() const override { return std::make_unique<CountingSequence>(*this); }
  ralm::Tokens tokens_;
};

class CountingModel final : public ralm::Model {
 public:
  const ralm::Tokenizer& tokenizer() const override { throw ralm::Error("no tokenizer"); }
  ralm::ModelInfo info() const override { return {"counting", 4, 16, 2, 1, 2, 0, 0, {}}; }
  std::unique_ptr<ralm::Sequence> new_sequence() override { return std::make_unique<CountingSequence>(); }
  ralm::EvalResult eval(ralm::Sequence& seq, std::span<const ralm::TokenId> tokens,
                        const ralm::EvalOptions&) override {
    auto& s = static_cast<CountingSequence&>(seq);
    s.tokens_.insert(s.tokens_.end(), tokens.begin(), tokens.end());
    ++calls;
    ralm::EvalResult r;
    r.rows = 1;
    r.logits = {static_cast<float>(s.tokens_.size()), 0, 0, 0};
    return r;
  }
  int calls = 0;
};

TEST(ModelDefaults, EvalBatchEvaluatesEachSequenceInOrder) {
  CountingModel model;
  auto a = model.new_sequence();
  auto b = model.new_sequence();
  const ralm::Tokens ta = {1, 2, 3}, tb = {4};
  std::vector<ralm::Sequence*> seqs = {a.get(), b.get()};
  std::vector<std::span<const ralm::TokenId>> toks = {ta, tb};
  const auto results = model.eval_batch(seqs, toks, {});
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].logits[0], 3.0f);
  EXPECT_EQ(results[1].logits[0], 1.0f);
  EXPECT_EQ(model.calls, 2);
  std::vector<std::span<const ralm::TokenId>> one = {ta};
  EXPECT_THROW(model.eval_batch(seqs, one, {}), ralm::Error);
}

TEST(ModelDefaults, FixedVocabularyAndNoAdaptersAreInputErrors) {
  CountingModel model;
  EXPECT_THROW(model.add_special_token("<MARK_L>"), ralm::InputError);
  EXPECT_THROW(model.load_adapter("a", "/nowhere"), ralm::InputError);
  EXPECT_NO_THROW(model.set_active_adapter(""));
  EXPECT_THROW(model.set_active_adapter("a"), ralm::InputError);
  EXPECT_THROW(model.save("/nowhere", {}), ralm::InputError);
  EXPECT_TRUE(model.info().details.empty());
}

class LengthRetriever final : public ralm::Retriever {
 public:
  std::vector<std::vector<ralm::Hit>> search(std::span<const std::string>, std::int64_t) override {
    return {};
  }
  std::vector<float> score(std::string_view q, std::span<const ralm::PassageId> ids) override {
    std::vector<float> out;
    for (auto id : ids)
      out.push_back(static_cast<float>(q.size() * 10 + static_cast<std::size_t>(id)));
    return out;
  }
  ralm::Passage passage(ralm::PassageId id) const override { return {id, "", ""}; }
  std::int64_t size() const override { return 10; }
};

TEST(RetrieverDefaults, ScoreBatchIsRowMajorQueriesByIds) {
  LengthRetriever r;
  const std::vector<std::string> queries = {"a", "abc"};
  const std::vector<ralm::PassageId> ids = {1, 2};
  EXPECT_EQ(r.score_batch(queries, ids), (std::vector<float>{11, 12, 31, 32}));
}

// A writer killed outright (SIGKILL: no destructor runs) leaves its
// partial folder; the next writer of the same folder removes it.
TEST(StagingDirectory, WhatAKilledWriterLeftGoesAtTheNextWrite) {
  namespace fs = std::filesystem;
  const ralm::test::TempDir dir;
  const fs::path out = dir.path() / "index";
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ralm::StagingDirectory staging(out, false);
    std::ofstream(staging.path() / "half") << "written before the kill";
    ::raise(SIGKILL);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status));
  const fs::path left = out.string() + ".partial-" + std::to_string(child);
  ASSERT_TRUE(fs::exists(left / "half"));
  // A leftover of a process still running (pid 1) and one of another folder stay.
  const fs::path running = out.string() + ".partial-1",
                 other = dir.path() / ("other.partial-" + std::to_string(child));
  fs::create_directories(running);
  fs::create_directories(other);
  ralm::StagingDirectory again(out, false);
  std::ofstream(again.path() / "whole") << "complete";
  again.commit();
  EXPECT_FALSE(fs::exists(left));
  EXPECT_TRUE(fs::exists(out / "whole"));
  EXPECT_TRUE(fs::exists(running));
  EXPECT_TRUE(fs::exists(other));

  // Killed between its two renames: the old folder moved aside, the new one
  // not yet in place. The old one is the folder again, and nothing is lost.
  fs::rename(out, out.string() + ".old-" + std::to_string(child));
  EXPECT_THROW(ralm::StagingDirectory(out, false), ralm::InputError);  // restored, so it exists
  EXPECT_TRUE(fs::exists(out / "whole"));

  // A single file's temporary goes the same way.
  const fs::path file = dir.path() / "manifest.json";
  std::ofstream(file.string() + ".tmp-" + std::to_string(child)) << "half";
  ralm::write_file_atomically(file, [](std::ostream& o) { o << "{}"; });
  EXPECT_FALSE(fs::exists(file.string() + ".tmp-" + std::to_string(child)));
  EXPECT_TRUE(fs::exists(file));
}

// A command that uses an existing folder as it stands (an index build finding
// the index there) writes nothing, so it removes what a killed rebuild left
// beside the folder itself, and puts back a folder the rebuild had moved aside.
TEST(WriterLeftovers, GoWhenTheOutputIsUsedAsItStands) {
  namespace fs = std::filesystem;
  const ralm::test::TempDir dir;
  const fs::path out = dir.path() / "index";
  fs::create_directories(out);
  std::ofstream(out / "whole") << "complete";
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) ::_exit(0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  const std::string gone = std::to_string(child);
  const fs::path partial = out.string() + ".partial-" + gone;
  fs::create_directories(partial);
  ralm::recover_writer_leftovers(out);
  EXPECT_FALSE(fs::exists(partial));
  EXPECT_TRUE(fs::exists(out / "whole"));

  const fs::path old = out.string() + ".old-" + gone;
  fs::rename(out, old);
  ralm::recover_writer_leftovers(out);
  EXPECT_FALSE(fs::exists(old));
  EXPECT_TRUE(fs::exists(out / "whole"));
}

}  // namespace
