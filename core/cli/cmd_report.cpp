// `ralm report DIR [--html FILE]`: the HTML report of the results a sweep (or
// `ralm compare --out DIR`) wrote to DIR, by default as DIR/report.html.
#include <iostream>

#include "command.hpp"
#include "ralm/core/sweep/report_html.hpp"
#include "ralm/core/sweep/results_table.hpp"
#include "ralm/error.hpp"

namespace ralm::cli {

int run_report(const std::vector<std::string>& args, const GlobalOptions&) {
  po::options_description options("Options of `ralm report`");
  options.add_options()("html", po::value<std::string>(),
                        "where to write the report (default DIR/report.html)");
  po::options_description hidden;
  hidden.add_options()("dir", po::value<std::string>());
  po::positional_options_description positional;
  positional.add("dir", 1);
  po::variables_map vm;
  if (!parse_command("report", "report DIR [--html FILE]", args, options, positional, vm, hidden)) return 0;
  if (!vm.count("dir")) {
    throw InputError(
        "report: which results? name the folder `ralm sweep --out` wrote, e.g. `ralm report "
        "out/sweep-quickstart`");
  }
  const std::filesystem::path dir = vm["dir"].as<std::string>();
  const core::SweepResults results = core::read_results(dir);
  const std::filesystem::path html =
      vm.count("html") ? std::filesystem::path(vm["html"].as<std::string>()) : dir / "report.html";
  core::write_html_report(results, html);
  core::print_results_table(std::cout, results);
  std::cout << "report: " << html.string() << "\n";
  return 0;
}

}  // namespace ralm::cli
