// The on-disk passage store: what `ralm corpus build` writes and every
// retriever reads.
//
// A store is a folder:
//   manifest.json     format, version, counts, sources, words per passage, checksum
//   passages.data     every passage's title then text, UTF-8, back to back
//   passages.offsets  2N+1 little-endian uint64: passage i's title is
//                     [o[2i], o[2i+1]) and its text [o[2i+1], o[2i+2])
//   passages.docs     N little-endian int64: the document each passage came from
// Ids are positions, so the same build inputs give the same ids. Files are
// memory-mapped; a store is written into a temporary folder and renamed into
// place, so a reader never sees half a store.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ralm/staging_directory.hpp"
#include "ralm/types.hpp"

namespace ralm {

struct CorpusSource {
  std::string kind;  // "foldoc", "jsonl", ...
  std::string path;
  std::int64_t documents = 0;
  std::int64_t passages = 0;
  std::int64_t skipped = 0;  // malformed lines skipped under --skip-bad
};

struct CorpusManifest {
  std::int64_t passages = 0;
  std::int64_t documents = 0;
  std::int64_t words_per_passage = 0;
  std::vector<CorpusSource> sources;
  // FNV-1a 64 of the data, offsets and document files, in hex: the corpus's
  // fingerprint, which indexes record and check.
  std::string checksum;
};

class MappedFile;

class PassageStore {
 public:
  // Opens and checks a store; a missing or inconsistent one is an InputError
  // naming the folder and the file.
  static std::shared_ptr<const PassageStore> open(const std::filesystem::path& dir);
  ~PassageStore();

  std::int64_t size() const { return size_; }
  std::string_view title(PassageId id) const;
  std::string_view text(PassageId id) const;
  std::int64_t document(PassageId id) const;
  Passage passage(PassageId id) const;

  const CorpusManifest& manifest() const { return manifest_; }
  const std::filesystem::path& dir() const { return dir_; }

 private:
  PassageStore() = default;
  void check(PassageId id) const;

  std::filesystem::path dir_;
  CorpusManifest manifest_;
  std::int64_t size_ = 0;
  std::unique_ptr<MappedFile> data_, offsets_, docs_;
};

// Writes a store through a StagingDirectory: commit() writes the manifest and
// moves the folder into place; without commit(), nothing is left behind.
class PassageStoreWriter {
 public:
  // An existing DIR is an InputError unless `overwrite`.
  PassageStoreWriter(std::filesystem::path dir, bool overwrite);
  ~PassageStoreWriter();
  PassageStoreWriter(const PassageStoreWriter&) = delete;
  PassageStoreWriter& operator=(const PassageStoreWriter&) = delete;

  PassageId add(std::string_view title, std::string_view text, std::int64_t document);
  std::int64_t size() const { return count_; }
  void commit(CorpusManifest manifest);

 private:
  struct Files;
  StagingDirectory staging_;
  std::int64_t count_ = 0;
  std::unique_ptr<Files> files_;
};

// FNV-1a 64, continued from `hash` (the offset basis by default).
std::uint64_t fnv1a64(const void* data, std::size_t bytes, std::uint64_t hash = 0xcbf29ce484222325ull);

}  // namespace ralm
