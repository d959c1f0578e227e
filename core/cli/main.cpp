// The `ralm` command: global options, then one subcommand.
//
// Exit codes: 0 success; 1 a runtime failure; 2 bad usage or bad input (a
// pipeline value, a file, a plugin). Every failure is one line on stderr.
#include <algorithm>
#include <cstdlib>
#include <iostream>

#include "command.hpp"
#include "ralm/core/logging.hpp"
#include "ralm/core/suggest.hpp"
#include "ralm/error.hpp"
#include "ralm/plugin.hpp"
#include "ralm/version.hpp"

namespace {

constexpr int kExitRuntime = 1;
constexpr int kExitUsage = 2;

void print_usage(const ralm::cli::po::options_description& global) {
  std::cout << "usage: ralm [--version] [--help] <command> [<args>]\n\ncommands:\n";
  std::size_t width = 0;
  for (const auto& c : ralm::cli::commands())
    width = std::max(width, std::string(c.name).size() + 2);
  for (const auto& c : ralm::cli::commands()) {
    std::cout << "  " << c.name << std::string(width - std::string(c.name).size(), ' ') << c.summary << "\n";
  }
  std::cout << "\n"
            << global << "\n`ralm <command> --help` documents each command.\n"
            << "Exit status: 0 success, 1 runtime failure, 2 bad usage or bad input.\n";
}

int dispatch(int argc, char** argv) {
  namespace po = ralm::cli::po;
  po::options_description global = ralm::cli::global_options();
  global.add_options()("version", "print the version and the plugin ABI, and exit");
  po::options_description hidden;
  hidden.add_options()("command", po::value<std::string>())("args", po::value<std::vector<std::string>>());
  po::options_description all;
  all.add(global).add(hidden);
  po::positional_options_description positional;
  positional.add("command", 1).add("args", -1);

  po::variables_map vm;
  po::parsed_options parsed = [&] {
    try {
      // No guessing from prefixes here: a subcommand's own option (`ralm
      // model --plugin`) must not be taken for a global one (--plugin-path).
      return po::command_line_parser(argc, argv)
          .options(all)
          .positional(positional)
          .style(po::command_line_style::default_style & ~po::command_line_style::allow_guessing)
          .allow_unregistered()
          .run();
    } catch (const po::error& e) {
      throw ralm::InputError(std::string(e.what()) + "; see `ralm --help`");
    }
  }();
  po::store(parsed, vm);

  const char* env_level = std::getenv("RALM_LOG_LEVEL");
  ralm::LogLevel level = ralm::LogLevel::Warn;
  if (vm.count("log-level")) {
    level = ralm::core::parse_log_level(vm["log-level"].as<std::string>(), "--log-level");
  } else if (env_level) {
    level = ralm::core::parse_log_level(env_level, "RALM_LOG_LEVEL");
  }
  ralm::core::init_logging(level);

  if (vm.count("version")) {
    std::cout << "ralm " RALM_SDK_VERSION_STRING " (plugin ABI " << RALM_SDK_ABI_VERSION
              << "; fingerprint \"" RALM_BUILD_FINGERPRINT "\")\n";
    return 0;
  }
  if (!vm.count("command")) {
    print_usage(global);
    return vm.count("help") ? 0 : kExitUsage;
  }
  const std::string name = vm["command"].as<std::string>();
  std::vector<std::string> names;
  for (const auto& c : ralm::cli::commands())
    names.push_back(c.name);
  for (const auto& c : ralm::cli::commands()) {
    if (name != c.name) continue;
    // Everything after the command name, global options included, goes to the
    // subcommand, which accepts the global options too.
    std::vector<std::string> rest = po::collect_unrecognized(parsed.options, po::include_positional);
    rest.erase(rest.begin());
    if (vm.count("help")) rest.push_back("--help");
    ralm::cli::GlobalOptions options;
    if (vm.count("plugin-path")) options.plugin_paths = vm["plugin-path"].as<std::vector<std::string>>();
    return c.run(rest, options);
  }
  throw ralm::InputError("unknown command '" + name + "'" + ralm::core::did_you_mean(name, names) +
                         "; the commands are: " + ralm::core::join_names(names));
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return dispatch(argc, argv);
  } catch (const ralm::InputError& e) {
    std::cerr << "ralm: error: " << e.what() << "\n";
    return kExitUsage;
  } catch (const ralm::Error& e) {
    std::cerr << "ralm: error: " << e.what() << "\n";
    return kExitRuntime;
  } catch (const std::exception& e) {
    std::cerr << "ralm: internal error: " << e.what() << "\n";
    return kExitRuntime;
  }
}
