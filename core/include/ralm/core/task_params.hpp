// The pipeline's `task:` section: what `ralm run` does with the engine,
// documented and validated like a plugin's parameters.
//
//   task:
//     kind: generate          # prompts JSONL in, outputs JSONL out
//     prompts: prompts.jsonl  # {"id": ..., "prompt": "..."} per line
//     output: out/quickstart  # outputs.jsonl and summary.json go here
//
// `kind: perplexity` scores held-out text (task.text or task.corpus; see
// engine/perplexity.hpp) and `kind: qa` answers questions (task.questions;
// engine/qa.hpp). The engine runs them (engine/task_runner.hpp).
#pragma once

#include <string>
#include <vector>

#include "ralm/params.hpp"

namespace ralm::core {

const std::vector<std::string>& task_kinds();
// The documented parameters of one task kind, or nullptr for an unknown one.
const ParamSpecs* task_param_specs(const std::string& kind);

}  // namespace ralm::core
