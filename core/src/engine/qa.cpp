#include "ralm/core/engine/qa.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "jsonl_records.hpp"
#include "ralm/error.hpp"

namespace ralm::core {

namespace {

std::vector<std::string> words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;)
    out.push_back(w);
  return out;
}

double f1_one(const std::vector<std::string>& predicted, const std::vector<std::string>& truth) {
  // SQuAD: both empty is a match; one empty is not.
  if (predicted.empty() || truth.empty()) return predicted.empty() && truth.empty() ? 1.0 : 0.0;
  std::map<std::string, int> counts;
  for (const auto& w : truth)
    ++counts[w];
  int common = 0;
  for (const auto& w : predicted) {
    auto it = counts.find(w);
    if (it != counts.end() && it->second > 0) {
      --it->second;
      ++common;
    }
  }
  if (common == 0) return 0.0;
  const double precision = static_cast<double>(common) / static_cast<double>(predicted.size());
  const double recall = static_cast<double>(common) / static_cast<double>(truth.size());
  return 2 * precision * recall / (precision + recall);
}

}  // namespace

std::vector<Question> read_questions(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw InputError(file.string() + ": cannot open the questions file; check task.questions");
  std::vector<Question> questions;
  for (const JsonlRecord& r :
       read_jsonl_objects(in, file.string(), R"({"id": "q1", "question": "...", "answers": ["..."]})")) {
    Question q;
    q.question = required_text(r, "question");
    const auto answers = r.object.find("answers");
    if (answers == r.object.end() || !answers->is_array() || answers->empty())
      throw InputError(r.where + ": needs an \"answers\" list with at least one string");
    for (const auto& a : *answers) {
      if (!a.is_string()) throw InputError(r.where + ": every item of \"answers\" must be a string");
      q.answers.push_back(a.get<std::string>());
    }
    q.id = record_id(r);
    questions.push_back(std::move(q));
  }
  if (questions.empty()) throw InputError(file.string() + ": no questions in the file");
  return questions;
}

std::string qa_prompt(const std::string& prompt_template, const std::string& question) {
  static const std::string slot = "{question}";
  std::string out;
  std::size_t from = 0;
  for (std::size_t at; (at = prompt_template.find(slot, from)) != std::string::npos; from = at + slot.size())
    out.append(prompt_template, from, at - from).append(question);
  return out.append(prompt_template, from);
}

std::string answer_of(std::string_view generated) {
  generated = generated.substr(0, generated.find('\n'));
  const auto first = generated.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return "";
  const auto last = generated.find_last_not_of(" \t\r");
  return std::string(generated.substr(first, last - first + 1));
}

std::string normalize_answer(std::string_view text) {
  // Lower case and drop punctuation (ASCII, as Python's string.punctuation).
  std::string s;
  for (unsigned char c : text) {
    if (c < 128 && std::ispunct(c)) continue;
    s.push_back(c < 128 ? static_cast<char>(std::tolower(c)) : static_cast<char>(c));
  }
  // Drop the articles and collapse whitespace.
  std::string out;
  for (const std::string& w : words(s)) {
    if (w == "a" || w == "an" || w == "the") continue;
    if (!out.empty()) out.push_back(' ');
    out += w;
  }
  return out;
}

double exact_match(std::string_view prediction, const std::vector<std::string>& answers) {
  const std::string p = normalize_answer(prediction);
  return std::any_of(answers.begin(), answers.end(),
                     [&](const std::string& a) { return normalize_answer(a) == p; })
             ? 1.0
             : 0.0;
}

double f1_score(std::string_view prediction, const std::vector<std::string>& answers) {
  const std::vector<std::string> p = words(normalize_answer(prediction));
  double best = 0;
  for (const auto& a : answers)
    best = std::max(best, f1_one(p, words(normalize_answer(a))));
  return best;
}

}  // namespace ralm::core
