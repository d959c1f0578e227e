// The table `ralm compare` prints: one row per pipeline, each measured
// against its own baseline (compare.hpp).
#pragma once

#include <cstddef>
#include <ostream>
#include <vector>

#include "ralm/core/engine/run_report.hpp"

namespace ralm::core {

// One row per report. `baselines[i]` is the row that row i's speed-up,
// perplexity change and identical outputs are measured against, named in a
// BASELINE column; a row that is its own baseline is a reference. An output
// column that differs from its baseline's also names an earlier row it
// reproduces, if one (speculation reproduces its non-speculative pipeline).
// The columns suit the reports' task (the first's): perplexity, or exact
// match and F1 for qa.
void print_compare_table(std::ostream& out, const std::vector<RunReport>& reports,
                         const std::vector<std::size_t>& baselines);

}  // namespace ralm::core
