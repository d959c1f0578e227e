// `ralm compare`'s baselines: the `compare:` section, how each pipeline's
// baseline is found, and the table's ratios against it.
#include <gtest/gtest.h>

#include <sstream>

#include "ralm/core/compare.hpp"
#include "ralm/core/compare_table.hpp"
#include "ralm/error.hpp"
#include "run_command.hpp"

namespace {

using ralm::core::compare_baselines;
using ralm::core::PipelineSpec;
using ralm::core::RunReport;
using ralm::test::TempDir;

// Pipelines with a name and a compare section need no plugin.
const ralm::core::Registry kNoPlugins;

std::vector<PipelineSpec> load(const TempDir& dir, const std::vector<std::string>& files) {
  std::vector<PipelineSpec> specs;
  for (const auto& f : files)
    specs.push_back(ralm::core::load_pipeline(dir.path() / f, {}, kNoPlugins));
  return specs;
}

std::string error_of(const TempDir& dir, const std::vector<std::string>& files) {
  try {
    compare_baselines(load(dir, files));
  } catch (const ralm::InputError& e) {
    return e.what();
  }
  return "";
}

TEST(CompareBaselines, EachPipelineIsMeasuredAgainstTheOneItNamesOrTheFirst) {
  TempDir dir;
  dir.write("none.yaml", "name: none\n");
  dir.write("prepend.yaml", "name: prepend\n");
  dir.write("append.yaml", "name: append\ncompare: {baseline: prepend}\n");
  // Inherited through extends, like any section.
  dir.write("spec.yaml", "extends: append.yaml\nname: spec\n");
  EXPECT_EQ(compare_baselines(load(dir, {"none.yaml", "prepend.yaml", "append.yaml", "spec.yaml"})),
            (std::vector<std::size_t>{0, 0, 1, 1}));
  // The first pipeline may name a baseline too; a pipeline given twice is
  // found at its first place.
  EXPECT_EQ(compare_baselines(load(dir, {"append.yaml", "prepend.yaml", "prepend.yaml"})),
            (std::vector<std::size_t>{1, 0, 0}));
}

TEST(CompareBaselines, ABaselineNotComparedOrThePipelineItselfIsOneLine) {
  TempDir dir;
  dir.write("none.yaml", "name: none\n");
  const auto append = dir.write("append.yaml", "name: append\ncompare:\n  baseline: prepnd\n");
  EXPECT_EQ(error_of(dir, {"none.yaml", "append.yaml"}),
            append.string() +
                ":3:13: compare.baseline: no compared pipeline is named 'prepnd'; the pipelines compared are "
                "none, append (their `name:`); add the baseline's file to the command or fix the name");
  dir.write("prepend.yaml", "name: prepend\n");
  EXPECT_NE(error_of(dir, {"none.yaml", "prepend.yaml", "append.yaml"}).find("(did you mean 'prepend'?)"),
            std::string::npos);
  // A baseline inherited from a base file also names the pipeline it is for.
  const auto child = dir.write("child.yaml", "extends: append.yaml\nname: child\n");
  EXPECT_NE(error_of(dir, {"none.yaml", "child.yaml"})
                .find(append.string() + ":3:13: compare.baseline (of " + child.string() + "): "),
            std::string::npos);
  dir.write("self.yaml", "name: self\ncompare: {baseline: self}\n");
  EXPECT_NE(
      error_of(dir, {"none.yaml", "self.yaml"}).find("compare.baseline: 'self' is this pipeline itself"),
      std::string::npos);
}

TEST(CompareBaselines, TheSectionIsValidatedLikeAnyOther) {
  TempDir dir;
  auto message = [&](const std::string& text) {
    const auto file = dir.write("p.yaml", text);
    try {
      ralm::core::load_pipeline(file, {}, kNoPlugins);
    } catch (const ralm::InputError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(
      message("compare: prepend\n").find(":1:10: compare: expected a map of parameters, found the string"),
      std::string::npos);
  EXPECT_NE(message("compare: {basline: x}\n")
                .find("compare: unknown key 'basline' for `ralm compare` (did you mean 'baseline'?)"),
            std::string::npos);
  EXPECT_NE(
      message("compare: {baseline: [a, b]}\n").find("compare.baseline: expected a string, found a list"),
      std::string::npos);
  EXPECT_NE(
      message("compair: {baseline: x}\n").find("unknown top-level key 'compair' (did you mean 'compare'?)"),
      std::string::npos);
}

RunReport report(const std::string& name, double seconds, std::vector<ralm::Tokens> outputs) {
  RunReport r;
  r.pipeline = name;
  for (auto& out : outputs) {
    ralm::core::RequestResult result;
    result.output = std::move(out);
    result.times.total = seconds / 2;
    r.add(std::move(result));
  }
  return r;
}

// The line of `table` that starts with `name` followed by a space.
std::string row_of(const std::string& table, const std::string& name) {
  std::istringstream in(table);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name + " ", 0) == 0) return line;
  }
  return "";
}

TEST(CompareTable, SpeedUpsAndIdenticalOutputsAreAgainstEachRowsBaseline) {
  const std::vector<RunReport> reports = {
      report("none", 1.0, {{1, 2}, {3, 4}}),       // the reference
      report("prepend", 4.0, {{5, 6}, {7, 8}}),    // against none: 0.25x
      report("append", 2.0, {{5, 6}, {9, 9}}),     // against prepend: 2.00x, 1 of 2 outputs equal
      report("ralmspec", 3.2, {{5, 6}, {7, 8}}),   // against prepend: 1.25x, identical
      report("ralmspec2", 5.0, {{5, 6}, {7, 8}}),  // against append: 0.40x, equal to prepend
  };
  std::ostringstream out;
  ralm::core::print_compare_table(out, reports, {0, 0, 1, 1, 2});
  const std::string table = out.str();
  EXPECT_NE(table.find("SPEED-UP  BASELINE"), std::string::npos) << table;
  EXPECT_NE(row_of(table, "none").find("1.00x     (reference)  -"), std::string::npos) << table;
  EXPECT_NE(row_of(table, "prepend").find("0.25x     none         no (0/2)"), std::string::npos) << table;
  EXPECT_NE(row_of(table, "append").find("2.00x     prepend      no (1/2)"), std::string::npos) << table;
  EXPECT_NE(row_of(table, "ralmspec").find("1.25x     prepend      yes"), std::string::npos) << table;
  EXPECT_NE(row_of(table, "ralmspec2").find("0.40x     append       no (1/2); = prepend"), std::string::npos)
      << table;
}

TEST(CompareTable, PerplexityChangesAreAgainstEachRowsBaseline) {
  auto scored = [](const std::string& name, double nll, double seconds) {
    RunReport r;
    r.pipeline = name;
    r.task = "perplexity";
    ralm::core::DocumentScore d;
    d.tokens = 10;
    d.nll = nll;
    d.times.total = seconds;
    r.add(std::move(d));
    return r;
  };
  // Perplexities e^1, e^2 and e^1.5.
  const std::vector<RunReport> reports = {scored("none", 10, 1), scored("prepend", 20, 2),
                                          scored("append", 15, 1)};
  std::ostringstream out;
  ralm::core::print_compare_table(out, reports, {0, 0, 1});
  const std::string table = out.str();
  EXPECT_NE(table.find("VS BASELINE"), std::string::npos) << table;
  EXPECT_NE(row_of(table, "prepend").find("+171.83%"), std::string::npos) << table;  // e - 1
  EXPECT_NE(row_of(table, "append").find("-39.35%"), std::string::npos) << table;    // e^-0.5 - 1
  EXPECT_NE(row_of(table, "append").find("2.00x     prepend"), std::string::npos) << table;
  EXPECT_NE(row_of(table, "none").find("(reference)"), std::string::npos) << table;
}

}  // namespace
