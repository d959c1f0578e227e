// RaLMSpec's benchmark: pipelines with a speculation scheduler against the
// same pipeline without one, on the same prompts, through the plugins.
//
//   build/bin/speculation_bench BASELINE.yaml SPEC.yaml... [--repeat 3] [--limit N]
//                               [--json speculation_bench.json] [--set SECTION.KEY=VALUE]...
//
// The pipelines run in turn, `--repeat` times (baseline, spec1, spec2, ...,
// baseline, spec1, ...), so that the machine's drift touches each alike; each
// figure is the median over the repeats. Beside each speed-up, its limit:
// the baseline's Amdahl bound total / (total - retrieval), what removing
// retrieval from the critical path could give at best. Also the acceptance
// rate, how many retrievals stayed real (OS3's fallback), the time lost to
// rollbacks, and whether every output equals the baseline's.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ralm/core/engine/request_loop.hpp"
#include "ralm/core/engine/run_report.hpp"
#include "ralm/core/engine/prompts.hpp"
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
  for (const auto& f : files)
    runs.push_back({core::load_pipeline(f, overrides, registry), {}, {}});
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

  const core::RunReport& base = runs.front().reports.front();
  const double base_wall = median(runs.front().walls);
  std::vector<double> base_retrieval;
  for (const auto& rep : runs.front().reports)
    base_retrieval.push_back(rep.times.retrieval / rep.times.total);
  const double retrieval_share = median(base_retrieval);
  const double bound = 1.0 / (1.0 - retrieval_share);

  core::Table table({"PIPELINE", "WALL s (median)", "RETRIEVAL %", "SPEED-UP", "AMDAHL BOUND", "ACCEPTED",
                     "REAL", "ROLLBACK %", "IDENTICAL"});
  nlohmann::json out = {{"prompts", prompts.size()}, {"repeat", repeat},
                        {"baseline", first.name},    {"baseline_retrieval_share", retrieval_share},
                        {"amdahl_bound", bound},     {"pipelines", nlohmann::json::array()}};
  for (const auto& r : runs) {
    const double wall = median(r.walls);
    std::vector<double> retrieval, rollback;
    bool identical = true;
    for (const auto& rep : r.reports) {
      retrieval.push_back(rep.times.retrieval / rep.times.total);
      rollback.push_back(rep.times.rollback / rep.times.total);
      identical = identical && core::identical_outputs(rep, base) == base.results.size();
    }
    const core::SpeculationStats& s = r.reports.front().speculation;
    const bool is_base = &r == &runs.front();
    table.add({r.spec.name, fixed(wall, 3), fixed(100 * median(retrieval), 1),
               fixed(base_wall / wall, 2) + "x", is_base ? "-" : fixed(bound, 2) + "x",
               s.speculated > 0 ? fixed(100 * s.acceptance(), 0) + "%" : "-", std::to_string(s.real),
               fixed(100 * median(rollback), 1),
               is_base     ? "(reference)"
               : identical ? "yes"
                           : "NO"});
    out["pipelines"].push_back({{"name", r.spec.name},
                                {"file", r.spec.file},
                                {"walls_s", r.walls},
                                {"wall_median_s", wall},
                                {"speedup", base_wall / wall},
                                {"retrieval_share", median(retrieval)},
                                {"rollback_share", median(rollback)},
                                {"speculated_steps", s.speculated},
                                {"accepted_steps", s.accepted},
                                {"acceptance", s.acceptance()},
                                {"real_retrievals", s.real},
                                {"rounds", s.rounds},
                                {"identical", identical}});
  }
  table.print(std::cout);
  std::cout << "Amdahl bound of the baseline: " << fixed(bound, 2) << "x (retrieval "
            << fixed(100 * retrieval_share, 1) << "% of its wall time)\n";
  write_file_atomically(json_path, [&](std::ostream& o) { o << out.dump(2) << "\n"; });
  return 0;
} catch (const std::exception& e) {
  std::cerr << "speculation_bench: error: " << e.what() << "\n";
  return 2;
}
