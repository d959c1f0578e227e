// `ralm compare`'s runs as sweep results (sweep_results.hpp): one row per
// pipeline, one run each, each measured against its compare baseline, so that
// the comparison gets the same files and report as a sweep.
#pragma once

#include <string>
#include <vector>

#include "ralm/core/engine/run_report.hpp"
#include "ralm/core/pipeline.hpp"
#include "ralm/core/sweep/sweep_results.hpp"

namespace ralm::core {

SweepResults compare_results(const std::vector<PipelineSpec>& specs, const std::vector<RunReport>& reports,
                             const std::vector<std::size_t>& baselines, const std::string& command);

}  // namespace ralm::core
