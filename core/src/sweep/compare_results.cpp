#include "ralm/core/sweep/compare_results.hpp"

namespace ralm::core {

SweepResults compare_results(const std::vector<PipelineSpec>& specs, const std::vector<RunReport>& reports,
                             const std::vector<std::size_t>& baselines, const std::string& command) {
  SweepResults results;
  results.title = "ralm compare: " + std::to_string(specs.size()) + " pipelines";
  results.task = reports.empty() ? "generate" : reports.front().task;
  results.command = command;
  results.machine = cpu_model_name();
  results.setting_keys = {"pipeline"};
  for (std::size_t i = 0; i < specs.size(); ++i) {
    ResultRow row;
    row.label = specs[i].name;
    row.settings = {{"pipeline", specs[i].name}};
    row.baseline = baselines[i];
    row.speculative = specs[i].find("scheduler") != nullptr;
    row.runs.push_back({0, run_figures(reports[i]), output_digests(reports[i])});
    results.rows.push_back(std::move(row));
  }
  return results;
}

}  // namespace ralm::core
