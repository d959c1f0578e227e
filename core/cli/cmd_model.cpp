// `ralm model ACTION DIR ...`: a checkpoint on its own, through the Model
// interface: info and tokenize here, logits and generate in
// cmd_model_eval.cpp, merge in cmd_model_merge.cpp.
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "command.hpp"
#include "model_args.hpp"
#include "ralm/core/suggest.hpp"
#include "ralm/core/table.hpp"
#include "ralm/error.hpp"

namespace ralm::cli {
namespace {

struct ModelAction {
  const char* name;
  const char* summary;
  int (*run)(const std::vector<std::string>& args, const GlobalOptions& global);
};

// PEFT adapter folders (holding adapter_config.json) in DIR or one level
// below it, as `--adapter` would take them.
std::vector<std::string> adapter_folders(const std::string& dir) {
  namespace fs = std::filesystem;
  std::vector<std::string> found;
  if (dir.empty()) return found;
  if (fs::exists(fs::path(dir) / "adapter_config.json")) found.push_back(dir);
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_directory(ec) && fs::exists(entry.path() / "adapter_config.json"))
      found.push_back(entry.path().string());
  }
  std::sort(found.begin(), found.end());
  return found;
}

int run_info(const std::vector<std::string>& args, const GlobalOptions& global) {
  po::options_description options("Options of `ralm model info`");
  po::options_description hidden;
  po::positional_options_description positional;
  add_model_options(options, hidden, positional);
  options.add_options()("json", "print one JSON object");
  po::variables_map vm;
  if (!parse_command("model info", "model info DIR [--plugin NAME] [--set KEY=VALUE ...] [--json]", args,
                     options, positional, vm, hidden)) {
    return 0;
  }
  const auto loaded = load_model_from_args("model info", vm, global);
  const ModelInfo i = loaded->model().info();
  const Tokenizer& t = loaded->model().tokenizer();
  const std::vector<std::string> adapters =
      adapter_folders(vm.count("dir") ? vm["dir"].as<std::string>() : "");
  std::string adapters_line;
  for (const auto& a : adapters)
    adapters_line += (adapters_line.empty() ? "" : ", ") + a;
  const std::vector<std::pair<std::string, std::string>> fields = {
      {"architecture", i.architecture},
      {"plugin", loaded->plugin},
      {"parameters", std::to_string(i.parameters)},
      {"layers", std::to_string(i.num_layers)},
      {"hidden size", std::to_string(i.hidden_size)},
      {"vocabulary", std::to_string(i.vocab_size)},
      {"tokenizer vocabulary", std::to_string(t.vocab_size())},
      {"context length", std::to_string(i.context_length)},
      {"kv bytes per token", std::to_string(i.kv_bytes_per_token)},
      {"knn key size", std::to_string(i.key_dim)},
  };
  if (vm.count("json")) {
    nlohmann::ordered_json j = {{"architecture", i.architecture},
                                {"plugin", loaded->plugin},
                                {"parameters", i.parameters},
                                {"num_layers", i.num_layers},
                                {"hidden_size", i.hidden_size},
                                {"vocab_size", i.vocab_size},
                                {"context_length", i.context_length},
                                {"kv_bytes_per_token", i.kv_bytes_per_token},
                                {"key_dim", i.key_dim},
                                {"bos_id", t.bos()},
                                {"eos_id", t.eos()}};
    nlohmann::ordered_json details = nlohmann::ordered_json::object();
    for (const auto& [key, value] : i.details)
      details[key] = value;
    j["details"] = details;
    j["adapter_folders"] = adapters;
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  core::Table table({"FIELD", "VALUE"});
  for (const auto& [key, value] : fields)
    table.add({key, value});
  for (const auto& [key, value] : i.details)
    table.add({key, value});
  table.add({"adapter folders", adapters_line.empty() ? "none" : adapters_line});
  table.print(std::cout);
  return 0;
}

int run_tokenize(const std::vector<std::string>& args, const GlobalOptions& global) {
  po::options_description options("Options of `ralm model tokenize`");
  po::options_description hidden;
  po::positional_options_description positional;
  add_model_options(options, hidden, positional);
  hidden.add_options()("text", po::value<std::string>());
  positional.add("text", 1);
  options.add_options()("no-bos", "do not prepend the beginning-of-sequence token")("json",
                                                                                    "print one JSON object");
  po::variables_map vm;
  if (!parse_command("model tokenize", "model tokenize DIR TEXT [--no-bos] [--json]", args, options,
                     positional, vm, hidden)) {
    return 0;
  }
  if (!vm.count("text")) throw InputError("model tokenize: which text? write `ralm model tokenize DIR TEXT`");
  const auto loaded = load_model_from_args("model tokenize", vm, global);
  const Tokenizer& t = loaded->model().tokenizer();
  const Tokens ids = t.encode(vm["text"].as<std::string>(), !vm.count("no-bos"));
  if (vm.count("json")) {
    nlohmann::ordered_json pieces = nlohmann::ordered_json::array();
    for (TokenId id : ids)
      pieces.push_back(t.piece(id));
    std::cout << nlohmann::ordered_json{{"ids", ids}, {"pieces", pieces}}.dump(
                     -1, ' ', false, nlohmann::ordered_json::error_handler_t::replace)
              << "\n";
    return 0;
  }
  core::Table table({"ID", "PIECE"});
  for (TokenId id : ids)
    table.add({std::to_string(id), t.piece(id)});
  table.print(std::cout);
  std::cout << ids.size() << " token(s)\n";
  return 0;
}

const std::vector<ModelAction>& actions() {
  static const std::vector<ModelAction> all = {
      {"info", "the architecture, every config value, parameters, memory, tokenizer and adapters", &run_info},
      {"tokenize", "the ids and pieces of a text", &run_tokenize},
      {"logits", "the logits of a sequence of tokens, top entries or full rows (--json)", &run_model_logits},
      {"generate", "a continuation, greedy or sampled, with prefill and decode speed", &run_model_generate},
      {"merge", "a standalone checkpoint with a LoRA adapter merged in", &run_model_merge},
      {"convert", "the model as a GGUF file in f32, f16 or bf16", &run_model_convert},
      {"quantize", "the model as a quantized GGUF file: q8_0, q4_0 or q4_k_m", &run_model_quantize},
  };
  return all;
}

}  // namespace

int run_model(const std::vector<std::string>& args, const GlobalOptions& global) {
  std::vector<std::string> names;
  for (const auto& a : actions())
    names.push_back(a.name);
  if (args.empty()) throw InputError("model: which action? write one of " + core::join_names(names));
  if (args.front() == "--help" || args.front() == "-h") {
    std::cout << "usage: ralm model ACTION DIR [options]\n\nactions:\n";
    for (const auto& a : actions())
      std::cout << "  " << a.name << std::string(10 - std::string(a.name).size(), ' ') << a.summary << "\n";
    std::cout << "\n`ralm model ACTION --help` documents each action.\n";
    return 0;
  }
  for (const auto& a : actions()) {
    if (args.front() == a.name) return a.run({args.begin() + 1, args.end()}, global);
  }
  throw InputError("model: unknown action '" + args.front() + "'" + core::did_you_mean(args.front(), names) +
                   "; the actions are: " + core::join_names(names));
}

}  // namespace ralm::cli
