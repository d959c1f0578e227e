// RaLMSpec's benchmark: pipelines with a speculation scheduler against the
// same pipeline without one, on the same prompts, through the plugins.
//
//   build/bin/speculation_bench BASELINE.yaml SPEC.yaml... [--repeat 3] [--limit N]
//                               [--json speculation_bench.json] [--set SECTION.KEY=VALUE]...
//
// The pipelines run in turn, `--repeat` times (baseline, spec1, spec2, ...,
// baseline, spec1, ...), so that the machine's drift touches each alike; each
// figure is the median over the repeats. Each pipeline is measured against
// its baseline as in `ralm compare`: the pipeline its `compare: {baseline:
// NAME}` names, or the first. Beside each speed-up, its limit: the
// baseline's Amdahl bound total / (total - retrieval), what removing
// retrieval from the critical path could give at best. Also the acceptance
// rate, how many retrievals stayed real (OS3's fallback), the time lost to
// rollbacks, and whether every output equals the baseline's.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ralm/core/compare.hpp"
#include "ralm/core/engine/prompts.hpp"
#include "ralm/core/engine/request_loop.hpp"
#include "ralm/core/engine/run_report.hpp"
#include "ralm/core/logging.hpp"
#include "ralm/core/pipeline_builder.hpp"
#include "ralm/core/plugin_manager.hpp"
#include "ralm/core/table.hpp"
#include "ralm/error.hpp"
#include "ralm/staging_directory.hpp"

namespace {

using namespace ralm;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

struct Runs {
  core::PipelineSpec spec;
  std::vector<core::RunReport> reports;  // one per repeat
  std::vector<double> walls;

  // Over the repeats.
  double median_share(double core::PhaseTimes::*phase) const {
    std::vector<double> shares;
    for (const auto& rep : reports)
      shares.push_back(rep.times.*phase / rep.times.total);
    return median(shares);
  }
  // total / (total - retrieval): the most that taking retrieval off the
  // critical path could give.
  double amdahl_bound() const { return 1.0 / (1.0 - median_share(&core::PhaseTimes::retrieval)); }
};

core::RunReport run_once(const core::PipelineSpec& spec, const core::Registry& registry,
                         const std::vector<core::Prompt>& prompts) {
  const core::BuiltPipeline built = core::build_pipeline(spec, registry);
  core::RequestLoop loop(built, core::EngineSettings::from(spec.engine));
  core::RunReport report;
  report.pipeline = spec.name;
  report.file = spec.file;
  for (const auto& p : prompts) {
    core::RequestResult r = loop.run(p.text);
    r.id = p.id;
    report.add(std::move(r));
  }
  return report;
}

}  // namespace

int main(int argc, char** argv) try {
  std::vector<std::string> files;
  std::vector<core::Override> overrides;
  int repeat = 3;
  std::int64_t limit = 0;
  std::string json_path = "speculation_bench.json";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw InputError(a + " needs a value");
      return argv[++i];
    };
    if (a == "--repeat") {
      repeat = std::max(1, std::stoi(value()));
    } else if (a == "--limit") {
      limit = std::stoll(value());
    } else if (a == "--json") {
      json_path = value();
    } else if (a == "--set") {
      overrides.push_back(core::parse_override(value()));
    } else {
      files.push_back(a);
    }
  }
  if (files.size() < 2) {
    std::cerr << "usage: speculation_bench BASELINE.yaml SPEC.yaml... [--repeat 3] [--limit N] [--json FILE] "
                 "[--set SECTION.KEY=VALUE]...\n";
    return 2;
  }
  core::init_logging(LogLevel::Warn);
  core::Registry registry;
  core::PluginManager(registry).load_search_path(core::plugin_search_path({}));

  std::vector<Runs> runs;
  std::vector<core::PipelineSpec> specs;
  for (const auto& f : files) {
    specs.push_back(core::load_pipeline(f, overrides, registry));
    runs.push_back({specs.back(), {}, {}});
  }
  const std::vector<std::size_t> baselines = core::compare_baselines(specs);
  const core::PipelineSpec& first = runs.front().spec;
  if (first.task_kind.empty()) throw InputError(first.file + ": the baseline needs a task with prompts");
  std::vector<core::Prompt> prompts = core::read_prompts(first.task.get_path("prompts"));
  if (limit > 0 && static_cast<std::int64_t>(prompts.size()) > limit)
    prompts.resize(static_cast<std::size_t>(limit));

  for (int rep = 0; rep < repeat; ++rep) {
    for (auto& r : runs) {
      r.reports.push_back(run_once(r.spec, registry, prompts));
      r.walls.push_back(r.reports.back().times.total);
      std::cerr << "repeat " << rep + 1 << "/" << repeat << ": " << r.spec.name << " "
                << fixed(r.walls.back(), 3) << " s\n";
    }
  }

  core::Table table({"PIPELINE", "WALL s (median)", "RETRIEVAL %", "SPEED-UP", "AMDAHL BOUND", "BASELINE",
                     "ACCEPTED", "REAL", "ROLLBACK %", "IDENTICAL"});
  // The top-level baseline figures are the first pipeline's, the usual
  // baseline; each pipeline's own baseline is in its entry.
  nlohmann::json out = {{"prompts", prompts.size()},
                        {"repeat", repeat},
                        {"baseline", first.name},
                        {"baseline_retrieval_share", runs.front().median_share(&core::PhaseTimes::retrieval)},
                        {"amdahl_bound", runs.front().amdahl_bound()},
                        {"pipelines", nlohmann::json::array()}};
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const Runs& r = runs[i];
    const Runs& baseline = runs[baselines[i]];
    const bool is_reference = baselines[i] == i;
    const core::RunReport& base = baseline.reports.front();
    const double wall = median(r.walls);
    const double speedup = median(baseline.walls) / wall;
    bool identical = true;
    for (const auto& rep : r.reports)
      identical = identical && core::identical_outputs(rep, base) == base.results.size();
    const core::SpeculationStats& s = r.reports.front().speculation;
    table.add({r.spec.name, fixed(wall, 3), fixed(100 * r.median_share(&core::PhaseTimes::retrieval), 1),
               fixed(speedup, 2) + "x", is_reference ? "-" : fixed(baseline.amdahl_bound(), 2) + "x",
               is_reference ? "(reference)" : baseline.spec.name,
               s.speculated > 0 ? fixed(100 * s.acceptance(), 0) + "%" : "-", std::to_string(s.real),
               fixed(100 * r.median_share(&core::PhaseTimes::rollback), 1),
               is_reference ? "(reference)"
               : identical  ? "yes"
                            : "NO"});
    out["pipelines"].push_back({{"name", r.spec.name},
                                {"file", r.spec.file},
                                {"baseline", baseline.spec.name},
                                {"baseline_amdahl_bound", baseline.amdahl_bound()},
                                {"walls_s", r.walls},
                                {"wall_median_s", wall},
                                {"speedup", speedup},
                                {"retrieval_share", r.median_share(&core::PhaseTimes::retrieval)},
                                {"rollback_share", r.median_share(&core::PhaseTimes::rollback)},
                                {"speculated_steps", s.speculated},
                                {"accepted_steps", s.accepted},
                                {"acceptance", s.acceptance()},
                                {"real_retrievals", s.real},
                                {"rounds", s.rounds},
                                {"identical", identical}});
  }
  table.print(std::cout);
  std::cout << "Amdahl bound of the baseline " << first.name << ": " << fixed(runs.front().amdahl_bound(), 2)
            << "x (retrieval " << fixed(100 * runs.front().median_share(&core::PhaseTimes::retrieval), 1)
            << "% of its wall time)\n";
  write_file_atomically(json_path, [&](std::ostream& o) { o << out.dump(2) << "\n"; });
  return 0;
} catch (const std::exception& e) {
  std::cerr << "speculation_bench: error: " << e.what() << "\n";
  return 2;
}
