// `ralm sweep` and `ralm report` end to end with a tiny random Llama and
// BM25 over the fixture corpus: grid errors are one line and exit code 2,
// the CSV has every combination and repeat, a journal of another grid is
// refused, and the report and a comparison's results are written.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "cli_expectations.hpp"
#include "run_command.hpp"

namespace {

using ralm::test::CommandResult;
using ralm::test::expect_input_error;
using ralm::test::run_ralm;
using ralm::test::TempDir;

struct Workspace {
  TempDir dir;
  Workspace() {
    ralm::test::build_fixture_corpus(dir.path());
    dir.write("prompts.jsonl",
              "{\"id\": \"a\", \"prompt\": \"Lisp is\"}\n{\"id\": \"b\", \"prompt\": \"A compiler\"}\n");
    dir.write(
        "base.yaml",
        "name: base\n"
        "model: {plugin: llama, init: random, seed: 1, tokenizer: bytes, hidden_size: 32,\n"
        "        intermediate_size: 64, num_layers: 2, num_heads: 4, num_kv_heads: 2, context_length: 512}\n"
        "retriever: {plugin: bm25, corpus: corpus}\n"
        "policy: {plugin: prepend}\n"
        "engine: {stride: 4, max_passage_tokens: 32, max_new_tokens: 8, threads: 1}\n"
        "task: {kind: generate, prompts: prompts.jsonl}\n");
    dir.write("spec.yaml",
              "extends: base.yaml\nname: spec\nscheduler: {plugin: fixed, steps_per_round: 2}\n"
              "compare: {baseline: base}\n");
  }
  CommandResult run(std::vector<std::string> args) const { return run_ralm(std::move(args), dir.path()); }
  std::vector<std::vector<std::string>> csv(const std::string& file) const {
    std::ifstream in(dir.path() / file);
    std::vector<std::vector<std::string>> lines;
    std::string line;
    while (std::getline(in, line)) {
      std::vector<std::string> cells;
      std::stringstream cells_in(line);
      std::string cell;
      while (std::getline(cells_in, cell, ','))
        cells.push_back(cell);
      lines.push_back(cells);
    }
    return lines;
  }
};

TEST(SweepCli, GridErrorsAreOneLine) {
  Workspace w;
  expect_input_error(w.run({"sweep", "base.yaml", "--grid", "engine.strid=2,4"}), "unknown key 'strid'");
  expect_input_error(w.run({"sweep", "base.yaml", "--grid", "engine.stride=2,four"}),
                     "--grid engine.stride=four");
  expect_input_error(w.run({"sweep", "base.yaml", "--grid", "engine.stride="}), "no values to sweep");
  expect_input_error(w.run({"sweep", "base.yaml", "--grid", "engine.stride=2,,4"}), "is empty");
  expect_input_error(w.run({"sweep", "base.yaml", "--grid", "engine.stride=2,2"}), "listed twice");
  expect_input_error(w.run({"sweep", "base.yaml"}), "nothing to sweep");
  expect_input_error(w.run({"sweep", "base.yaml", "--grid", "engine.stride=2", "--grid", "engine.stride=4"}),
                     "swept by an earlier --grid");
  expect_input_error(w.run({"sweep", "base.yaml", "--grid", "retriever.index=\"IVF,Flat"}), "unclosed");
  // Nothing ran: the errors came before the first run.
  EXPECT_FALSE(std::filesystem::exists(w.dir.path() / "out"));
}

TEST(SweepCli, CsvHasEveryCombinationAndRepeat) {
  Workspace w;
  const auto r = w.run({"sweep", "base.yaml", "spec.yaml", "--grid", "engine.stride=2,4", "--grid",
                        "engine.max_new_tokens=4,8", "--repeat", "2", "--out", "sw"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto lines = w.csv("sw/results.csv");
  ASSERT_FALSE(lines.empty());
  const auto& header = lines.front();
  ASSERT_GE(header.size(), 4u);
  EXPECT_EQ(header[0], "pipeline");
  EXPECT_EQ(header[1], "engine.stride");
  EXPECT_EQ(header[2], "engine.max_new_tokens");
  EXPECT_EQ(header[3], "repeat");
  const auto column = [&](const std::string& name) {
    return static_cast<std::size_t>(std::find(header.begin(), header.end(), name) - header.begin());
  };
  ASSERT_LT(column("times.total_s"), header.size());
  ASSERT_LT(column("speculation.acceptance"), header.size());
  std::multiset<std::string> seen;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    seen.insert(lines[i][0] + " " + lines[i][1] + " " + lines[i][2] + " " + lines[i][3]);
    EXPECT_EQ(lines[i][column("tokens_generated")], std::to_string(2 * std::stoi(lines[i][2])));
  }
  EXPECT_EQ(lines.size(), 1u + 2 * 2 * 2 * 2);
  for (const std::string p : {"base", "spec"})
    for (const std::string s : {"2", "4"})
      for (const std::string t : {"4", "8"})
        for (const std::string rep : {"1", "2"})
          EXPECT_EQ(seen.count(p + " " + s + " " + t + " " + rep), 1u) << p << s << t << rep;

  std::ifstream in(w.dir.path() / "sw/results.json");
  const auto results = nlohmann::json::parse(in);
  ASSERT_EQ(results["rows"].size(), 8u);
  for (const auto& row : results["rows"]) {
    EXPECT_EQ(row["runs"].size(), 2u);
    const auto& wall = row["figures"]["times.total_s"];
    EXPECT_LE(wall["min"].get<double>(), wall["median"].get<double>());
    EXPECT_LE(wall["median"].get<double>(), wall["max"].get<double>());
    if (row["settings"]["pipeline"] == "spec") {
      // Speculation changes where time goes, never what is generated.
      EXPECT_EQ(row["identical_outputs"]["same"], row["identical_outputs"]["of"]);
      EXPECT_TRUE(row.contains("speed_up"));
      EXPECT_EQ(results["rows"][row["baseline"].get<std::size_t>()]["settings"]["engine.stride"],
                row["settings"]["engine.stride"]);
    }
  }
  EXPECT_EQ(w.csv("sw/summary.csv").size(), 1u + 8);

  // The same folder with another grid is refused, naming what differs.
  expect_input_error(w.run({"sweep", "base.yaml", "spec.yaml", "--grid", "engine.stride=2,8", "--grid",
                            "engine.max_new_tokens=4,8", "--out", "sw"}),
                     "this journal is of another sweep (its grid was");
  // Run again as it was: everything is done, nothing runs, the same results.
  const auto again = w.run({"sweep", "base.yaml", "spec.yaml", "--grid", "engine.stride=2,4", "--grid",
                            "engine.max_new_tokens=4,8", "--repeat", "2", "--out", "sw"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.err.find("16 of 16 runs already done"), std::string::npos) << again.err;
  EXPECT_EQ(w.csv("sw/results.csv"), lines);
}

TEST(SweepCli, CompareWritesResultsAndReportReadsThem) {
  Workspace w;
  const auto r = w.run({"compare", "base.yaml", "spec.yaml", "--out", "cmp"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(w.csv("cmp/results.csv").size(), 3u);
  const auto report = w.run({"report", "cmp", "--html", "cmp/r.html"});
  ASSERT_EQ(report.exit_code, 0) << report.err;
  std::ifstream in(w.dir.path() / "cmp/r.html");
  std::stringstream html;
  html << in.rdbuf();
  std::size_t svgs = 0;
  for (auto at = html.str().find("<svg"); at != std::string::npos; at = html.str().find("<svg", at + 1))
    ++svgs;
  EXPECT_EQ(svgs, 3u);  // speed-up, phases, acceptance
  for (const char* png : {"r-speedup.png", "r-phases.png", "r-acceptance.png"})
    EXPECT_TRUE(std::filesystem::exists(w.dir.path() / "cmp" / png)) << png;
  expect_input_error(w.run({"report", "nowhere"}), "nowhere/results.json: no such file");
}

}  // namespace
