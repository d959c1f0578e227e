// What the `ralm model` subcommands share: the DIR argument and the options
// that build a model component from the plugin registry (--plugin, --set,
// --threads, --dtype, --adapter), and the tokens a command evaluates (--ids
// or --prompt).
#pragma once

#include <memory>
#include <string>

#include "command.hpp"
#include "ralm/core/pipeline_builder.hpp"
#include "ralm/model.hpp"

namespace ralm::cli {

// Adds the model options to `options`, and the DIR argument (the first
// positional) to `hidden` and `positional`.
void add_model_options(po::options_description& options, po::options_description& hidden,
                       po::positional_options_description& positional);

// Adds --ids, --prompt and --no-bos.
void add_token_options(po::options_description& options);

// A model built through the registry: `plugin` (--plugin, else the model
// component that claims DIR) with `path: DIR` and each --set KEY=VALUE as its parameters, validated against
// the plugin's documentation exactly as a pipeline's `model:` section is. With
// --adapter, the adapter is loaded and made active through the Model
// interface.
struct LoadedModel {
  core::Registry registry;
  std::string plugin;  // the model component built
  core::BuiltPipeline built;
  Model& model() const { return *built.model; }
};
std::unique_ptr<LoadedModel> load_model_from_args(const std::string& command, const po::variables_map& vm,
                                                  const GlobalOptions& global);

// "1,17,250" into ids, each checked against the vocabulary.
Tokens parse_ids(const std::string& command, const std::string& text, std::int32_t vocab_size);

// The tokens of --ids, or of --prompt (with BOS unless --no-bos); exactly one
// must be given. They must fit in the model's context.
Tokens tokens_from_args(const std::string& command, const po::variables_map& vm, const Model& model);

}  // namespace ralm::cli
