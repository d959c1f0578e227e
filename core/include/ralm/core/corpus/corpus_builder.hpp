// `ralm corpus build`: documents from sources, split into passages, written
// to a passage store.
#pragma once

#include <filesystem>
#include <vector>

#include "ralm/core/corpus/document_sources.hpp"

namespace ralm::core {

struct CorpusBuildOptions {
  std::vector<SourceSpec> sources;
  std::filesystem::path out;
  std::size_t words_per_passage = 100;  // DPR's passages
  bool skip_bad = false;
  bool overwrite = false;
};

// Builds the store and returns its manifest. An empty corpus is an InputError.
CorpusManifest build_corpus(const CorpusBuildOptions& options);

}  // namespace ralm::core
