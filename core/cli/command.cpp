#include "command.hpp"

#include <iostream>

#include "ralm/core/plugin_manager.hpp"
#include "ralm/error.hpp"
#include "ralm/log.hpp"

namespace ralm::cli {

const std::vector<Command>& commands() {
  static const std::vector<Command> all = {
      {"plugins", "list the loaded plugins, or document one component's parameters", &run_plugins},
      {"validate", "check a pipeline file against the plugins' parameter documentation", &run_validate},
      {"run", "build a pipeline's components and run its task", &run_run},
      {"compare", "run the same prompts through several pipelines and compare them", &run_compare},
      {"sweep",
       "run a pipeline over a grid of settings, repeated and interleaved; resumable; CSV, JSON, HTML",
       &run_sweep},
      {"report", "the HTML report (tables, charts as SVG and PNG) of a sweep's or a comparison's results",
       &run_report},
      {"corpus", "build a passage store from documents (corpus build)", &run_corpus},
      {"ask", "one question through a pipeline: the answer, each retrieval and the latency", &run_ask},
      {"serve", "a pipeline behind an HTTP API: completions (streamed or not), retrieval, metrics, a page",
       &run_serve},
      {"model", "a checkpoint on its own: info, tokenize, logits, generate, merge", &run_model},
      {"index",
       "build the index of a pipeline's retriever (and its policy's datastore) ahead of a run (index build)",
       &run_index},
      {"datastore",
       "build what a pipeline's policy keeps on disk (a kNN-LM datastore) ahead of a run (datastore build)",
       &run_datastore},
      {"retrieval-eval", "recall@k, MRR and overlap of pipelines' retrievers on queries from the corpus",
       &run_retrieval_eval},
      {"train", "train a model with the trainer a config names (a pipeline with a `trainer:` section)",
       &run_train},
  };
  return all;
}

po::options_description global_options() {
  po::options_description options("Global options");
  options.add_options()("plugin-path", po::value<std::vector<std::string>>()->composing(),
                        "a folder (or file) to load plugins from, before RALMKIT_PLUGIN_PATH and the bundled "
                        "plugins; may be repeated, or colon-separated")(
      "log-level", po::value<std::string>(), "trace, debug, info, warn (default), error or off")("help,h",
                                                                                                 "show help");
  return options;
}

bool parse_command(const std::string& command, const std::string& usage, const std::vector<std::string>& args,
                   po::options_description options, const po::positional_options_description& positional,
                   po::variables_map& vm, const po::options_description& hidden) {
  options.add(global_options());
  po::options_description all;
  all.add(options).add(hidden);
  try {
    po::store(po::command_line_parser(args).options(all).positional(positional).run(), vm);
    if (vm.count("help")) {
      std::cout << "usage: ralm " << usage << "\n\n" << options << "\n";
      return false;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw InputError(command + ": " + e.what() + "; see `ralm " + command + " --help`");
  }
  return true;
}

void load_plugins(const GlobalOptions& global, core::Registry& registry) {
  core::PluginManager manager(registry);
  const auto path = core::plugin_search_path(global.plugin_paths);
  std::string shown;
  for (const auto& p : path)
    shown += (shown.empty() ? "" : ":") + p.string();
  log_debug("plugin search path: " + shown);
  manager.load_search_path(path);
}

}  // namespace ralm::cli
