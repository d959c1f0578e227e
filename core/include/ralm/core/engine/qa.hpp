// The qa task's data and metrics: questions with their accepted answers, and
// exact match and F1 after SQuAD's answer normalisation (as in its official
// v2.0 evaluation script, which open-domain QA evaluations reuse; lower
// case is ASCII only).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace ralm::core {

struct Question {
  std::string id;
  std::string question;
  std::vector<std::string> answers;  // any of them counts as right
};

// Reads {"id": ..., "question": "...", "answers": ["...", ...]} lines (a
// missing id becomes the line number). A malformed line, an empty question,
// no answers or an empty file is an InputError naming file and line.
std::vector<Question> read_questions(const std::filesystem::path& file);

// The prompt for one question: `prompt_template` with every "{question}"
// replaced by the question.
std::string qa_prompt(const std::string& prompt_template, const std::string& question);

// The answer a generation gives: its text up to the first line break, with
// surrounding whitespace removed.
std::string answer_of(std::string_view generated);

// SQuAD's normalisation: lower case (ASCII), punctuation removed, the
// articles a/an/the removed as words, whitespace collapsed to single spaces.
std::string normalize_answer(std::string_view text);

// 1 if the normalised prediction equals some normalised answer, else 0.
double exact_match(std::string_view prediction, const std::vector<std::string>& answers);

// The best, over the answers, of the F1 of the normalised words (a bag of
// words: precision and recall of the common words, counted with repetition).
double f1_score(std::string_view prediction, const std::vector<std::string>& answers);

// How one question went.
struct QaScore {
  std::string id;
  std::string question;
  std::vector<std::string> answers;
  std::string prediction;
  double exact_match = 0;
  double f1 = 0;
};

}  // namespace ralm::core
