// `ralm plugins` and `ralm plugins show NAME`.
#include <iostream>

#include "command.hpp"
#include "ralm/core/param_validation.hpp"
#include "ralm/core/suggest.hpp"
#include "ralm/core/table.hpp"
#include "ralm/error.hpp"

namespace ralm::cli {
namespace {

void list(const core::Registry& registry) {
  if (registry.entries().empty()) {
    std::cout << "no plugins found; pass --plugin-path DIR or set RALMKIT_PLUGIN_PATH\n";
    return;
  }
  core::Table table({"KIND", "NAME", "VERSION", "DESCRIPTION", "LIBRARY"});
  for (const core::RegistryEntry* e : registry.entries()) {
    table.add({e->info.kind, e->info.name, e->plugin ? e->plugin->version : "", e->info.description,
               e->plugin ? e->plugin->file : "(core)"});
  }
  table.print(std::cout);
}

// NAME or KIND/NAME, by a current or a former name; a NAME that two kinds
// share must be qualified.
const core::RegistryEntry& find(const core::Registry& registry, const std::string& query) {
  std::vector<const core::RegistryEntry*> matches;
  std::vector<std::string> all;
  for (const core::RegistryEntry* e : registry.entries()) {
    all.push_back(e->info.kind + "/" + e->info.name);
    std::vector<std::string> names = {e->info.name};
    names.insert(names.end(), e->info.aliases.begin(), e->info.aliases.end());
    for (const std::string& name : names) {
      if (query == name || query == e->info.kind + "/" + name) {
        matches.push_back(e);
        break;
      }
    }
  }
  if (matches.size() == 1) return *matches.front();
  if (matches.empty()) {
    std::vector<std::string> names;
    for (const core::RegistryEntry* e : registry.entries())
      names.push_back(e->info.name);
    throw InputError("plugins show: no component named '" + query + "'" + core::did_you_mean(query, names) +
                     "; the components are: " + core::join_names(all));
  }
  std::vector<std::string> options;
  for (const core::RegistryEntry* e : matches)
    options.push_back(e->info.kind + "/" + e->info.name);
  throw InputError("plugins show: '" + query + "' names several components; write one of " +
                   core::join_names(options));
}

void show(const core::RegistryEntry& e) {
  std::cout << e.info.kind << " '" << e.info.name << "': " << e.info.description << "\n";
  if (!e.info.aliases.empty()) {
    std::cout << "former name" << (e.info.aliases.size() > 1 ? "s" : "")
              << ", still accepted with a warning: " << core::join_names(e.info.aliases) << "\n";
  }
  if (!e.info.traits.keeps.empty()) {
    std::cout << "keeps its " << e.info.traits.keeps << " on disk: `ralm index build PIPELINE` builds it\n";
  }
  if (e.info.traits.reads_checkpoint) {
    std::cout << "claims the checkpoints it reads: `ralm model DIR` picks it for them\n";
  }
  if (e.plugin) {
    std::cout << "from plugin '" << e.plugin->name << "' " << e.plugin->version << " (" << e.plugin->file
              << ")\n";
  }
  if (e.info.params.empty()) {
    std::cout << "\nno parameters\n";
    return;
  }
  std::cout << "\nparameters (in the pipeline's `" << e.info.kind
            << ":` section, beside `plugin: " << e.info.name << "`):\n";
  core::Table table({"NAME", "TYPE", "DEFAULT", "ALLOWED", "HELP"});
  core::Table former({"FORMER NAME", "WRITE"});
  for (const ParamSpec& p : e.info.params) {
    table.add({p.name, param_type_name(p.type), p.default_value ? p.default_value->str() : "(required)",
               core::describe_constraints(p), p.help});
    for (const std::string& alias : p.aliases)
      former.add({alias, p.name});
  }
  table.print(std::cout, "  ");
  if (former.empty()) return;
  std::cout << "\nformer parameter names, still accepted with a warning:\n";
  former.print(std::cout, "  ");
}

}  // namespace

int run_plugins(const std::vector<std::string>& args, const GlobalOptions& global) {
  po::options_description options("Options of `ralm plugins`");
  po::options_description positionals;
  positionals.add_options()("action", po::value<std::string>())("name", po::value<std::string>());
  po::positional_options_description positional;
  positional.add("action", 1).add("name", 1);
  po::variables_map vm;
  if (!parse_command("plugins", "plugins [show KIND/NAME|NAME] [options]", args, options, positional, vm,
                     positionals)) {
    return 0;
  }
  core::Registry registry;
  load_plugins(global, registry);
  if (!vm.count("action")) {
    list(registry);
    return 0;
  }
  if (vm["action"].as<std::string>() != "show") {
    throw InputError("plugins: unknown action '" + vm["action"].as<std::string>() +
                     "'; write `ralm plugins` or `ralm plugins show NAME`");
  }
  if (!vm.count("name")) throw InputError("plugins show: which component? write `ralm plugins show NAME`");
  show(find(registry, vm["name"].as<std::string>()));
  return 0;
}

}  // namespace ralm::cli
