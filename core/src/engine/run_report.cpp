#include "ralm/core/engine/run_report.hpp"

#include <cmath>
#include <nlohmann/json.hpp>
#include <ostream>

#include "ralm/core/engine/result_json.hpp"
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
  prefix_tokens_reused += result.prefix_tokens_reused;
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
  json times = json::object();
  for (const auto& [name, seconds] : named_phases(t))
    times[name == "overlapped" ? "overlapped_verification_s" : name + "_s"] = seconds;
  return times;
}

double ratio(std::int64_t part, std::int64_t whole) {
  return whole > 0 ? static_cast<double>(part) / static_cast<double>(whole) : 0.0;
}

// Acceptance split by where a speculated step's passages came from, so that
// a run shows what the draft retriever bought over the cache alone.
json speculation_json(const SpeculationStats& s) {
  json j = {{"rounds", s.rounds},       {"speculated_steps", s.speculated}, {"accepted_steps", s.accepted},
            {"rollbacks", s.rollbacks}, {"real_retrievals", s.real},        {"acceptance", s.acceptance()}};
  if (s.draft_searches > 0) {
    const std::int64_t cache_speculated = s.speculated - s.draft_speculated;
    const std::int64_t cache_accepted = s.accepted - s.draft_accepted;
    j["draft"] = {{"searches", s.draft_searches},
                  {"search_s", s.draft_seconds},
                  {"speculated_steps", s.draft_speculated},
                  {"accepted_steps", s.draft_accepted},
                  {"acceptance", ratio(s.draft_accepted, s.draft_speculated)}};
    j["cache"] = {{"speculated_steps", cache_speculated},
                  {"accepted_steps", cache_accepted},
                  {"acceptance", ratio(cache_accepted, cache_speculated)}};
  }
  return j;
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

}  // namespace

namespace {

json report_times_json(const RunReport& report) {
  json times = times_json(report.times);
  if (const auto& r = report.remote_search) {
    times["shard_search_s"] = r->slowest_shard_s;
    times["network_s"] = r->wall_s - r->slowest_shard_s;
    times["shard_exchanges"] = r->exchanges;
  }
  return times;
}

}  // namespace

json run_summary_json(const RunReport& report) {
  json summary = {{"pipeline", report.pipeline}, {"file", report.file}, {"task", report.task}};
  if (report.task == "perplexity") {
    summary.update({{"documents", report.documents.size()},
                    {"tokens_scored", report.scored},
                    {"nll", report.nll},
                    {"perplexity", report.perplexity()},
                    {"tokens_computed", report.computed},
                    {"tokens_per_second", report.tokens_per_second()},
                    {"times", report_times_json(report)}});
    return summary;
  }
  summary.update({{"requests", report.results.size()},
                  {"tokens_generated", report.generated},
                  {"tokens_computed", report.computed},
                  {"tokens_kept", report.kept},
                  {"prefix_tokens_reused", report.prefix_tokens_reused},
                  {"tokens_per_second", report.tokens_per_second()},
                  {"times", report_times_json(report)},
                  {"speculation", speculation_json(report.speculation)}});
  if (report.task == "qa") summary.update({{"exact_match", report.exact_match()}, {"f1", report.f1()}});
  return summary;
}

void write_run_files(const RunReport& report, const fs::path& dir) {
  fs::create_directories(dir);
  std::string lines;
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
                {"prefix_tokens_reused", r.prefix_tokens_reused},
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
  }
  const json summary = run_summary_json(report);
  write_file_atomically(dir / "summary.json", [&](std::ostream& out) {
    out << summary.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
  });
}

}  // namespace ralm::core
