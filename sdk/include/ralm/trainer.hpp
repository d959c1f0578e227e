// The Trainer interface: a component that trains a model and writes it.
//
// A training config is a pipeline file with a `trainer:` section, so it gets
// the same validation, `--set` overrides and error messages as any pipeline.
// The trainer is built last: a retrieval-augmented trainer finds the
// pipeline's retriever in its BuildContext. `ralm train CONFIG.yaml` builds
// the pipeline and calls train().
#pragma once

#include <cstdint>
#include <filesystem>

#include "ralm/component.hpp"

namespace ralm {

// What one invocation of `ralm train` asks for.
struct TrainRequest {
  // Continue from the trainer's last checkpoint instead of starting afresh;
  // the result equals that of an uninterrupted run.
  bool resume = false;
  // Stop (after writing a checkpoint) once this many optimiser steps have
  // run in this invocation; 0: run to the configured end.
  std::int64_t stop_after_steps = 0;
  // Train nothing: measure the held-out perplexity of the starting point (a
  // fresh start, or the checkpoint with `resume`) and write nothing.
  bool evaluate_only = false;
};

// What a finished (or stopped) invocation reports.
struct TrainSummary {
  std::int64_t steps = 0;        // optimiser steps done in total, resumed ones included
  std::int64_t total_steps = 0;  // the configured end
  std::int64_t tokens = 0;       // training tokens seen in total
  double train_loss = 0.0;       // mean loss of the last step
  // exp(mean loss) over the held-out split at the end; 0 when not measured.
  double validation_perplexity = 0.0;
  std::filesystem::path output;  // the folder the model was written to
};

class Trainer : public Component {
 public:
  static constexpr const char* kKind = "trainer";
  ~Trainer() override;

  virtual TrainSummary train(const TrainRequest& request) = 0;
};

}  // namespace ralm
