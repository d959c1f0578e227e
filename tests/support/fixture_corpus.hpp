// The fixture corpus (tests/fixtures/corpus: a JSONL and a TSV source) built
// into DIR/corpus, for tests that index and search a small passage store.
#pragma once

#include <filesystem>
#include <string>

#include "ralm/core/corpus/corpus_builder.hpp"
#include "run_command.hpp"

namespace ralm::test {

inline std::filesystem::path fixture_corpus(const TempDir& dir) {
  const std::string corpus = RALM_SOURCE_DIR "/tests/fixtures/corpus";
  ralm::core::CorpusBuildOptions o;
  o.sources = {ralm::core::parse_source("jsonl:" + corpus + "/docs.jsonl"),
               ralm::core::parse_source("tsv:" + corpus + "/passages.tsv")};
  o.out = dir.path() / "corpus";
  ralm::core::build_corpus(o);
  return o.out;
}

}  // namespace ralm::test
