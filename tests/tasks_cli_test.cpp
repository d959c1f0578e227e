// `ralm run` and `ralm compare` on the perplexity and qa tasks, end to end
// with a tiny random Llama and BM25 over the fixture corpus: the figures are
// printed and written, and bad task input is one clear line with exit code 2.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_expectations.hpp"
#include "run_command.hpp"

namespace {

using ralm::test::CommandResult;
using ralm::test::TempDir;

using ralm::test::run_ralm;

using ralm::test::expect_input_error;

// A folder with the fixture corpus and a base pipeline: a 2-layer random
// Llama over bytes, BM25, prepend at stride 4.
struct Workspace {
  TempDir dir;
  Workspace() {
    ralm::test::build_fixture_corpus(dir.path());
    dir.write(
        "base.yaml",
        "model: {plugin: llama, init: random, seed: 1, tokenizer: bytes, hidden_size: 32,\n"
        "        intermediate_size: 64, num_layers: 2, num_heads: 4, num_kv_heads: 2, context_length: 512}\n"
        "retriever: {plugin: bm25, corpus: corpus}\n"
        "policy: {plugin: prepend}\n"
        "engine: {stride: 4, max_passage_tokens: 32, max_new_tokens: 8, threads: 1}\n");
  }
  CommandResult run(std::vector<std::string> args) const { return run_ralm(std::move(args), dir.path()); }
};

TEST(TasksCli, PerplexityPrintsAndWritesItsFigures) {
  Workspace w;
  w.dir.write("ppl.yaml", "extends: base.yaml\ntask: {kind: perplexity, corpus: corpus, max_tokens: 200}\n");
  w.dir.write("ppl-none.yaml", "extends: ppl.yaml\nretriever: null\npolicy: {plugin: none}\n");
  w.dir.write("ppl-append.yaml", "extends: ppl.yaml\npolicy: {plugin: append, marking_tokens: false}\n");
  const auto r = w.run({"compare", "ppl-none.yaml", "ppl.yaml", "ppl-append.yaml"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("PERPLEXITY"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ppl-append"), std::string::npos) << r.out;
  std::ifstream in(w.dir.path() / "out/ppl/summary.json");
  const auto summary = nlohmann::json::parse(in);
  EXPECT_EQ(summary["task"], "perplexity");
  EXPECT_EQ(summary["tokens_scored"], 200);
  EXPECT_GT(summary["perplexity"].get<double>(), 1.0);
  EXPECT_TRUE(std::filesystem::exists(w.dir.path() / "out/ppl/documents.jsonl"));

  w.dir.write("text.txt", "Lisp programs are lists, and lists are Lisp programs.");
  const auto t = w.run({"run", "ppl.yaml", "--set", "task.corpus=", "--set", "task.text=text.txt"});
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_NE(t.out.find("PERPLEXITY"), std::string::npos) << t.out;
}

TEST(TasksCli, QaPrintsExactMatchAndF1) {
  Workspace w;
  w.dir.write("q.jsonl",
              "{\"id\": \"a\", \"question\": \"What is Lisp?\", \"answers\": [\"a language\"]}\n"
              "{\"id\": \"b\", \"question\": \"What is Fortran?\", \"answers\": [\"a language\"]}\n");
  w.dir.write("qa.yaml", "extends: base.yaml\ntask: {kind: qa, questions: q.jsonl}\n");
  w.dir.write("qa-none.yaml", "extends: qa.yaml\nretriever: null\npolicy: {plugin: none}\n");
  const auto r = w.run({"compare", "qa-none.yaml", "qa.yaml"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("EM"), std::string::npos) << r.out;
  std::ifstream in(w.dir.path() / "out/qa/summary.json");
  const auto summary = nlohmann::json::parse(in);
  EXPECT_EQ(summary["task"], "qa");
  EXPECT_EQ(summary["requests"], 2);
  EXPECT_TRUE(summary.contains("f1"));
}

// The cells of the table row that starts with `name`, split where two or
// more spaces separate them; the header's cells, likewise, for "PIPELINE".
std::vector<std::string> cells(const std::string& table, const std::string& name) {
  std::istringstream in(table);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name + " ", 0) != 0) continue;
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start < line.size()) {
      const std::size_t gap = line.find("  ", start);
      out.push_back(line.substr(start, gap - start));
      if (gap == std::string::npos) break;
      start = line.find_first_not_of(' ', gap);
    }
    return out;
  }
  return {};
}

TEST(TasksCli, CompareMeasuresEachPipelineAgainstItsBaseline) {
  Workspace w;
  w.dir.write("p.jsonl", "{\"prompt\": \"Lisp is\"}\n{\"prompt\": \"Fortran is\"}\n");
  w.dir.write("none.yaml",
              "extends: base.yaml\nname: none\nretriever: null\npolicy: {plugin: none}\n"
              "task: {kind: generate, prompts: p.jsonl}\n");
  w.dir.write("prepend.yaml",
              "extends: base.yaml\nname: prepend\ntask: {kind: generate, prompts: p.jsonl}\n");
  w.dir.write("spec.yaml",
              "extends: prepend.yaml\nname: spec\nscheduler: {plugin: fixed, steps_per_round: 2}\n"
              "compare: {baseline: prepend}\n");
  const auto r = w.run({"compare", "none.yaml", "prepend.yaml", "spec.yaml"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto header = cells(r.out, "PIPELINE");
  const auto column = [&](const std::string& title) {
    const auto at = std::find(header.begin(), header.end(), title);
    EXPECT_NE(at, header.end()) << title << " in " << r.out;
    return static_cast<std::size_t>(at - header.begin());
  };
  const auto none = cells(r.out, "none"), prepend = cells(r.out, "prepend"), spec = cells(r.out, "spec");
  ASSERT_EQ(none.size(), header.size()) << r.out;
  ASSERT_EQ(prepend.size(), header.size()) << r.out;
  ASSERT_EQ(spec.size(), header.size()) << r.out;
  EXPECT_EQ(none[column("BASELINE")], "(reference)");
  EXPECT_EQ(prepend[column("BASELINE")], "none");
  EXPECT_EQ(spec[column("BASELINE")], "prepend");
  // Speculation reproduces its baseline's outputs.
  EXPECT_EQ(spec[column("IDENTICAL")], "yes") << r.out;
  // Each speed-up is the baseline's wall time over the row's, from the
  // times each run wrote at full precision.
  const auto wall = [&](const std::string& name) {
    std::ifstream in(w.dir.path() / "out" / name / "summary.json");
    return nlohmann::json::parse(in)["times"]["total_s"].get<double>();
  };
  const auto speed_up = [&](const std::vector<std::string>& row) {
    return std::stod(row[column("SPEED-UP")]);  // "1.23x"
  };
  EXPECT_EQ(none[column("SPEED-UP")], "1.00x");
  EXPECT_NEAR(speed_up(prepend), wall("none") / wall("prepend"), 0.0051) << r.out;
  EXPECT_NEAR(speed_up(spec), wall("prepend") / wall("spec"), 0.0051) << r.out;

  // A baseline that is not compared: one line naming the file and the names.
  expect_input_error(
      w.run({"compare", "none.yaml", "spec.yaml"}),
      "spec.yaml:4:21: compare.baseline: no compared pipeline is named 'prepend'; the pipelines "
      "compared are none, spec (their `name:`)");
  w.dir.write("typo.yaml", "extends: spec.yaml\nname: typo\ncompare: {basline: prepend}\n");
  expect_input_error(w.run({"compare", "prepend.yaml", "typo.yaml"}),
                     "typo.yaml:3:20: compare: unknown key 'basline' for `ralm compare` (did you mean "
                     "'baseline'?)");
}

TEST(TasksCli, BadTaskInput) {
  Workspace w;
  w.dir.write("both.yaml", "extends: base.yaml\ntask: {kind: perplexity, corpus: corpus, text: x.txt}\n");
  expect_input_error(w.run({"run", "both.yaml"}), "task.corpus: give exactly one of task.text");
  w.dir.write("neither.yaml", "extends: base.yaml\ntask: {kind: perplexity}\n");
  expect_input_error(w.run({"run", "neither.yaml"}), "give exactly one of task.text");
  w.dir.write("missing.yaml", "extends: base.yaml\ntask: {kind: perplexity, text: missing.txt}\n");
  expect_input_error(w.run({"run", "missing.yaml"}), "missing.txt: cannot open the held-out text");
  w.dir.write("big.yaml", "extends: base.yaml\ntask: {kind: perplexity, corpus: corpus, window: 500}\n");
  expect_input_error(w.run({"run", "big.yaml"}), "task.window: 500 text tokens and the passages do not fit");
  expect_input_error(w.run({"run", "neither.yaml", "--prompts", "p.jsonl"}), "drop --prompts");
  w.dir.write("prompts.yaml",
              "extends: base.yaml\ntask: {kind: perplexity, corpus: corpus, prompts: p.jsonl}\n");
  expect_input_error(w.run({"validate", "prompts.yaml"}), "unknown key 'prompts'");
  w.dir.write("noslot.yaml", "extends: base.yaml\ntask: {kind: qa, questions: q.jsonl, template: \"Q:\"}\n");
  w.dir.write("q.jsonl", "{\"question\": \"What?\", \"answers\": [\"x\"]}\n");
  expect_input_error(w.run({"run", "noslot.yaml"}), "task.template: has no {question}");
  w.dir.write("gen.yaml", "extends: base.yaml\ntask: {kind: generate, prompts: q.jsonl}\n");
  w.dir.write("qa.yaml", "extends: base.yaml\ntask: {kind: qa, questions: q.jsonl}\n");
  expect_input_error(w.run({"compare", "gen.yaml", "qa.yaml"}), "compare pipelines of one task kind");
}

}  // namespace
