// `ralm model convert SRC --out FILE.gguf [--type f32|f16|bf16]` and
// `ralm model quantize SRC --type q8_0|q4_0|q4_k_m --out FILE.gguf`: a model
// rewritten as a single GGUF file through Model::save, whichever plugin
// loads SRC (a checkpoint folder or a GGUF file).
#include <filesystem>
#include <iostream>

#include "command.hpp"
#include "model_args.hpp"
#include "ralm/error.hpp"

namespace ralm::cli {
namespace {

int write_gguf(const std::string& command, const std::string& usage, const std::string& type_help,
               const std::string& default_type, const std::vector<std::string>& args,
               const GlobalOptions& global) {
  po::options_description options("Options of `ralm " + command + "`");
  po::options_description hidden;
  po::positional_options_description positional;
  add_model_options(options, hidden, positional);
  options.add_options()("out", po::value<std::string>(), "the GGUF file to write")(
      "type", po::value<std::string>(), type_help.c_str())("force", "replace --out if it exists");
  po::variables_map vm;
  if (!parse_command(command, usage, args, options, positional, vm, hidden)) return 0;
  if (!vm.count("out")) throw InputError(command + ": where to? give --out FILE.gguf");
  const std::filesystem::path out = vm["out"].as<std::string>();
  if (out.extension() != ".gguf")
    throw InputError(command + ": --out " + out.string() + " must end in .gguf (a GGUF file is written)");
  const std::string type = vm.count("type") ? vm["type"].as<std::string>() : default_type;
  if (type.empty()) throw InputError(command + ": which type? give --type (" + type_help + ")");
  const bool force = vm.count("force") > 0;
  // Checked before the model loads, so the mistake costs nothing.
  if (std::filesystem::exists(out) && !force)
    throw InputError(command + ": --out " + out.string() + " exists; pass --force to replace it");
  const auto loaded = load_model_from_args(command, vm, global);
  SaveOptions save;
  save.overwrite = force;
  save.format = "gguf";
  save.weight_type = type;
  save.merge_active_adapter = vm.count("adapter") > 0;
  loaded->model().save(out, save);
  std::cout << "wrote " << out.string() << " (" << type << ", " << std::filesystem::file_size(out)
            << " bytes)\n";
  return 0;
}

}  // namespace

int run_model_convert(const std::vector<std::string>& args, const GlobalOptions& global) {
  return write_gguf("model convert", "model convert SRC --out FILE.gguf [--type f32|f16|bf16] [--force]",
                    "f32, f16 or bf16 (default f16)", "f16", args, global);
}

int run_model_quantize(const std::vector<std::string>& args, const GlobalOptions& global) {
  return write_gguf("model quantize", "model quantize SRC --type q8_0|q4_0|q4_k_m --out FILE.gguf [--force]",
                    "q8_0, q4_0 or q4_k_m (q6_K where llama.cpp's mix puts it)", "", args, global);
}

}  // namespace ralm::cli
