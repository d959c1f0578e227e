#include "ralm/core/engine/run_report.hpp"

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

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

}  // namespace

void write_run_files(const RunReport& report, const fs::path& dir) {
  fs::create_directories(dir);
  std::string lines;
  for (const RequestResult& r : report.results) {
    json retrievals = json::array();
    for (const auto& rec : r.retrievals) {
      json hits = json::array();
      for (const auto& h : rec.hits)
        hits.push_back({{"id", h.id}, {"score", h.score}});
      retrievals.push_back({{"position", rec.position},
                            {"query", rec.query},
                            {"hits", hits},
                            {"speculative", rec.speculative}});
    }
    const json j = {{"id", r.id},
                    {"output", r.text},
                    {"output_ids", r.output},
                    {"stopped_at_eos", r.stopped_at_eos},
                    {"input_tokens", r.input.size()},
                    {"input_tokens_dropped", r.input_tokens_dropped},
                    {"tokens_computed", r.tokens_computed},
                    {"tokens_kept", r.tokens_kept},
                    {"retrievals", retrievals},
                    {"times", times_json(r.times)},
                    {"speculation", speculation_json(r.speculation)}};
    // Model output need not be valid UTF-8 (a byte tokenizer, a cut
    // multi-byte character): invalid bytes become U+FFFD rather than failing.
    lines += j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  }
  write_file_atomically(dir / "outputs.jsonl", [&](std::ostream& out) { out << lines; });
  const json summary = {{"pipeline", report.pipeline},
                        {"file", report.file},
                        {"requests", report.results.size()},
                        {"tokens_generated", report.generated},
                        {"tokens_computed", report.computed},
                        {"tokens_kept", report.kept},
                        {"tokens_per_second", report.tokens_per_second()},
                        {"times", times_json(report.times)},
                        {"speculation", speculation_json(report.speculation)}};
  write_file_atomically(dir / "summary.json", [&](std::ostream& out) {
    out << summary.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
  });
}

void print_run_table(std::ostream& out, const std::vector<RunReport>& reports) {
  Table table({"PIPELINE", "REQUESTS", "TOKENS", "WALL s", "RETRIEVAL s", "CACHE s", "PREFILL s", "DECODE s",
               "VERIFY s", "ROLLBACK s", "OTHER s", "COMPUTED/KEPT", "TOKENS/s", "ACCEPTED", "SPEED-UP",
               "IDENTICAL"});
  for (const RunReport& r : reports) {
    const RunReport& ref = reports.front();
    const std::size_t same = identical_outputs(r, ref);
    const std::string identical = &r == &ref                 ? "(reference)"
                                  : same == r.results.size() ? "yes"
                                                             : "no (" + std::to_string(same) + "/" +
                                                                   std::to_string(r.results.size()) + ")";
    table.add({r.pipeline, std::to_string(r.results.size()), std::to_string(r.generated),
               fixed(r.times.total, 3), fixed(r.times.retrieval, 3), fixed(r.times.cache, 3),
               fixed(r.times.prefill, 3), fixed(r.times.decode, 3), fixed(r.times.verification, 3),
               fixed(r.times.rollback, 3), fixed(r.times.other, 3),
               std::to_string(r.computed) + "/" + std::to_string(r.kept), fixed(r.tokens_per_second(), 1),
               r.speculation.speculated > 0 ? fixed(100.0 * r.speculation.acceptance(), 0) + "%" : "-",
               r.times.total > 0 ? fixed(ref.times.total / r.times.total, 2) + "x" : "-", identical});
  }
  table.print(out);
}

}  // namespace ralm::core
