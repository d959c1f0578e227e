#include "ralm/core/engine/run_report.hpp"

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "ralm/core/table.hpp"
#include "ralm/error.hpp"
#include "ralm/staging_directory.hpp"

namespace ralm::core {

namespace fs = std::filesystem;
using nlohmann::json;

void RunReport::add(RequestResult result) {
  times += result.times;
  speculation += result.speculation;
  generated += static_cast<std::int64_t>(result.output.size());
  computed += result.tokens_computed;
  kept += result.tokens_kept;
  results.push_back(std::move(result));
}

void RunReport::add(DocumentScore score) {
  times += score.times;
  computed += score.tokens_computed;
  scored += score.tokens;
  nll += score.nll;
  documents.push_back(std::move(score));
}

double RunReport::perplexity() const {
  return scored > 0 ? std::exp(nll / static_cast<double>(scored)) : 0;
}

double RunReport::exact_match() const {
  double sum = 0;
  for (const auto& q : questions)
    sum += q.exact_match;
  return questions.empty() ? 0 : sum / static_cast<double>(questions.size());
}

double RunReport::f1() const {
  double sum = 0;
  for (const auto& q : questions)
    sum += q.f1;
  return questions.empty() ? 0 : sum / static_cast<double>(questions.size());
}

std::size_t identical_outputs(const RunReport& report, const RunReport& reference) {
  std::size_t same = 0;
  for (std::size_t i = 0; i < report.results.size() && i < reference.results.size(); ++i) {
    if (report.results[i].output == reference.results[i].output) ++same;
  }
  return same;
}

namespace {

json times_json(const PhaseTimes& t) {
  return {{"retrieval_s", t.retrieval},
          {"cache_s", t.cache},
          {"prefill_s", t.prefill},
          {"decode_s", t.decode},
          {"verification_s", t.verification},
          {"rollback_s", t.rollback},
          {"other_s", t.other},
          {"total_s", t.total},
          {"overlapped_verification_s", t.overlapped}};
}

json speculation_json(const SpeculationStats& s) {
  return {{"rounds", s.rounds},       {"speculated_steps", s.speculated}, {"accepted_steps", s.accepted},
          {"rollbacks", s.rollbacks}, {"real_retrievals", s.real},        {"acceptance", s.acceptance()}};
}

json retrievals_json(const std::vector<RetrievalRecord>& records) {
  json retrievals = json::array();
  for (const auto& rec : records) {
    json hits = json::array();
    for (const auto& h : rec.hits)
      hits.push_back({{"id", h.id}, {"score", h.score}});
    retrievals.push_back(
        {{"position", rec.position}, {"query", rec.query}, {"hits", hits}, {"speculative", rec.speculative}});
  }
  return retrievals;
}

// Model output need not be valid UTF-8 (a byte tokenizer, a cut multi-byte
// character): invalid bytes become U+FFFD rather than failing.
std::string dump_line(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

}  // namespace

void write_run_files(const RunReport& report, const fs::path& dir) {
  fs::create_directories(dir);
  std::string lines;
  json summary = {{"pipeline", report.pipeline}, {"file", report.file}, {"task", report.task}};
  if (report.task == "perplexity") {
    for (const DocumentScore& d : report.documents) {
      lines +=
          dump_line({{"id", d.id},
                     {"tokens_scored", d.tokens},
                     {"nll", d.nll},
                     {"perplexity", d.tokens > 0 ? std::exp(d.nll / static_cast<double>(d.tokens)) : 0.0},
                     {"windows", d.windows},
                     {"tokens_computed", d.tokens_computed},
                     {"retrievals", retrievals_json(d.retrievals)},
                     {"times", times_json(d.times)}});
    }
    write_file_atomically(dir / "documents.jsonl", [&](std::ostream& out) { out << lines; });
    summary.update({{"documents", report.documents.size()},
                    {"tokens_scored", report.scored},
                    {"nll", report.nll},
                    {"perplexity", report.perplexity()},
                    {"tokens_computed", report.computed},
                    {"tokens_per_second", report.tokens_per_second()},
                    {"times", times_json(report.times)}});
  } else {
    for (std::size_t i = 0; i < report.results.size(); ++i) {
      const RequestResult& r = report.results[i];
      json j = {{"id", r.id},
                {"output", r.text},
                {"output_ids", r.output},
                {"stopped_at_eos", r.stopped_at_eos},
                {"input_tokens", r.input.size()},
                {"input_tokens_dropped", r.input_tokens_dropped},
                {"tokens_computed", r.tokens_computed},
                {"tokens_kept", r.tokens_kept},
                {"retrievals", retrievals_json(r.retrievals)},
                {"times", times_json(r.times)},
                {"speculation", speculation_json(r.speculation)}};
      if (i < report.questions.size()) {
        const QaScore& q = report.questions[i];
        j.update({{"question", q.question},
                  {"answers", q.answers},
                  {"prediction", q.prediction},
                  {"exact_match", q.exact_match},
                  {"f1", q.f1}});
      }
      lines += dump_line(j);
    }
    write_file_atomically(dir / "outputs.jsonl", [&](std::ostream& out) { out << lines; });
    summary.update({{"requests", report.results.size()},
                    {"tokens_generated", report.generated},
                    {"tokens_computed", report.computed},
                    {"tokens_kept", report.kept},
                    {"tokens_per_second", report.tokens_per_second()},
                    {"times", times_json(report.times)},
                    {"speculation", speculation_json(report.speculation)}});
    if (report.task == "qa") summary.update({{"exact_match", report.exact_match()}, {"f1", report.f1()}});
  }
  write_file_atomically(dir / "summary.json", [&](std::ostream& out) {
    out << summary.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
  });
}

namespace {

void print_perplexity_table(std::ostream& out, const std::vector<RunReport>& reports) {
  Table table({"PIPELINE", "DOCUMENTS", "SCORED", "PERPLEXITY", "VS FIRST", "WALL s", "RETRIEVAL s",
               "PREFILL s", "DECODE s", "OTHER s", "COMPUTED/SCORED", "SCORED/s", "SPEED-UP"});
  const RunReport& ref = reports.front();
  for (const RunReport& r : reports) {
    const double change = ref.perplexity() > 0 ? (r.perplexity() / ref.perplexity() - 1) * 100 : 0;
    table.add({r.pipeline, std::to_string(r.documents.size()), std::to_string(r.scored),
               fixed(r.perplexity(), 3),
               &r == &ref ? "(reference)" : (change >= 0 ? "+" : "") + fixed(change, 2) + "%",
               fixed(r.times.total, 3), fixed(r.times.retrieval, 3), fixed(r.times.prefill, 3),
               fixed(r.times.decode, 3), fixed(r.times.other, 3),
               r.scored > 0 ? fixed(static_cast<double>(r.computed) / static_cast<double>(r.scored), 2) : "-",
               fixed(r.tokens_per_second(), 1),
               r.times.total > 0 ? fixed(ref.times.total / r.times.total, 2) + "x" : "-"});
  }
  table.print(out);
}

}  // namespace

void print_run_table(std::ostream& out, const std::vector<RunReport>& reports) {
  if (reports.empty()) return;
  if (reports.front().task == "perplexity") return print_perplexity_table(out, reports);
  const bool qa = reports.front().task == "qa";
  std::vector<std::string> header = {"PIPELINE",    "REQUESTS",   "TOKENS",    "WALL s",
                                     "RETRIEVAL s", "CACHE s",    "PREFILL s", "DECODE s",
                                     "VERIFY s",    "ROLLBACK s", "OTHER s",   "COMPUTED/KEPT",
                                     "TOKENS/s",    "ACCEPTED",   "SPEED-UP",  "IDENTICAL"};
  if (qa) header.insert(header.begin() + 3, {"EM", "F1"});
  Table table(header);
  for (const RunReport& r : reports) {
    const RunReport& ref = reports.front();
    const std::size_t same = identical_outputs(r, ref);
    std::string identical = &r == &ref                 ? "(reference)"
                            : same == r.results.size() ? "yes"
                                                       : "no (" + std::to_string(same) + "/" +
                                                             std::to_string(r.results.size()) + ")";
    // A pipeline meant to reproduce another one (speculation reproduces its
    // baseline) says which earlier row it matches, output for output.
    if (same != r.results.size()) {
      for (const RunReport* earlier = &ref + 1; earlier < &r; ++earlier) {
        if (!r.results.empty() && identical_outputs(r, *earlier) == r.results.size()) {
          identical += "; = " + earlier->pipeline;
          break;
        }
      }
    }
    std::vector<std::string> row = {
        r.pipeline,
        std::to_string(r.results.size()),
        std::to_string(r.generated),
        fixed(r.times.total, 3),
        fixed(r.times.retrieval, 3),
        fixed(r.times.cache, 3),
        fixed(r.times.prefill, 3),
        fixed(r.times.decode, 3),
        fixed(r.times.verification, 3),
        fixed(r.times.rollback, 3),
        fixed(r.times.other, 3),
        std::to_string(r.computed) + "/" + std::to_string(r.kept),
        fixed(r.tokens_per_second(), 1),
        r.speculation.speculated > 0 ? fixed(100.0 * r.speculation.acceptance(), 0) + "%" : "-",
        r.times.total > 0 ? fixed(ref.times.total / r.times.total, 2) + "x" : "-",
        identical};
    if (qa) row.insert(row.begin() + 3, {fixed(100 * r.exact_match(), 1), fixed(100 * r.f1(), 1)});
    table.add(std::move(row));
  }
  table.print(out);
}

}  // namespace ralm::core
