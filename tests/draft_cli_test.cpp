// A draft retriever through `ralm` as a user meets it: `ralm index build`
// builds its index, `ralm run` of every engine.draft mode (synchronous and
// asynchronous verification) gives the baseline's tokens and passages, the
// summary reports the draft, and each bad draft setting is one clear line
// with exit code 2.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_expectations.hpp"
#include "run_command.hpp"
#include "synthetic_corpus.hpp"

namespace {

using nlohmann::json;
using ralm::test::CommandResult;
using ralm::test::expect_input_error;
using ralm::test::run_ralm;
using ralm::test::TempDir;

// The synthetic corpus; a tiny random Llama over bytes; exact dense retrieval
// verifying a draft over the same passages (IVF-PQ probing one list of four).
struct Workspace {
  TempDir dir;
  Workspace() {
    build_corpus("corpus", 6);
    dir.write("prompts.jsonl",
              "{\"id\": \"compilers\", \"prompt\": \"Compilers translate a programming language; garbage "
              "collection reclaims memory\"}\n"
              "{\"id\": \"kernel\", \"prompt\": \"the kernel schedules each thread and process\"}\n");
    dir.write(
        "base.yaml",
        "model: {plugin: llama, init: random, seed: 1, tokenizer: bytes, hidden_size: 32,\n"
        "        intermediate_size: 64, num_layers: 2, num_heads: 4, num_kv_heads: 2, context_length: 512}\n"
        "retriever: {plugin: dense, corpus: corpus, dim: 8, min_df: 1}\n"
        "policy: {plugin: prepend}\n"
        "engine: {stride: 2, top_k: 2, max_passage_tokens: 24, max_new_tokens: 16, threads: 1}\n"
        "task: {kind: generate, prompts: prompts.jsonl}\n");
    dir.write("draft.yaml",
              "extends: base.yaml\n"
              "draft_retriever: {plugin: dense, corpus: corpus, dim: 8, min_df: 1, index: 'IVF4,PQ4x4', "
              "nprobe: 1}\n"
              "scheduler: {plugin: fixed, steps_per_round: 3}\n"
              "engine: {draft: with_cache, prefetch: 4}\n");
  }
  CommandResult run(std::vector<std::string> args) const { return run_ralm(std::move(args), dir.path()); }
  // The synthetic corpus (its passages share words, so a draft is sometimes
  // wrong) in passages of `words` words.
  void build_corpus(const std::string& out, int words) const {
    const auto docs = ralm::test::write_synthetic_corpus(dir);
    const auto built = run({"corpus", "build", "--source", "jsonl:" + docs.string(), "--words",
                            std::to_string(words), "--out", out});
    ASSERT_EQ(built.exit_code, 0) << built.err;
  }
  std::vector<json> outputs(const std::string& name) const {
    std::ifstream in(dir.path() / "out" / name / "outputs.jsonl");
    std::vector<json> lines;
    for (std::string line; std::getline(in, line);)
      lines.push_back(json::parse(line));
    return lines;
  }
  json summary(const std::string& name) const {
    std::ifstream in(dir.path() / "out" / name / "summary.json");
    return json::parse(in);
  }
};

// The tokens and the ids of every retrieval's passages.
void expect_same_outputs(const std::vector<json>& run, const std::vector<json>& baseline,
                         const std::string& where) {
  ASSERT_EQ(run.size(), baseline.size()) << where;
  for (std::size_t i = 0; i < baseline.size(); ++i) {
    EXPECT_EQ(run[i]["output_ids"], baseline[i]["output_ids"]) << where;
    const json& got = run[i]["retrievals"];
    const json& want = baseline[i]["retrievals"];
    ASSERT_EQ(got.size(), want.size()) << where;
    for (std::size_t j = 0; j < want.size(); ++j) {
      ASSERT_EQ(got[j]["hits"].size(), want[j]["hits"].size()) << where;
      for (std::size_t h = 0; h < want[j]["hits"].size(); ++h)
        EXPECT_EQ(got[j]["hits"][h]["id"], want[j]["hits"][h]["id"]) << where << " retrieval " << j;
    }
  }
}

TEST(DraftCli, EveryDraftModeGivesTheBaselinesOutputs) {
  Workspace w;
  const auto built = w.run({"index", "build", "draft.yaml"});
  ASSERT_EQ(built.exit_code, 0) << built.err;
  EXPECT_NE(built.out.find("draft_retriever 'dense' is ready"), std::string::npos) << built.out;
  EXPECT_TRUE(std::filesystem::exists(w.dir.path() / "corpus/dense-lsa8/faiss-IVF4_PQ4x4-ip"));

  const auto base = w.run({"run", "base.yaml"});
  ASSERT_EQ(base.exit_code, 0) << base.err;
  const std::vector<json> baseline = w.outputs("base");
  ASSERT_EQ(baseline.size(), 2u);
  std::int64_t draft_accepted = 0;
  for (const std::string mode : {"only", "with_cache"}) {
    for (const std::string async : {"false", "true"}) {
      const auto r = w.run({"run", "draft.yaml", "--set", "engine.draft=" + mode, "--set",
                            "engine.async_verification=" + async});
      ASSERT_EQ(r.exit_code, 0) << r.err;
      expect_same_outputs(w.outputs("draft"), baseline, mode + " async " + async);
      const json speculation = w.summary("draft")["speculation"];
      ASSERT_TRUE(speculation.contains("draft")) << speculation;
      EXPECT_GT(speculation["draft"]["searches"].get<std::int64_t>(), 0);
      EXPECT_EQ(speculation["draft"]["speculated_steps"].get<std::int64_t>() +
                    speculation["cache"]["speculated_steps"].get<std::int64_t>(),
                speculation["speculated_steps"].get<std::int64_t>());
      draft_accepted += speculation["draft"]["accepted_steps"].get<std::int64_t>();
    }
  }
  EXPECT_GT(draft_accepted, 0);
  // engine.draft: off is RaLMSpec as before: no draft is built (its missing
  // index is not even looked for) or searched.
  const auto off =
      w.run({"run", "draft.yaml", "--set", "engine.draft=off", "--set", "draft_retriever.index_dir=nowhere",
             "--set", "draft_retriever.build_if_missing=false"});
  ASSERT_EQ(off.exit_code, 0) << off.err;
  expect_same_outputs(w.outputs("draft"), baseline, "off");
  EXPECT_FALSE(w.summary("draft")["speculation"].contains("draft"));
}

TEST(DraftCli, EachBadDraftSettingIsOneLine) {
  Workspace w;
  expect_input_error(w.run({"run", "draft.yaml", "--set", "engine.draft=always"}), "engine.draft");
  expect_input_error(w.run({"run", "draft.yaml", "--set", "draft_retriever=null"}),
                     "engine.draft: with_cache needs a `draft_retriever:` section");
  expect_input_error(w.run({"run", "draft.yaml", "--set", "scheduler=null"}), "has no `scheduler:` section");
  expect_input_error(w.run({"run", "draft.yaml", "--set", "draft_retriever.plugin=bogus"}),
                     "draft_retriever.plugin: unknown retriever plugin 'bogus'");
  expect_input_error(w.run({"run", "draft.yaml", "--set", "draft_retriever.nprob=2"}),
                     "draft_retriever: unknown key 'nprob'");
  // A draft over other passages could never be accepted: refused.
  // (Flat: FAISS would warn of too few training points on stderr.)
  w.build_corpus("other", 4);
  w.build_corpus("same-size", 9);
  for (const std::string other : {"other", "same-size"}) {
    expect_input_error(
        w.run({"run", "draft.yaml", "--set", "draft_retriever.corpus=" + other, "--set",
               "draft_retriever.index=Flat"}),
        "draft_retriever.corpus: the draft retriever must search the retriever's passage store");
  }
}

}  // namespace
