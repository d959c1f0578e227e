// The table of a sweep's results, one line per row: `ralm sweep` prints it
// and the HTML report shows it. Figures are medians over the repeats with
// their min-max; each row's speed-up is against its baseline, beside it the
// baseline's Amdahl bound (speculative rows), the acceptance rate and whether
// the outputs equal the baseline's.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "ralm/core/sweep/sweep_results.hpp"

namespace ralm::core {

struct ResultsTable {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};

ResultsTable results_table(const SweepResults& results);

void print_results_table(std::ostream& out, const SweepResults& results);

// "1.23" with `digits` decimals.
std::string fixed_digits(double v, int digits);

}  // namespace ralm::core
