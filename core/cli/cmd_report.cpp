// `ralm report DIR... [--html FILE]`: the HTML report of the results a sweep
// (or `ralm compare --out DIR`) wrote to DIR, by default as DIR/report.html;
// with several folders, one report of all their rows, each against its own
// baseline (the first folder's report.html by default).
#include <iostream>

#include "command.hpp"
#include "ralm/core/sweep/merge_results.hpp"
#include "ralm/core/sweep/report_html.hpp"
#include "ralm/core/sweep/results_table.hpp"
#include "ralm/error.hpp"

namespace ralm::cli {

int run_report(const std::vector<std::string>& args, const GlobalOptions&) {
  po::options_description options("Options of `ralm report`");
  options.add_options()("html", po::value<std::string>(),
                        "where to write the report (default DIR/report.html, the first DIR's)");
  po::options_description hidden;
  hidden.add_options()("dir", po::value<std::vector<std::string>>());
  po::positional_options_description positional;
  positional.add("dir", -1);
  po::variables_map vm;
  if (!parse_command("report", "report DIR [DIR...] [--html FILE]", args, options, positional, vm, hidden))
    return 0;
  if (!vm.count("dir")) {
    throw InputError(
        "report: which results? name the folder `ralm sweep --out` wrote, e.g. `ralm report "
        "out/sweep-quickstart`");
  }
  std::vector<core::NamedResults> parts;
  for (const auto& dir : vm["dir"].as<std::vector<std::string>>())
    parts.push_back({dir, core::read_results(dir)});
  const core::SweepResults results = core::merge_results(parts);
  const std::filesystem::path dir = vm["dir"].as<std::vector<std::string>>().front();
  const std::filesystem::path html =
      vm.count("html") ? std::filesystem::path(vm["html"].as<std::string>()) : dir / "report.html";
  core::write_html_report(results, html);
  core::print_results_table(std::cout, results);
  std::cout << "report: " << html.string() << "\n";
  return 0;
}

}  // namespace ralm::cli
