#include "fuzz_support.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "ralm/core/corpus/corpus_builder.hpp"
#include "ralm/core/corpus/document_sources.hpp"
#include "ralm/log.hpp"

namespace ralm::fuzz {

namespace fs = std::filesystem;

namespace {

// Removes the folder when the process exits normally (libFuzzer's -runs and
// -max_total_time end with exit()); a crashing run leaves it for inspection.
struct OwnedDir {
  fs::path path;
  OwnedDir() {
    path = fs::temp_directory_path() / ("ralm-fuzz-" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~OwnedDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

}  // namespace

const fs::path& work_dir() {
  static const OwnedDir dir;
  return dir.path;
}

// External linkage: the compiler must assume someone reads it.
extern std::size_t kept;
std::size_t kept = 0;

void keep(std::size_t value) {
  kept += value;
}

void write_file(const fs::path& file, std::string_view bytes) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + file.string());
}

std::string read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + file.string());
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

FolderFuzz::FolderFuzz(const fs::path& built, std::vector<std::string> files, fs::path work)
    : work_(std::move(work)), files_(std::move(files)) {
  fs::copy(built, work_, fs::copy_options::recursive);
  for (const std::string& f : files_)
    built_.push_back(read_file(work_ / f));
}

const fs::path& FolderFuzz::apply(const std::uint8_t* data, std::size_t size) {
  if (dirty_) write_file(work_ / files_[replaced_], built_[replaced_]);
  dirty_ = false;
  if (size == 0) return work_;
  replaced_ = data[0] % files_.size();
  dirty_ = true;
  write_file(work_ / files_[replaced_], text_of(data + 1, size - 1));
  return work_;
}

void FolderFuzz::write_seeds(const fs::path& out) const {
  fs::create_directories(out);
  for (std::size_t i = 0; i < files_.size(); ++i) {
    std::string name = files_[i];
    for (char& c : name)
      if (c == '/') c = '_';
    write_file(out / name, std::string(1, static_cast<char>(i)) + built_[i]);
  }
}

std::vector<std::string> files_under(const fs::path& dir) {
  std::vector<std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    if (entry.is_regular_file()) files.push_back(fs::relative(entry.path(), dir).string());
  std::sort(files.begin(), files.end());
  return files;
}

const fs::path& fixture_store() {
  static const fs::path store = [] {
    core::CorpusBuildOptions o;
    o.sources = {core::parse_source("jsonl:" RALM_SOURCE_DIR "/tests/fixtures/corpus/docs.jsonl")};
    o.out = work_dir() / "built" / "corpus";
    o.words_per_passage = 6;
    core::build_corpus(o);
    return o.out;
  }();
  return store;
}

std::unique_ptr<FolderFuzz> fuzz_folder(const fs::path& built, const std::string& name) {
  auto folder = std::make_unique<FolderFuzz>(built, files_under(built), work_dir() / name);
  if (const char* out = std::getenv("RALM_FUZZ_WRITE_SEEDS"); out && *out) folder->write_seeds(out);
  return folder;
}

void quiet_logs() {
  set_log_sink([](LogLevel, std::string_view) {}, LogLevel::Off);
}

}  // namespace ralm::fuzz
