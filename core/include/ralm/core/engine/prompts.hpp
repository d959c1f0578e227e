// The prompts of a `generate` task: a JSONL file, one request per line.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace ralm::core {

struct Prompt {
  std::string id;
  std::string text;
};

// Reads {"id": ..., "prompt": "..."} lines ("text" is accepted for
// "prompt"; a missing id becomes the line number). A malformed line, an empty
// prompt or an empty file is an InputError naming file and line.
std::vector<Prompt> read_prompts(const std::filesystem::path& file);

}  // namespace ralm::core
