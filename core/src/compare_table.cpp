#include "ralm/core/compare_table.hpp"

#include <cstdio>
#include <string>

#include "ralm/core/table.hpp"

namespace ralm::core {
namespace {

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string speed_up(const RunReport& r, const RunReport& baseline) {
  return r.times.total > 0 ? fixed(baseline.times.total / r.times.total, 2) + "x" : "-";
}

std::string baseline_cell(std::size_t row, std::size_t baseline, const std::vector<RunReport>& reports) {
  return baseline == row ? "(reference)" : reports[baseline].pipeline;
}

// "yes", "no (3/8)" or, for a reference, "-"; then "= NAME" for an earlier
// row other than the baseline whose outputs this row's all equal.
std::string identical_cell(std::size_t row, std::size_t baseline, const std::vector<RunReport>& reports) {
  const RunReport& r = reports[row];
  std::string cell;
  bool matched = false;
  if (baseline != row) {
    const std::size_t same = identical_outputs(r, reports[baseline]);
    matched = same == r.results.size();
    cell = matched ? "yes" : "no (" + std::to_string(same) + "/" + std::to_string(r.results.size()) + ")";
  }
  if (!matched && !r.results.empty()) {
    for (std::size_t earlier = 0; earlier < row; ++earlier) {
      if (earlier != baseline && identical_outputs(r, reports[earlier]) == r.results.size()) {
        cell += (cell.empty() ? "= " : "; = ") + reports[earlier].pipeline;
        break;
      }
    }
  }
  return cell.empty() ? "-" : cell;
}

void print_perplexity_table(std::ostream& out, const std::vector<RunReport>& reports,
                            const std::vector<std::size_t>& baselines) {
  Table table({"PIPELINE", "DOCUMENTS", "SCORED", "PERPLEXITY", "VS BASELINE", "WALL s", "RETRIEVAL s",
               "PREFILL s", "DECODE s", "OTHER s", "COMPUTED/SCORED", "SCORED/s", "SPEED-UP", "BASELINE"});
  for (std::size_t i = 0; i < reports.size(); ++i) {
    const RunReport& r = reports[i];
    const RunReport& base = reports[baselines[i]];
    const double change = base.perplexity() > 0 ? (r.perplexity() / base.perplexity() - 1) * 100 : 0;
    table.add({r.pipeline, std::to_string(r.documents.size()), std::to_string(r.scored),
               fixed(r.perplexity(), 3),
               baselines[i] == i ? "-" : (change >= 0 ? "+" : "") + fixed(change, 2) + "%",
               fixed(r.times.total, 3), fixed(r.times.retrieval, 3), fixed(r.times.prefill, 3),
               fixed(r.times.decode, 3), fixed(r.times.other, 3),
               r.scored > 0 ? fixed(static_cast<double>(r.computed) / static_cast<double>(r.scored), 2) : "-",
               fixed(r.tokens_per_second(), 1), speed_up(r, base), baseline_cell(i, baselines[i], reports)});
  }
  table.print(out);
}

// Under the table, for each run whose retriever searched in other processes
// (shard ranks): how much of its retrieval and verification time was the
// remote search and how much the network.
void print_remote_search_split(std::ostream& out, const std::vector<RunReport>& reports) {
  for (const RunReport& r : reports) {
    if (!r.remote_search) continue;
    const Retriever::RemoteSearchTimes& t = *r.remote_search;
    out << r.pipeline << ": " << t.exchanges << " searches over shard ranks took " << fixed(t.wall_s, 3)
        << " s: shard search " << fixed(t.slowest_shard_s, 3) << " s (the slowest shard of each) + network "
        << fixed(t.wall_s - t.slowest_shard_s, 3) << " s\n";
  }
}

void print_table(std::ostream& out, const std::vector<RunReport>& reports,
                 const std::vector<std::size_t>& baselines) {
  if (reports.front().task == "perplexity") return print_perplexity_table(out, reports, baselines);
  const bool qa = reports.front().task == "qa";
  std::vector<std::string> header = {"PIPELINE", "REQUESTS",      "TOKENS",   "WALL s",   "RETRIEVAL s",
                                     "CACHE s",  "PREFILL s",     "DECODE s", "VERIFY s", "ROLLBACK s",
                                     "OTHER s",  "COMPUTED/KEPT", "TOKENS/s", "ACCEPTED", "SPEED-UP",
                                     "BASELINE", "IDENTICAL"};
  if (qa) header.insert(header.begin() + 3, {"EM", "F1"});
  Table table(header);
  for (std::size_t i = 0; i < reports.size(); ++i) {
    const RunReport& r = reports[i];
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
        speed_up(r, reports[baselines[i]]),
        baseline_cell(i, baselines[i], reports),
        identical_cell(i, baselines[i], reports)};
    if (qa) row.insert(row.begin() + 3, {fixed(100 * r.exact_match(), 1), fixed(100 * r.f1(), 1)});
    table.add(std::move(row));
  }
  table.print(out);
}

}  // namespace

void print_compare_table(std::ostream& out, const std::vector<RunReport>& reports,
                         const std::vector<std::size_t>& baselines) {
  if (reports.empty()) return;
  print_table(out, reports, baselines);
  print_remote_search_split(out, reports);
}

}  // namespace ralm::core
