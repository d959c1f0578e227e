// `ralm train CONFIG`: builds a training config (a pipeline file with a
// `trainer:` section) and runs its trainer. The core names no trainer: any
// plugin that registers one can be named in the config.
#include <cmath>
#include <cstdio>
#include <iostream>

#include "command.hpp"
#include "pipeline_args.hpp"
#include "ralm/core/pipeline_builder.hpp"
#include "ralm/error.hpp"

namespace ralm::cli {

int run_train(const std::vector<std::string>& args, const GlobalOptions& global) {
  po::options_description options("Options of `ralm train`");
  po::options_description hidden;
  po::positional_options_description positional;
  add_pipeline_options(options, hidden, positional);
  options.add_options()("resume",
                        "continue from the trainer's last checkpoint (same result as no interruption)")(
      "stop-after", po::value<std::int64_t>()->default_value(0),
      "stop after this many optimiser steps in this run, with a checkpoint; 0: run to the end")(
      "eval-only",
      "train nothing: print the held-out perplexity of the start (or, with --resume, the checkpoint)");
  po::variables_map vm;
  if (!parse_command(
          "train",
          "train CONFIG.yaml [--resume] [--stop-after N] [--eval-only] [--set trainer.KEY=VALUE ...]", args,
          options, positional, vm, hidden)) {
    return 0;
  }
  core::Registry registry;
  load_plugins(global, registry);
  const core::PipelineSpec spec = load_pipeline_from_args(vm, registry);
  const core::BuiltPipeline built = core::build_pipeline(spec, registry);
  if (!built.trainer) {
    const auto names = registry.names(Trainer::kKind);
    std::string available;
    for (const auto& n : names)
      available += (available.empty() ? "" : ", ") + n;
    throw InputError(spec.file + ": no `trainer:` section; add `trainer: {plugin: NAME, ...}` (trainers: " +
                     (available.empty() ? "none (check --plugin-path)" : available) + ")");
  }
  TrainRequest request;
  request.resume = vm.count("resume") > 0;
  request.stop_after_steps = vm["stop-after"].as<std::int64_t>();
  request.evaluate_only = vm.count("eval-only") > 0;
  if (request.stop_after_steps < 0) throw InputError("train: --stop-after must be 0 or more");
  const TrainSummary s = built.trainer->train(request);
  char line[512];
  if (request.evaluate_only) {
    std::snprintf(line, sizeof line, "held-out perplexity %.3f at step %lld of %lld\n",
                  s.validation_perplexity, static_cast<long long>(s.steps),
                  static_cast<long long>(s.total_steps));
    std::cout << line;
    return 0;
  }
  std::snprintf(line, sizeof line, "trained %lld/%lld steps, %lld tokens; last train loss %.4f",
                static_cast<long long>(s.steps), static_cast<long long>(s.total_steps),
                static_cast<long long>(s.tokens), s.train_loss);
  std::cout << line;
  if (s.validation_perplexity > 0) {
    std::snprintf(line, sizeof line, "; held-out perplexity %.3f", s.validation_perplexity);
    std::cout << line;
  }
  std::cout << "\nmodel: " << s.output.string() << "\n";
  return 0;
}

}  // namespace ralm::cli
