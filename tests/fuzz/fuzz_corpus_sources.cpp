// The corpus sources users bring to `ralm corpus build`
// (core/src/corpus/document_sources.cpp): the input's first byte picks JSONL,
// TSV or dictd (and --skip-bad when its bit 2 is set), the rest is the file.
// A dictd input is the index, a NUL byte, then the dictionary text (stored
// plain: zlib reads an uncompressed .dict.dz as it is).
#include <algorithm>

#include "fuzz_support.hpp"
#include "ralm/core/corpus/document_sources.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static const std::filesystem::path dir = ralm::fuzz::work_dir();
  const std::string_view rest = ralm::fuzz::text_of(data + 1, size - 1);
  ralm::core::SourceSpec source;
  switch (data[0] % 3) {
    case 0:
      source = {"jsonl", (dir / "docs.jsonl").string()};
      ralm::fuzz::write_file(source.path, rest);
      break;
    case 1:
      source = {"tsv", (dir / "passages.tsv").string()};
      ralm::fuzz::write_file(source.path, rest);
      break;
    default: {
      source = {"dictd", (dir / "dict").string()};
      const auto nul = std::min(rest.find('\0'), rest.size());
      ralm::fuzz::write_file(source.path + ".index", rest.substr(0, nul));
      ralm::fuzz::write_file(source.path + ".dict.dz", rest.substr(std::min(nul + 1, rest.size())));
    }
  }
  const bool skip_bad = (data[0] & 4) != 0;
  return ralm::fuzz::expect_only_our_errors([&] {
    ralm::CorpusSource stats;
    ralm::core::read_documents(
        source, skip_bad,
        [](ralm::core::Document&& doc) { ralm::fuzz::keep(doc.title.size() + doc.text.size()); }, stats);
  });
}
