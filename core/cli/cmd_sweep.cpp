// `ralm sweep PIPELINE... --grid KEY=V1,V2,... [--repeat N] [--out DIR]`:
// every combination of the pipelines and the grid's values, each run N times,
// repeat r of every combination before repeat r+1 so that the machine's drift
// touches them alike. Each finished run goes to DIR/journal.jsonl first, so a
// killed sweep run again with the same arguments resumes where it stopped;
// then DIR/results.csv, summary.csv and results.json (sweep_results.hpp), the
// table, and with --html the report.
//
// Each row is measured against its baseline: with several pipelines, the row
// of the same grid values and the pipeline its `compare: {baseline: NAME}`
// names (or the first pipeline); with one pipeline, the first combination.
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "command.hpp"
#include "pipeline_args.hpp"
#include "ralm/core/compare.hpp"
#include "ralm/core/engine/task_runner.hpp"
#include "ralm/core/sweep/report_html.hpp"
#include "ralm/core/sweep/results_table.hpp"
#include "ralm/core/sweep/sweep_grid.hpp"
#include "ralm/core/sweep/sweep_journal.hpp"
#include "ralm/error.hpp"
#include "ralm/log.hpp"
#include "ralm/progress.hpp"

namespace ralm::cli {

namespace fs = std::filesystem;

namespace {

struct Combination {
  std::size_t pipeline = 0;
  core::GridPoint point;
  core::PipelineSpec spec;
};

std::string short_key(const std::string& key) {
  const auto dot = key.rfind('.');
  return dot == std::string::npos ? key : key.substr(dot + 1);
}

std::string command_line(const std::vector<std::string>& args) {
  std::string line = "ralm sweep";
  for (const std::string& a : args)
    line += " " + (a.find_first_of(" ,\"'") == std::string::npos ? a : "'" + a + "'");
  return line;
}

}  // namespace

int run_sweep(const std::vector<std::string>& args, const GlobalOptions& global) {
  po::options_description options("Options of `ralm sweep`");
  options.add_options()("grid", po::value<std::vector<std::string>>()->composing(),
                        "sweep one value, SECTION.KEY=V1,V2,... (each a --set value; quote one with a comma: "
                        "'\"IVF256,Flat\"'); may be repeated: every combination runs")(
      "repeat", po::value<int>()->default_value(3), "runs of each combination, interleaved")(
      "out", po::value<std::string>(),
      "the sweep's folder: journal, results, each combination's outputs (default out/sweep-NAME)")(
      "html", po::value<std::string>(), "also write the HTML report to this file")(
      "set", po::value<std::vector<std::string>>()->composing(),
      "override one value in every combination, SECTION.KEY=VALUE; may be repeated")(
      "prompts", po::value<std::string>(),
      "one prompts (generate) or questions (qa) JSONL file for every run (default: the first's task)")(
      "limit", po::value<std::int64_t>()->default_value(0), "run only the first N prompts");
  po::options_description hidden;
  hidden.add_options()("pipelines", po::value<std::vector<std::string>>());
  po::positional_options_description positional;
  positional.add("pipelines", -1);
  po::variables_map vm;
  if (!parse_command("sweep",
                     "sweep PIPELINE... --grid SECTION.KEY=V1,V2,... [--repeat N] [--out DIR] [--html FILE]",
                     args, options, positional, vm, hidden)) {
    return 0;
  }
  if (!vm.count("pipelines")) {
    throw InputError(
        "sweep: which pipeline? e.g. `ralm sweep pipelines/quickstart-prepend.yaml --grid "
        "engine.stride=2,4,8`");
  }
  const auto files = vm["pipelines"].as<std::vector<std::string>>();
  const std::vector<std::string> grid_options =
      vm.count("grid") ? vm["grid"].as<std::vector<std::string>>() : std::vector<std::string>{};
  const std::vector<core::GridAxis> axes = core::parse_grid(grid_options);
  if (axes.empty() && files.size() < 2) {
    throw InputError("sweep: nothing to sweep; give --grid SECTION.KEY=V1,V2,... (or several pipelines)");
  }
  const int repeat = vm["repeat"].as<int>();
  if (repeat < 1)
    throw InputError("--repeat " + std::to_string(repeat) + ": give 1 or more runs per combination");
  std::vector<std::string> sets;
  std::vector<core::Override> overrides;
  if (vm.count("set")) {
    sets = vm["set"].as<std::vector<std::string>>();
    for (const auto& s : sets)
      overrides.push_back(core::parse_override(s));
  }

  core::Registry registry;
  load_plugins(global, registry);
  // Every combination is loaded, and so validated, before anything runs: a
  // wrong value fails now, not after an hour of runs.
  const std::vector<core::GridPoint> points = core::grid_points(axes);
  std::vector<Combination> combinations;
  std::vector<core::PipelineSpec> pipelines;
  for (std::size_t p = 0; p < files.size(); ++p) {
    for (const core::GridPoint& point : points) {
      std::vector<core::Override> all = overrides;
      for (core::Override& o : core::point_overrides(axes, point))
        all.push_back(std::move(o));
      combinations.push_back({p, point, core::load_pipeline(files[p], all, registry)});
    }
    pipelines.push_back(combinations.back().spec);
  }
  const std::vector<std::size_t> pipeline_baselines = core::compare_baselines(pipelines);
  const core::TaskOverrides shared = shared_task(pipelines, vm);

  const fs::path out = vm.count("out") ? fs::path(vm["out"].as<std::string>())
                                       : fs::path("out") / ("sweep-" + pipelines.front().name);
  fs::create_directories(out);
  nlohmann::json grid = nlohmann::json::array();
  for (const core::GridAxis& axis : axes)
    grid.push_back({{"key", axis.key}, {"values", axis.values}});
  const nlohmann::json identity = {{"pipelines", files},
                                   {"grid", grid},
                                   {"set", sets},
                                   {"prompts", shared.prompts ? shared.prompts->string() : ""},
                                   {"limit", shared.limit}};
  core::SweepJournal journal(out / "journal.jsonl", identity);

  const std::size_t total = combinations.size() * static_cast<std::size_t>(repeat);
  std::size_t finished = 0;
  for (std::size_t c = 0; c < combinations.size(); ++c)
    for (int r = 0; r < repeat; ++r)
      finished += journal.done(c, r) ? 1 : 0;
  if (finished > 0) {
    log_warn("sweep: resuming " + (out / "journal.jsonl").string() + ": " + std::to_string(finished) +
             " of " + std::to_string(total) + " runs already done");
  }
  Progress progress("sweep", static_cast<std::int64_t>(total - finished), "runs");
  for (int r = 0; r < repeat; ++r) {
    for (std::size_t c = 0; c < combinations.size(); ++c) {
      if (journal.done(c, r)) continue;
      core::TaskOverrides task = shared;
      task.output = out / "runs" / std::to_string(c + 1);
      const core::RunReport report = core::run_task(combinations[c].spec, registry, task);
      journal.append({c, r, core::run_figures(report), core::output_digests(report)});
      log_info("sweep: combination " + std::to_string(c + 1) + "/" + std::to_string(combinations.size()) +
               ", repeat " + std::to_string(r + 1) + "/" + std::to_string(repeat) + ": " +
               core::fixed_digits(report.times.total, 3) + " s");
      progress.advance();
    }
  }
  progress.finish();

  core::SweepResults results;
  results.title =
      pipelines.size() > 1 ? std::to_string(pipelines.size()) + " pipelines" : pipelines.front().name;
  for (const core::GridAxis& axis : axes)
    results.title += " × " + short_key(axis.key);
  results.task = pipelines.front().task_kind.empty() ? "generate" : pipelines.front().task_kind;
  results.command = command_line(args);
  results.machine = core::cpu_model_name();
  if (files.size() > 1) results.setting_keys.push_back("pipeline");
  for (const core::GridAxis& axis : axes)
    results.setting_keys.push_back(axis.key);
  for (std::size_t c = 0; c < combinations.size(); ++c) {
    const Combination& combo = combinations[c];
    core::ResultRow row;
    if (files.size() > 1) {
      row.settings.emplace_back("pipeline", combo.spec.name);
      row.label = combo.spec.name;
    }
    for (std::size_t a = 0; a < axes.size(); ++a) {
      const std::string& value = axes[a].values[combo.point[a]];
      row.settings.emplace_back(axes[a].key, value);
      row.label += (row.label.empty() ? "" : " ") + short_key(axes[a].key) + "=" + value;
    }
    // Combinations are laid out pipeline by pipeline, the grid's points in
    // the same order within each.
    row.baseline =
        files.size() > 1 ? pipeline_baselines[combo.pipeline] * points.size() + c % points.size() : 0;
    row.speculative = combo.spec.find("scheduler") != nullptr;
    for (const core::JournalEntry& e : journal.entries()) {
      if (e.combination == c && e.repeat < repeat) row.runs.push_back({e.repeat, e.figures, e.outputs});
    }
    std::sort(row.runs.begin(), row.runs.end(),
              [](const core::RunRecord& a, const core::RunRecord& b) { return a.repeat < b.repeat; });
    results.rows.push_back(std::move(row));
  }
  core::write_results(results, out);
  core::print_results_table(std::cout, results);
  std::cout << "results: " << (out / "results.csv").string() << ", " << (out / "summary.csv").string() << ", "
            << (out / "results.json").string() << "\n";
  if (vm.count("html")) {
    const fs::path html = vm["html"].as<std::string>();
    core::write_html_report(results, html);
    std::cout << "report: " << html.string() << "\n";
  }
  return 0;
}

}  // namespace ralm::cli
