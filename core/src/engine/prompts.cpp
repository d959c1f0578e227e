#include "ralm/core/engine/prompts.hpp"

#include <fstream>

#include "jsonl_records.hpp"
#include "ralm/error.hpp"

namespace ralm::core {

std::vector<Prompt> read_prompts(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in)
    throw InputError(file.string() + ": cannot open the prompts file; check task.prompts or --prompts");
  std::vector<Prompt> prompts;
  for (const JsonlRecord& r : read_jsonl_objects(in, file.string(), R"({"id": "q1", "prompt": "..."})")) {
    // "text" is accepted too, so that a documents file can serve as prompts.
    prompts.push_back({record_id(r), required_text(r, r.object.contains("prompt") ? "prompt" : "text")});
  }
  if (prompts.empty()) throw InputError(file.string() + ": no prompts in the file");
  return prompts;
}

}  // namespace ralm::core
