// The qa task's pieces: SQuAD's answer normalisation, exact match and F1 on
// hand-made examples (values worked out with the rules of SQuAD v2.0's
// evaluation script), prompts and answers, and the questions file's errors.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "ralm/core/compare_table.hpp"
#include "ralm/core/engine/qa.hpp"
#include "ralm/core/engine/run_report.hpp"
#include "ralm/error.hpp"
#include "run_command.hpp"

namespace {

using namespace ralm;
using core::exact_match;
using core::f1_score;
using core::normalize_answer;

TEST(QaNormalisation, LowerCasePunctuationArticlesWhitespace) {
  EXPECT_EQ(normalize_answer("The Cat"), "cat");
  EXPECT_EQ(normalize_answer("  A  garbage-collected\tlanguage!  "), "garbagecollected language");
  EXPECT_EQ(normalize_answer("an apple, the pear and a plum."), "apple pear and plum");
  EXPECT_EQ(normalize_answer("Theory of an Anthem"), "theory of anthem");  // articles only as words
  EXPECT_EQ(normalize_answer("\"LISP\" (1958)"), "lisp 1958");
  EXPECT_EQ(normalize_answer("the"), "");
  EXPECT_EQ(normalize_answer(""), "");
  EXPECT_EQ(normalize_answer("Café Ünïcode"), "café Ünïcode");  // lower case is ASCII only
}

TEST(QaMetrics, ExactMatchTakesTheBestAnswer) {
  const std::vector<std::string> answers = {"John McCarthy", "McCarthy"};
  EXPECT_EQ(exact_match("john mccarthy.", answers), 1.0);
  EXPECT_EQ(exact_match("The McCarthy", answers), 1.0);
  EXPECT_EQ(exact_match("McCarthy, John", answers), 0.0);
  EXPECT_EQ(exact_match("", answers), 0.0);
  EXPECT_EQ(exact_match("a", {"the"}), 1.0);  // both normalise to nothing
}

TEST(QaMetrics, F1CountsCommonWordsWithRepetition) {
  // {cat, sat} against {cat, sat, on, mat}: precision 1, recall 1/2.
  EXPECT_NEAR(f1_score("the cat sat", {"a cat sat on the mat"}), 2.0 / 3.0, 1e-12);
  // {the cat cat} -> {cat, cat} against {cat}: one common word, precision 1/2, recall 1.
  EXPECT_NEAR(f1_score("the cat cat", {"cat"}), 2.0 / 3.0, 1e-12);
  EXPECT_EQ(f1_score("dog", {"cat"}), 0.0);
  EXPECT_EQ(f1_score("McCarthy, John", {"John McCarthy"}), 1.0);  // a bag of words
  // The best over the answers.
  EXPECT_NEAR(f1_score("lisp language", {"fortran", "the lisp programming language"}), 0.8, 1e-12);
  // Empty on one side only scores 0; on both sides 1.
  EXPECT_EQ(f1_score("the", {"cat"}), 0.0);
  EXPECT_EQ(f1_score("the", {"a"}), 1.0);
}

TEST(QaTask, PromptAndAnswer) {
  EXPECT_EQ(core::qa_prompt("Question: {question}\nAnswer:", "Who wrote Lisp?"),
            "Question: Who wrote Lisp?\nAnswer:");
  EXPECT_EQ(core::qa_prompt("{question} {question}", "x"), "x x");
  EXPECT_EQ(core::qa_prompt("no slot", "x"), "no slot");
  EXPECT_EQ(core::answer_of(" John McCarthy\nQuestion: next"), "John McCarthy");
  EXPECT_EQ(core::answer_of("\nJohn"), "");
  EXPECT_EQ(core::answer_of("  \t "), "");
}

TEST(QaTask, ReadsQuestionsAndRejectsBadLines) {
  test::TempDir dir;
  const auto good = dir.write("q.jsonl",
                              "{\"id\": \"q1\", \"question\": \"Who?\", \"answers\": [\"John\", \"J\"]}\n\n"
                              "{\"question\": \"What?\", \"answers\": [\"it\"]}\n");
  const auto qs = core::read_questions(good);
  ASSERT_EQ(qs.size(), 2u);
  EXPECT_EQ(qs[0].id, "q1");
  EXPECT_EQ(qs[0].answers, (std::vector<std::string>{"John", "J"}));
  EXPECT_EQ(qs[1].id, "3");  // the line number

  auto message = [&](const std::string& text) -> std::string {
    try {
      core::read_questions(dir.write("bad.jsonl", text));
    } catch (const InputError& e) {
      return e.what();
    }
    return "(no error)";
  };
  EXPECT_NE(message("{oops\n").find("bad.jsonl:1: malformed JSON"), std::string::npos);
  EXPECT_NE(message("{\"answers\": [\"a\"]}\n").find("bad.jsonl:1: needs a string \"question\""),
            std::string::npos);
  EXPECT_NE(message("{\"question\": \" \", \"answers\": [\"a\"]}\n").find("empty question"),
            std::string::npos);
  EXPECT_NE(message("{\"question\": \"q\"}\n").find("needs an \"answers\" list"), std::string::npos);
  EXPECT_NE(message("{\"question\": \"q\", \"answers\": []}\n").find("needs an \"answers\" list"),
            std::string::npos);
  EXPECT_NE(message("{\"question\": \"q\", \"answers\": [1]}\n").find("must be a string"), std::string::npos);
  EXPECT_NE(message("\n").find("no questions"), std::string::npos);
  EXPECT_THROW(core::read_questions(dir.path() / "missing.jsonl"), InputError);
}

TEST(QaTask, ReportMeansAndFiles) {
  core::RunReport report;
  report.task = "qa";
  for (int i = 0; i < 2; ++i) {
    core::RequestResult r;
    r.id = "q" + std::to_string(i);
    r.text = i == 0 ? " John McCarthy\n" : "Fortran";
    report.questions.push_back({r.id,
                                "Who?",
                                {"John McCarthy"},
                                core::answer_of(r.text),
                                exact_match(core::answer_of(r.text), {"John McCarthy"}),
                                f1_score(core::answer_of(r.text), {"John McCarthy"})});
    report.add(std::move(r));
  }
  EXPECT_DOUBLE_EQ(report.exact_match(), 0.5);
  EXPECT_DOUBLE_EQ(report.f1(), 0.5);
  test::TempDir dir;
  core::write_run_files(report, dir.path());
  std::ifstream summary_file(dir.path() / "summary.json");
  const auto summary = nlohmann::json::parse(summary_file);
  EXPECT_EQ(summary["task"], "qa");
  EXPECT_DOUBLE_EQ(summary["exact_match"].get<double>(), 0.5);
  std::ifstream outputs(dir.path() / "outputs.jsonl");
  std::string first;
  std::getline(outputs, first);
  EXPECT_EQ(nlohmann::json::parse(first)["prediction"], "John McCarthy");
  std::ostringstream table;
  core::print_compare_table(table, {report}, {0});
  EXPECT_NE(table.str().find("EM"), std::string::npos);
  EXPECT_NE(table.str().find("50.0"), std::string::npos);
}

}  // namespace
