// `ralm compare A.yaml B.yaml ...`: the same prompts through several
// pipelines, one table: the figures, and each pipeline's speed-up against its
// baseline (its `compare: {baseline: NAME}`, or the first pipeline) and
// whether its outputs are identical to the baseline's.
#include <iostream>

#include "command.hpp"
#include "pipeline_args.hpp"
#include "ralm/core/compare.hpp"
#include "ralm/core/compare_table.hpp"
#include "ralm/core/engine/task_runner.hpp"
#include "ralm/error.hpp"

namespace ralm::cli {

int run_compare(const std::vector<std::string>& args, const GlobalOptions& global) {
  po::options_description options("Options of `ralm compare`");
  options.add_options()("set", po::value<std::vector<std::string>>()->composing(),
                        "override one value in every pipeline, SECTION.KEY=VALUE; may be repeated")(
      "prompts", po::value<std::string>(),
      "one prompts (generate) or questions (qa) JSONL file for every pipeline (default: the first's task)")(
      "limit", po::value<std::int64_t>()->default_value(0), "run only the first N prompts");
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
  const std::string kind = specs.front().task_kind.empty() ? "generate" : specs.front().task_kind;
  for (const auto& spec : specs) {
    const std::string k = spec.task_kind.empty() ? "generate" : spec.task_kind;
    if (k != kind) {
      throw InputError(spec.file + ": its task is " + k + " but " + specs.front().file + "'s is " + kind +
                       "; compare pipelines of one task kind");
    }
  }
  // Every pipeline gets the first one's prompts or questions. Perplexity
  // pipelines score their own task.text or task.corpus: have them extend one
  // base so that it is the same.
  core::TaskOverrides task;
  if (vm.count("prompts")) {
    task.prompts = vm["prompts"].as<std::string>();
  } else if (kind == "generate" && !specs.front().task_kind.empty()) {
    task.prompts = specs.front().task.get_path("prompts");
  } else if (kind == "qa") {
    task.prompts = specs.front().task.get_path("questions");
  }
  task.limit = vm["limit"].as<std::int64_t>();
  std::vector<core::RunReport> reports;
  for (const auto& spec : specs)
    reports.push_back(core::run_task(spec, registry, task));
  core::print_compare_table(std::cout, reports, baselines);
  return 0;
}

}  // namespace ralm::cli
