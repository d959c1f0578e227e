// Several result folders as one report: `ralm report A B C` puts the rows of
// separate comparisons (each with its own baselines, prompts and repeats) in
// one table and one set of charts, each row still measured against its own
// baseline. The quick start uses it for its three tables' one picture.
#pragma once

#include <string>
#include <vector>

#include "ralm/core/sweep/sweep_results.hpp"

namespace ralm::core {

struct NamedResults {
  std::string where;  // the folder they were read from, for errors
  SweepResults results;
};

// The rows of every part in order, baselines renumbered to stay on their own
// part's rows; settings keys united; titles, commands and machines joined
// where they differ. Parts of different tasks are an InputError naming both
// folders.
SweepResults merge_results(const std::vector<NamedResults>& parts);

}  // namespace ralm::core
