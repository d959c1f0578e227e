#include "ralm/core/sweep/results_table.hpp"

#include <cstdio>

#include "ralm/core/table.hpp"

namespace ralm::core {

std::string fixed_digits(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

namespace {

std::string median_range(const Spread& s, int digits, const std::string& unit = "") {
  return fixed_digits(s.median, digits) + unit + " [" + fixed_digits(s.min, digits) + "-" +
         fixed_digits(s.max, digits) + "]";
}

}  // namespace

ResultsTable results_table(const SweepResults& results) {
  ResultsTable table;
  table.header = results.setting_keys;
  const bool perplexity = results.task == "perplexity";
  const bool qa = results.task == "qa";
  for (const char* h : {"RUNS", "WALL s [min-max]", perplexity ? "SCORED/s" : "TOKENS/s"})
    table.header.push_back(h);
  if (perplexity) table.header.push_back("PERPLEXITY");
  if (qa) table.header.insert(table.header.end(), {"EM", "F1"});
  table.header.insert(table.header.end(),
                      {"SPEED-UP [min-max]", "BASELINE", "ACCEPTED", "AMDAHL BOUND", "IDENTICAL"});
  for (std::size_t i = 0; i < results.rows.size(); ++i) {
    const ResultRow& row = results.rows[i];
    std::vector<std::string> cells;
    for (const auto& [key, value] : row.settings)
      cells.push_back(value);
    cells.push_back(std::to_string(row.runs.size()));
    cells.push_back(median_range(figure_spread(row, figure::wall), 3));
    cells.push_back(fixed_digits(figure_spread(row, figure::tokens_per_second).median, 1));
    if (perplexity) cells.push_back(fixed_digits(figure_spread(row, "perplexity").median, 3));
    if (qa) {
      cells.push_back(fixed_digits(100 * figure_spread(row, "exact_match").median, 1));
      cells.push_back(fixed_digits(100 * figure_spread(row, "f1").median, 1));
    }
    const auto s = speed_up(results, i);
    cells.push_back(s ? median_range(*s, 2, "x") : "-");
    cells.push_back(row.baseline == i ? "(reference)" : results.rows[row.baseline].label);
    const bool speculated = figure_spread(row, figure::speculated).median > 0;
    cells.push_back(speculated ? fixed_digits(100 * figure_spread(row, figure::acceptance).median, 0) + "%"
                               : "-");
    const auto bound = amdahl_bound(results, i);
    cells.push_back(row.speculative && row.baseline != i && bound ? fixed_digits(*bound, 2) + "x" : "-");
    const auto [same, total] = identical_outputs(results, i);
    cells.push_back(total == 0      ? "-"
                    : same == total ? "yes"
                                    : "no (" + std::to_string(same) + "/" + std::to_string(total) + ")");
    table.rows.push_back(std::move(cells));
  }
  return table;
}

void print_results_table(std::ostream& out, const SweepResults& results) {
  const ResultsTable cells = results_table(results);
  Table table(cells.header);
  for (const auto& row : cells.rows)
    table.add(row);
  table.print(out);
}

}  // namespace ralm::core
