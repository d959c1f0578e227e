// One run's figures as a sweep keeps them: every number of the run report's
// summary (run_summary_json) under its dotted name ("times.retrieval_s",
// "speculation.acceptance"), and a digest of each output so that runs can be
// compared for identical outputs without keeping the outputs.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "ralm/core/engine/run_report.hpp"

namespace ralm::core {

// Dotted name -> value; ordered by name so that every run lists them alike.
using Figures = std::map<std::string, double>;

Figures run_figures(const RunReport& report);

// FNV-1a 64 of each request's output token ids, in hex, in request order
// (empty for perplexity, whose documents have no output).
std::vector<std::string> output_digests(const RunReport& report);

// The names of the figures a report draws on.
namespace figure {
inline constexpr const char* wall = "times.total_s";
inline constexpr const char* retrieval = "times.retrieval_s";
inline constexpr const char* tokens_per_second = "tokens_per_second";
inline constexpr const char* acceptance = "speculation.acceptance";
inline constexpr const char* speculated = "speculation.speculated_steps";
}  // namespace figure

// The phases that partition the wall time, as figure names, in PhaseTimes'
// order: times.retrieval_s ... times.other_s.
std::vector<std::string> phase_figures();

}  // namespace ralm::core
