// The pipeline's `task:` section: what `ralm run` does with the engine.
//
//   task:
//     kind: generate          # prompts JSONL in, outputs JSONL out
//     prompts: prompts.jsonl  # {"id": ..., "prompt": "..."} per line
//     output: out/quickstart  # outputs.jsonl and summary.json go here
//
// `kind: perplexity` scores held-out text (task.text or task.corpus; see
// perplexity.hpp) and `kind: qa` answers questions (task.questions; qa.hpp).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "ralm/params.hpp"

namespace ralm::core {

const std::vector<std::string>& task_kinds();
// The documented parameters of one task kind, or nullptr for an unknown one.
const ParamSpecs* task_param_specs(const std::string& kind);

struct Prompt {
  std::string id;
  std::string text;
};

// Reads {"id": ..., "prompt": "..."} lines ("text" is accepted for
// "prompt"; a missing id becomes the line number). A malformed line, an empty
// prompt or an empty file is an InputError naming file and line.
std::vector<Prompt> read_prompts(const std::filesystem::path& file);

}  // namespace ralm::core
