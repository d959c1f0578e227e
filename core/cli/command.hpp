// What every `ralm` subcommand shares: the global options, option parsing
// that turns Boost.Program_options errors into one-line usage errors, and the
// registry loaded from the plugin path.
#pragma once

#include <boost/program_options.hpp>
#include <string>
#include <vector>

#include "ralm/core/registry.hpp"

namespace ralm::cli {

namespace po = boost::program_options;

struct GlobalOptions {
  std::vector<std::string> plugin_paths;
};

struct Command {
  const char* name;
  const char* summary;
  int (*run)(const std::vector<std::string>& args, const GlobalOptions& global);
};

const std::vector<Command>& commands();

// The options every subcommand also accepts (--plugin-path, --log-level).
po::options_description global_options();

// Parses a subcommand's arguments; `hidden` holds the positional arguments,
// which the usage line documents. Returns false after printing help when
// --help was given. Usage errors throw InputError naming the command.
bool parse_command(const std::string& command, const std::string& usage, const std::vector<std::string>& args,
                   po::options_description options, const po::positional_options_description& positional,
                   po::variables_map& vm, const po::options_description& hidden = po::options_description());

// Loads every plugin on the search path into `registry`.
void load_plugins(const GlobalOptions& global, core::Registry& registry);

int run_plugins(const std::vector<std::string>& args, const GlobalOptions& global);
int run_validate(const std::vector<std::string>& args, const GlobalOptions& global);
int run_corpus(const std::vector<std::string>& args, const GlobalOptions& global);
int run_compare(const std::vector<std::string>& args, const GlobalOptions& global);
int run_sweep(const std::vector<std::string>& args, const GlobalOptions& global);
int run_report(const std::vector<std::string>& args, const GlobalOptions& global);
int run_run(const std::vector<std::string>& args, const GlobalOptions& global);
int run_ask(const std::vector<std::string>& args, const GlobalOptions& global);
int run_serve(const std::vector<std::string>& args, const GlobalOptions& global);
int run_model(const std::vector<std::string>& args, const GlobalOptions& global);
int run_model_logits(const std::vector<std::string>& args, const GlobalOptions& global);
int run_model_generate(const std::vector<std::string>& args, const GlobalOptions& global);
int run_model_merge(const std::vector<std::string>& args, const GlobalOptions& global);
int run_model_convert(const std::vector<std::string>& args, const GlobalOptions& global);
int run_model_quantize(const std::vector<std::string>& args, const GlobalOptions& global);
int run_index(const std::vector<std::string>& args, const GlobalOptions& global);
int run_datastore(const std::vector<std::string>& args, const GlobalOptions& global);
// `ralm COMMAND build PIPELINE`: builds the pipeline asking the components of
// `sections` that keep an index on disk to build it (cmd_index.cpp).
int build_indexes(const std::vector<std::string>& args, const GlobalOptions& global,
                  const std::string& command, const std::vector<std::string>& sections);
int run_retrieval_eval(const std::vector<std::string>& args, const GlobalOptions& global);
int run_train(const std::vector<std::string>& args, const GlobalOptions& global);

}  // namespace ralm::cli
