// The results of running a pipeline over a set of prompts: totals, files
// written beside them, and the table `ralm run` and `ralm compare` print.
#pragma once

#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "ralm/core/engine/request_result.hpp"

namespace ralm::core {

struct RunReport {
  std::string pipeline;  // its name
  std::string file;
  std::vector<RequestResult> results;
  PhaseTimes times;  // summed over requests
  SpeculationStats speculation;
  std::int64_t generated = 0, computed = 0, kept = 0;

  void add(RequestResult result);
  double tokens_per_second() const {
    return times.total > 0 ? static_cast<double>(generated) / times.total : 0;
  }
};

// How many of `report`'s outputs equal, token for token, those of
// `reference` (the same prompts in the same order).
std::size_t identical_outputs(const RunReport& report, const RunReport& reference);

// Writes DIR/outputs.jsonl (one object per request: id, output text and ids,
// retrievals, times) and DIR/summary.json, each through a temporary name.
void write_run_files(const RunReport& report, const std::filesystem::path& dir);

// One row per report; the first is the reference for the speed-up and for
// whether outputs are identical.
void print_run_table(std::ostream& out, const std::vector<RunReport>& reports);

}  // namespace ralm::core
