#include "model_args.hpp"

#include <charconv>
#include <filesystem>

#include "ralm/core/pipeline.hpp"
#include "ralm/error.hpp"

namespace ralm::cli {

namespace fs = std::filesystem;

void add_model_options(po::options_description& options, po::options_description& hidden,
                       po::positional_options_description& positional) {
  options.add_options()("plugin", po::value<std::string>(),
                        "the model plugin; default: the one that claims DIR (`ralm plugins` lists them)")(
      "set", po::value<std::vector<std::string>>()->composing(),
      "a model parameter, KEY=VALUE (e.g. context_length=256, or init=random without DIR); may be repeated; "
      "`ralm plugins show NAME` lists them")("threads", po::value<std::int64_t>()->default_value(0),
                                             "threads; 0: every core")(
      "dtype", po::value<std::string>(),
      "weights in memory, where the plugin offers several (`ralm plugins show NAME`)")(
      "adapter", po::value<std::string>(), "a PEFT LoRA adapter folder to load and make active");
  hidden.add_options()("dir", po::value<std::string>());
  positional.add("dir", 1);
}

void add_token_options(po::options_description& options) {
  options.add_options()("ids", po::value<std::string>(), "token ids, comma-separated (e.g. 1,17,250)")(
      "prompt", po::value<std::string>(), "text, tokenized by the model's tokenizer")(
      "no-bos", "with --prompt: do not prepend the beginning-of-sequence token");
}

namespace {

// `--set KEY=VALUE` (or model.KEY=VALUE) as a parameter of the model section.
core::Override model_override(const std::string& command, const std::string& text) {
  const bool qualified = text.rfind("model.", 0) == 0;
  core::Override o = core::parse_override(qualified ? text : "model." + text);
  if (o.path.size() != 2) {
    throw InputError(command + ": --set " + text +
                     ": expected KEY=VALUE naming one model parameter, e.g. --set " + "context_length=256");
  }
  return o;
}

// The model component to build: --plugin, else the one that claims DIR, else
// the only model component there is.
std::string model_plugin(const std::string& command, const po::variables_map& vm, const std::string& dir,
                         const core::Registry& registry) {
  if (vm.count("plugin")) return vm["plugin"].as<std::string>();
  const std::vector<std::string> models = registry.names(Model::kKind);
  std::vector<std::string> claiming;
  for (const std::string& name : models) {
    const core::RegistryEntry* entry = registry.find(Model::kKind, name);
    const CheckpointProbe& reads = entry->info.traits.reads_checkpoint;
    if (dir.empty() || (reads && reads(dir))) claiming.push_back(name);
  }
  if (claiming.size() == 1) return claiming.front();
  // With one model plugin, its loader says best what is wrong with DIR.
  if (claiming.empty() && models.size() == 1) return models.front();
  std::string names;
  for (const std::string& name : claiming.empty() ? models : claiming)
    names += (names.empty() ? "" : ", ") + name;
  if (models.empty()) throw InputError(command + ": no model plugin is loaded; check --plugin-path");
  if (dir.empty())
    throw InputError(command + ": which model plugin? give --plugin NAME (the model plugins: " + names + ")");
  if (claiming.empty()) {
    throw InputError(command + ": " + dir + ": no model plugin reads this checkpoint (the model plugins: " +
                     names + "); check the folder, or name one with --plugin NAME");
  }
  throw InputError(command + ": " + dir + ": several model plugins read this checkpoint (" + names +
                   "); choose one with --plugin NAME");
}

}  // namespace

std::unique_ptr<LoadedModel> load_model_from_args(const std::string& command, const po::variables_map& vm,
                                                  const GlobalOptions& global) {
  auto loaded = std::make_unique<LoadedModel>();
  load_plugins(global, loaded->registry);
  // The arguments become a one-section pipeline, validated and built as any
  // pipeline is: the same parameter checks and messages as a `model:` section.
  const Location where{"ralm " + command, 0, 0};
  Value model = Value::map({}, where);
  const std::string dir = vm.count("dir") ? vm["dir"].as<std::string>() : "";
  if (!dir.empty() && !fs::exists(dir)) {
    throw InputError(command + ": no such file or directory '" + dir +
                     "'; give a model's checkpoint folder or file");
  }
  loaded->plugin = model_plugin(command, vm, dir, loaded->registry);
  model.set("plugin", Value::string(loaded->plugin, where));
  if (!dir.empty()) model.set("path", Value::string(dir, where));
  if (vm.count("dtype")) model.set("dtype", Value::string(vm["dtype"].as<std::string>(), where));
  if (vm.count("set")) {
    for (const std::string& s : vm["set"].as<std::vector<std::string>>()) {
      core::Override o = model_override(command, s);
      model.set(o.path[1], o.value);
    }
  }
  if (dir.empty() && !model.find("path") && !model.find("init")) {
    throw InputError(command + ": which model? give its checkpoint folder, e.g. `ralm " + command +
                     " models/tiny`, or --set init=random");
  }
  Value tree = Value::map({}, where);
  tree.set("model", std::move(model));
  Value engine = Value::map({}, where);
  engine.set("threads", Value::integer(vm["threads"].as<std::int64_t>(), where));
  tree.set("engine", std::move(engine));
  const core::PipelineSpec spec = core::validate_pipeline(tree, where.file, loaded->registry);
  loaded->built = core::build_pipeline(spec, loaded->registry);
  if (vm.count("adapter")) {
    const fs::path adapter = vm["adapter"].as<std::string>();
    if (!fs::is_directory(adapter)) {
      throw InputError(command + ": --adapter: no such directory '" + adapter.string() +
                       "'; give a PEFT adapter folder (adapter_config.json, adapter_model.safetensors)");
    }
    const std::string name =
        adapter.filename().empty() ? adapter.parent_path().filename().string() : adapter.filename().string();
    loaded->model().load_adapter(name, adapter);
    loaded->model().set_active_adapter(name);
  }
  return loaded;
}

Tokens parse_ids(const std::string& command, const std::string& text, std::int32_t vocab_size) {
  Tokens ids;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    std::string item = text.substr(start, comma - start);
    while (!item.empty() && item.front() == ' ')
      item.erase(item.begin());
    while (!item.empty() && item.back() == ' ')
      item.pop_back();
    TokenId id = 0;
    const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), id);
    if (item.empty() || ec != std::errc() || end != item.data() + item.size()) {
      throw InputError(command + ": --ids: '" + item +
                       "' is not a token id; write ids separated by commas, e.g. --ids 1,17,250");
    }
    if (id < 0 || id >= vocab_size) {
      throw InputError(command + ": --ids: id " + std::to_string(id) + " is outside the vocabulary (0 to " +
                       std::to_string(vocab_size - 1) + ")");
    }
    ids.push_back(id);
    start = comma + 1;
  }
  return ids;
}

Tokens tokens_from_args(const std::string& command, const po::variables_map& vm, const Model& model) {
  if (vm.count("ids") == vm.count("prompt")) {
    throw InputError(command + ": give exactly one of --ids 1,17,250 and --prompt TEXT");
  }
  const ModelInfo info = model.info();
  Tokens tokens = vm.count("ids")
                      ? parse_ids(command, vm["ids"].as<std::string>(), info.vocab_size)
                      : model.tokenizer().encode(vm["prompt"].as<std::string>(), !vm.count("no-bos"));
  if (tokens.empty()) throw InputError(command + ": no tokens to evaluate; the prompt is empty");
  if (static_cast<std::int64_t>(tokens.size()) > info.context_length) {
    throw InputError(command + ": " + std::to_string(tokens.size()) +
                     " tokens do not fit the model's context of " + std::to_string(info.context_length) +
                     "; shorten the input or raise --set context_length");
  }
  return tokens;
}

}  // namespace ralm::cli
