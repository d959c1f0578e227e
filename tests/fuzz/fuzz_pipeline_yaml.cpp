// Pipeline files (core/src/yaml_reader.cpp, pipeline.cpp, param_validation.cpp):
// the input is a pipeline's YAML, loaded and validated against the shipped
// plugins' parameters, as `ralm run` and `ralm validate` do. It sits beside a
// fixed base.yaml it may `extends:`, and its lines that start with "#set "
// (comments to YAML) are `--set` overrides, parsed and applied as the
// command line's are.
#include "fuzz_support.hpp"
#include "ralm/core/pipeline.hpp"
#include "ralm/core/plugin_manager.hpp"

namespace {

// A base in the shape of pipelines/quickstart-ralmspec.yaml's chain: every
// section, so an including file's merges and overrides meet real ones.
constexpr std::string_view kBase = R"(name: base
description: the fuzzer's base pipeline
model:
  plugin: llama
  path: models/tiny
retriever:
  plugin: bm25
  corpus: data/corpus
  k1: 0.9
policy:
  plugin: prepend
scheduler:
  plugin: fixed
  steps_per_round: 4
engine:
  stride: 4
  top_k: 1
  max_new_tokens: 32
  async_verification: true
task:
  kind: generate
  prompts: prompts.jsonl
compare:
  baseline: none
)";

const ralm::core::Registry& registry() {
  static const ralm::core::Registry* r = [] {
    auto* reg = new ralm::core::Registry;
    ralm::core::PluginManager manager(*reg);
    manager.load_search_path({RALM_SHIPPED_PLUGIN_DIR});
    return reg;
  }();
  return *r;
}

std::vector<std::string> set_lines(std::string_view text) {
  std::vector<std::string> sets;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = std::min(text.find('\n', start), text.size());
    const std::string_view line = text.substr(start, end - start);
    if (line.substr(0, 5) == "#set ") sets.emplace_back(line.substr(5));
    start = end + 1;
  }
  return sets;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ralm::fuzz::quiet_logs();
  ralm::fuzz::write_file(ralm::fuzz::work_dir() / "base.yaml", kBase);
  registry();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::filesystem::path file = ralm::fuzz::work_dir() / "pipeline.yaml";
  const std::string_view text = ralm::fuzz::text_of(data, size);
  ralm::fuzz::write_file(file, text);
  return ralm::fuzz::expect_only_our_errors([&] {
    std::vector<ralm::core::Override> overrides;
    for (const std::string& set : set_lines(text))
      overrides.push_back(ralm::core::parse_override(set));
    ralm::core::load_pipeline(file, overrides, registry());
  });
}
