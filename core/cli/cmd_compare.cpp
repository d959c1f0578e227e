// `ralm compare A.yaml B.yaml ...`: the same prompts through several
// pipelines, one table: the figures, and each pipeline's speed-up against its
// baseline (its `compare: {baseline: NAME}`, or the first pipeline) and
// whether its outputs are identical to the baseline's; with --out the
// results files a sweep writes, with --html its report.
#include <iostream>

#include "command.hpp"
#include "pipeline_args.hpp"
#include "ralm/core/compare.hpp"
#include "ralm/core/compare_table.hpp"
#include "ralm/core/engine/task_runner.hpp"
#include "ralm/core/sweep/compare_results.hpp"
#include "ralm/core/sweep/report_html.hpp"
#include "ralm/error.hpp"

namespace ralm::cli {

int run_compare(const std::vector<std::string>& args, const GlobalOptions& global) {
  po::options_description options("Options of `ralm compare`");
  options.add_options()("set", po::value<std::vector<std::string>>()->composing(),
                        "override one value in every pipeline, SECTION.KEY=VALUE; may be repeated")(
      "prompts", po::value<std::string>(),
      "one prompts (generate) or questions (qa) JSONL file for every pipeline (default: the first's task)")(
      "limit", po::value<std::int64_t>()->default_value(0), "run only the first N prompts")(
      "out", po::value<std::string>(),
      "also write results.csv, summary.csv and results.json (what `ralm report` reads) to this folder")(
      "html", po::value<std::string>(), "also write the HTML report to this file");
  po::options_description hidden;
  hidden.add_options()("pipelines", po::value<std::vector<std::string>>());
  po::positional_options_description positional;
  positional.add("pipelines", -1);
  po::variables_map vm;
  if (!parse_command("compare", "compare PIPELINE PIPELINE... [--set SECTION.KEY=VALUE ...] [--prompts FILE]",
                     args, options, positional, vm, hidden)) {
    return 0;
  }
  if (!vm.count("pipelines") || vm["pipelines"].as<std::vector<std::string>>().size() < 2) {
    throw InputError("compare: name at least two pipelines, e.g. `ralm compare a.yaml b.yaml`");
  }
  core::Registry registry;
  load_plugins(global, registry);
  std::vector<core::Override> overrides;
  if (vm.count("set")) {
    for (const auto& s : vm["set"].as<std::vector<std::string>>())
      overrides.push_back(core::parse_override(s));
  }
  // Validate everything before running anything: a typo in the last file
  // should not cost the runs of the first ones.
  std::vector<core::PipelineSpec> specs;
  for (const auto& file : vm["pipelines"].as<std::vector<std::string>>()) {
    specs.push_back(core::load_pipeline(file, overrides, registry));
  }
  const std::vector<std::size_t> baselines = core::compare_baselines(specs);
  const core::TaskOverrides task = shared_task(specs, vm);
  std::vector<core::RunReport> reports;
  for (const auto& spec : specs)
    reports.push_back(core::run_task(spec, registry, task));
  core::print_compare_table(std::cout, reports, baselines);
  if (vm.count("out") || vm.count("html")) {
    std::string command = "ralm compare";
    for (const std::string& a : args)
      command += " " + a;
    const core::SweepResults results = core::compare_results(specs, reports, baselines, command);
    if (vm.count("out")) core::write_results(results, vm["out"].as<std::string>());
    if (vm.count("html")) {
      core::write_html_report(results, vm["html"].as<std::string>());
      std::cout << "report: " << vm["html"].as<std::string>() << "\n";
    }
  }
  return 0;
}

}  // namespace ralm::cli
