#include "ralm/core/corpus/corpus_builder.hpp"

#include "ralm/core/corpus/text_cleaning.hpp"
#include "ralm/error.hpp"
#include "ralm/progress.hpp"

namespace ralm::core {

CorpusManifest build_corpus(const CorpusBuildOptions& options) {
  if (options.sources.empty()) throw InputError("corpus build: no --source given; e.g. --source foldoc");
  PassageStoreWriter writer(options.out, options.overwrite);
  CorpusManifest manifest;
  manifest.words_per_passage = static_cast<std::int64_t>(options.words_per_passage);
  Progress progress("corpus", 0, "documents");
  for (const SourceSpec& source : options.sources) {
    CorpusSource stats;
    read_documents(
        source, options.skip_bad,
        [&](Document&& doc) {
          const auto passages = split_passages(doc.text, options.words_per_passage);
          if (passages.empty()) return;
          for (const std::string& p : passages)
            writer.add(doc.title, p, manifest.documents);
          stats.passages += static_cast<std::int64_t>(passages.size());
          ++stats.documents;
          ++manifest.documents;
          progress.advance();
        },
        stats);
    manifest.sources.push_back(stats);
  }
  progress.finish();
  if (writer.size() == 0) {
    throw InputError(
        "corpus build: the sources gave no passages (every document was empty or skipped); check "
        "the --source paths");
  }
  writer.commit(manifest);
  manifest.passages = writer.size();
  return PassageStore::open(options.out)->manifest();
}

}  // namespace ralm::core
