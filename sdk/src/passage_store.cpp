#include "ralm/passage_store.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "ralm/error.hpp"
#include "ralm/mapped_file.hpp"

namespace ralm {

namespace fs = std::filesystem;
using nlohmann::json;

std::uint64_t fnv1a64(const void* data, std::size_t bytes, std::uint64_t hash) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < bytes; ++i) {
    hash ^= p[i];
    hash *= 0x100000001b3ull;
  }
  return hash;
}

namespace {

std::string hex(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::uint64_t offset_at(const MappedFile& offsets, std::int64_t i) {
  return offsets.at<std::uint64_t>(static_cast<std::size_t>(i));
}

// Bytes [o[i], o[i + 1]) of the data: a title or a text. Checked where they
// are read (the open checks only the last offset): offsets that go backwards
// or past the data mean a corrupt store, never a read outside the mapping.
std::string_view slice(const MappedFile& data, const MappedFile& offsets, std::int64_t i,
                       const fs::path& dir) {
  const auto a = offset_at(offsets, i), b = offset_at(offsets, i + 1);
  if (a > b || b > data.size()) {
    throw InputError(
        dir.string() + ": passages.offsets entry " + std::to_string(i) +
        " points outside passages.data; the store is corrupt: rebuild it with `ralm corpus build`");
  }
  return {data.bytes() + a, b - a};
}

}  // namespace

std::shared_ptr<const PassageStore> PassageStore::open(const fs::path& dir) {
  const fs::path manifest_file = dir / "manifest.json";
  std::ifstream in(manifest_file);
  if (!in) {
    throw InputError(dir.string() +
                     ": not a passage store (no manifest.json); build one with `ralm corpus build`");
  }
  std::shared_ptr<PassageStore> store(new PassageStore);
  store->dir_ = dir;
  try {
    const json j = json::parse(in);
    if (j.at("format") != "ralmkit-passages" || j.at("version") != 1) {
      throw InputError(manifest_file.string() +
                       ": unknown store format; rebuild it with `ralm corpus build`");
    }
    auto& m = store->manifest_;
    m.passages = j.at("passages");
    m.documents = j.at("documents");
    m.words_per_passage = j.at("words_per_passage");
    m.checksum = j.at("checksum");
    for (const auto& s : j.at("sources")) {
      m.sources.push_back({s.at("kind"), s.at("path"), s.at("documents"), s.at("passages"), s.at("skipped")});
    }
  } catch (const json::exception& e) {
    throw InputError(manifest_file.string() + ": malformed manifest: " + e.what());
  }
  store->size_ = store->manifest_.passages;
  store->data_ = std::make_unique<MappedFile>(dir / "passages.data");
  store->offsets_ = std::make_unique<MappedFile>(dir / "passages.offsets");
  store->docs_ = std::make_unique<MappedFile>(dir / "passages.docs");
  const auto n = static_cast<std::size_t>(store->size_);
  if (store->offsets_->size() != 8 * (2 * n + 1) || store->docs_->size() != 8 * n ||
      offset_at(*store->offsets_, static_cast<std::int64_t>(2 * n)) != store->data_->size()) {
    throw InputError(dir.string() + ": the store's files disagree with its manifest (" + std::to_string(n) +
                     " passages); it is truncated or corrupt: rebuild it with `ralm corpus build`");
  }
  return store;
}

PassageStore::~PassageStore() = default;

void PassageStore::check(PassageId id) const {
  if (id < 0 || id >= size_) {
    throw InputError("passage id " + std::to_string(id) + " is outside the store " + dir_.string() + " (0.." +
                     std::to_string(size_ - 1) + ")");
  }
}

std::string_view PassageStore::title(PassageId id) const {
  check(id);
  return slice(*data_, *offsets_, 2 * id, dir_);
}

std::string_view PassageStore::text(PassageId id) const {
  check(id);
  return slice(*data_, *offsets_, 2 * id + 1, dir_);
}

std::int64_t PassageStore::document(PassageId id) const {
  check(id);
  std::int64_t d;
  std::memcpy(&d, docs_->bytes() + 8 * static_cast<std::size_t>(id), 8);
  return d;
}

Passage PassageStore::passage(PassageId id) const {
  return {id, std::string(title(id)), std::string(text(id))};
}

struct PassageStoreWriter::Files {
  std::ofstream data, offsets, docs;
  std::uint64_t position = 0;
  std::uint64_t hash = 0xcbf29ce484222325ull;
};

PassageStoreWriter::PassageStoreWriter(fs::path dir, bool overwrite)
    : staging_(std::move(dir), overwrite), files_(std::make_unique<Files>()) {
  const fs::path& partial = staging_.path();
  files_->data.open(partial / "passages.data", std::ios::binary);
  files_->offsets.open(partial / "passages.offsets", std::ios::binary);
  files_->docs.open(partial / "passages.docs", std::ios::binary);
  if (!files_->data || !files_->offsets || !files_->docs)
    throw Error(partial.string() + ": cannot create files");
  const std::uint64_t zero = 0;
  files_->offsets.write(reinterpret_cast<const char*>(&zero), 8);
}

// The staging folder removes itself unless committed; the files close first.
PassageStoreWriter::~PassageStoreWriter() {
  files_.reset();
}

PassageId PassageStoreWriter::add(std::string_view title, std::string_view text, std::int64_t document) {
  Files& f = *files_;
  f.data.write(title.data(), static_cast<std::streamsize>(title.size()));
  f.hash = fnv1a64(title.data(), title.size(), f.hash);
  f.position += title.size();
  f.offsets.write(reinterpret_cast<const char*>(&f.position), 8);
  f.data.write(text.data(), static_cast<std::streamsize>(text.size()));
  f.hash = fnv1a64(text.data(), text.size(), f.hash);
  f.position += text.size();
  f.offsets.write(reinterpret_cast<const char*>(&f.position), 8);
  f.docs.write(reinterpret_cast<const char*>(&document), 8);
  f.hash = fnv1a64(&document, 8, f.hash);
  // Passage boundaries are part of what the checksum identifies.
  f.hash = fnv1a64(&f.position, 8, f.hash);
  return count_++;
}

void PassageStoreWriter::commit(CorpusManifest manifest) {
  Files& f = *files_;
  f.data.close();
  f.offsets.close();
  f.docs.close();
  if (!f.data || !f.offsets || !f.docs)
    throw Error(staging_.path().string() + ": writing the passage store failed");
  manifest.passages = count_;
  manifest.checksum = hex(f.hash);
  json sources = json::array();
  for (const auto& s : manifest.sources) {
    sources.push_back({{"kind", s.kind},
                       {"path", s.path},
                       {"documents", s.documents},
                       {"passages", s.passages},
                       {"skipped", s.skipped}});
  }
  const json j = {{"format", "ralmkit-passages"},
                  {"version", 1},
                  {"passages", manifest.passages},
                  {"documents", manifest.documents},
                  {"words_per_passage", manifest.words_per_passage},
                  {"checksum", manifest.checksum},
                  {"sources", sources}};
  {
    std::ofstream out(staging_.path() / "manifest.json");
    out << j.dump(2) << "\n";
    if (!out) throw Error(staging_.path().string() + ": writing manifest.json failed");
  }
  staging_.commit();
}

}  // namespace ralm
