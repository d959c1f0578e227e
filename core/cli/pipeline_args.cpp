#include "pipeline_args.hpp"

#include "ralm/core/table.hpp"
#include "ralm/error.hpp"

namespace ralm::cli {

void add_pipeline_options(po::options_description& options, po::options_description& hidden,
                          po::positional_options_description& positional) {
  options.add_options()("set", po::value<std::vector<std::string>>()->composing(),
                        "override one value, SECTION.KEY=VALUE (e.g. retriever.k=5); may be repeated");
  hidden.add_options()("pipeline", po::value<std::string>());
  positional.add("pipeline", 1);
}

core::PipelineSpec load_pipeline_from_args(const po::variables_map& vm, const core::Registry& registry) {
  if (!vm.count("pipeline")) {
    throw InputError("which pipeline? name its YAML file, e.g. pipelines/quickstart.yaml");
  }
  std::vector<core::Override> overrides;
  if (vm.count("set")) {
    for (const std::string& s : vm["set"].as<std::vector<std::string>>()) {
      overrides.push_back(core::parse_override(s));
    }
  }
  return core::load_pipeline(vm["pipeline"].as<std::string>(), overrides, registry);
}

core::TaskOverrides shared_task(const std::vector<core::PipelineSpec>& specs, const po::variables_map& vm) {
  const std::string kind = specs.front().task_kind.empty() ? "generate" : specs.front().task_kind;
  for (const auto& spec : specs) {
    const std::string k = spec.task_kind.empty() ? "generate" : spec.task_kind;
    if (k != kind) {
      throw InputError(spec.file + ": its task is " + k + " but " + specs.front().file + "'s is " + kind +
                       "; compare pipelines of one task kind");
    }
  }
  core::TaskOverrides task;
  if (vm.count("prompts")) {
    task.prompts = vm["prompts"].as<std::string>();
  } else if (kind == "generate" && !specs.front().task_kind.empty()) {
    task.prompts = specs.front().task.get_path("prompts");
  } else if (kind == "qa") {
    task.prompts = specs.front().task.get_path("questions");
  }
  task.limit = vm["limit"].as<std::int64_t>();
  return task;
}

namespace {
std::string source(const Value& v) {
  if (v.where().file == "default") return "default";
  return v.where().str();
}

void print_params(std::ostream& out, const Params& params) {
  core::Table table({"KEY", "VALUE", "FROM"});
  for (const auto& [key, v] : params.values().as_map())
    table.add({key, v.str(), source(v)});
  table.print(out, "    ");
}
}  // namespace

void print_pipeline(std::ostream& out, const core::PipelineSpec& spec) {
  out << "pipeline '" << spec.name << "' (" << spec.file << ")\n";
  if (!spec.description.empty()) out << "  " << spec.description << "\n";
  for (const core::ComponentSpec& c : spec.components) {
    out << "  " << c.kind << ": " << c.plugin;
    if (c.entry && c.entry->plugin)
      out << "  [" << c.entry->plugin->name << " " << c.entry->plugin->version << "]";
    out << "\n";
    if (!c.params.values().as_map().empty()) print_params(out, c.params);
  }
  out << "  engine:\n";
  print_params(out, spec.engine);
  if (spec.compare.has("baseline") && !spec.compare.get_string("baseline").empty()) {
    out << "  compare: baseline " << spec.compare.get_string("baseline") << "  ("
        << source(spec.compare.value("baseline")) << ")\n";
  }
}

}  // namespace ralm::cli
