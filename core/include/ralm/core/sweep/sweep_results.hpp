// The results of a sweep (or of `ralm compare`): one row per combination of
// settings, each with its runs' figures, and what is derived from them: each
// figure's median and spread, the speed-up against the row's baseline, the
// baseline's Amdahl bound and whether the outputs equal the baseline's.
//
// Written as OUT/results.csv (one line per run), OUT/summary.csv (one line
// per row: medians and min-max) and OUT/results.json (everything; what
// `ralm report` reads back).
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ralm/core/sweep/run_figures.hpp"

namespace ralm::core {

struct RunRecord {
  int repeat = 0;
  Figures figures;
  std::vector<std::string> outputs;  // output_digests
};

struct ResultRow {
  std::string label;                                          // "spec steps_per_round=4"
  std::vector<std::pair<std::string, std::string>> settings;  // key, value as written
  std::size_t baseline = 0;                                   // a row index; itself for a reference
  bool speculative = false;                                   // its pipeline has a scheduler
  std::vector<RunRecord> runs;                                // in repeat order
};

struct SweepResults {
  std::string title;                      // what was swept, for the report's heading
  std::string task = "generate";          // generate, qa or perplexity
  std::string command;                    // the command line that produced them
  std::string machine;                    // the CPU's model name
  std::vector<std::string> setting_keys;  // the columns of `settings`, in order
  std::vector<ResultRow> rows;
};

// Median, quartiles (linear interpolation between order statistics) and
// extremes of some values; all zero for none.
struct Spread {
  double median = 0, q1 = 0, q3 = 0, min = 0, max = 0;
};
Spread spread_of(std::vector<double> values);

// A figure over a row's runs (0 where a run lacks it).
Spread figure_spread(const ResultRow& row, const std::string& figure);

// The row's speed-up against its baseline: the baseline's wall time over the
// row's, repeat by repeat (repeats ran interleaved, so each pair saw the same
// drift), then over the repeats. Empty for a reference row.
std::optional<Spread> speed_up(const SweepResults& results, std::size_t row);

// The baseline's Amdahl bound total / (total - retrieval) with its median
// retrieval share: the most that taking retrieval off the critical path could
// give. Empty when the baseline spends nothing outside retrieval.
std::optional<double> amdahl_bound(const SweepResults& results, std::size_t row);

// How many of the row's outputs equal its baseline's, in every repeat; and
// out of how many. {0, 0} for a reference row or a task without outputs.
std::pair<std::size_t, std::size_t> identical_outputs(const SweepResults& results, std::size_t row);

// The figure names every run of the results has, sorted.
std::vector<std::string> figure_names(const SweepResults& results);

nlohmann::json results_json(const SweepResults& results);
// Reads results_json's output back; a file that is not one is an InputError
// naming `where` and what is missing.
SweepResults results_from_json(const nlohmann::json& j, const std::string& where);

void write_results(const SweepResults& results, const std::filesystem::path& dir);
SweepResults read_results(const std::filesystem::path& dir);

// The first "model name" of /proc/cpuinfo, or "unknown CPU".
std::string cpu_model_name();

}  // namespace ralm::core
