// `ralm model merge DIR --adapter A --out DIR2`: PEFT's merge_and_unload as a
// command, through Model::save.
#include <filesystem>
#include <iostream>

#include "command.hpp"
#include "model_args.hpp"
#include "ralm/error.hpp"

namespace ralm::cli {

int run_model_merge(const std::vector<std::string>& args, const GlobalOptions& global) {
  po::options_description options("Options of `ralm model merge`");
  po::options_description hidden;
  po::positional_options_description positional;
  add_model_options(options, hidden, positional);
  options.add_options()("out", po::value<std::string>(),
                        "the folder to write (config, safetensors, tokenizer)")("force",
                                                                                "replace --out if it exists");
  po::variables_map vm;
  if (!parse_command("model merge", "model merge DIR --adapter A --out DIR2 [--force]", args, options,
                     positional, vm, hidden)) {
    return 0;
  }
  if (!vm.count("adapter")) throw InputError("model merge: which adapter? give --adapter A (a PEFT folder)");
  if (!vm.count("out"))
    throw InputError("model merge: where to? give --out DIR2, a folder that does not exist");
  const std::filesystem::path out = vm["out"].as<std::string>();
  const bool force = vm.count("force") > 0;
  // Checked before the model loads, so the mistake costs nothing.
  if (std::filesystem::exists(out) && !force)
    throw InputError("model merge: --out " + out.string() + " exists; pass --force to replace it");
  const auto loaded = load_model_from_args("model merge", vm, global);
  SaveOptions save;
  save.merge_active_adapter = true;
  save.overwrite = force;
  loaded->model().save(out, save);
  std::cout << "wrote " << out.string() << ": the model with adapter " << vm["adapter"].as<std::string>()
            << " merged\n";
  return 0;
}

}  // namespace ralm::cli
