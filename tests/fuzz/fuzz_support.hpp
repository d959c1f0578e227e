// What the libFuzzer harnesses of tests/fuzz share: a per-process folder for
// the files a reader must find on disk, a folder of files fuzzed one file at
// a time, and the rule that separates a finding from an expected refusal.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ralm/error.hpp"

namespace ralm::fuzz {

// A folder of this process's own, removed at exit: harnesses write their
// inputs there, so harnesses running side by side never share a file.
const std::filesystem::path& work_dir();

void write_file(const std::filesystem::path& file, std::string_view bytes);
std::string read_file(const std::filesystem::path& file);

// The input as text (bytes, not necessarily UTF-8).
inline std::string_view text_of(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Hands a value read from the input to code the compiler cannot see, so
// that reading it is not optimised away.
void keep(std::size_t value);

// Runs `parse` on one input. Our readers refuse bad input with ralm::Error
// (InputError, mostly): that is the expected outcome, so it is swallowed.
// Anything else escapes to libFuzzer, which reports it as a crash: another
// exception, like every crash, leak or sanitizer report, is a finding.
template <class Parse>
int expect_only_our_errors(Parse&& parse) {
  try {
    parse();
  } catch (const ralm::Error&) {
  }
  return 0;
}

// A folder a reader opens as a whole (an index, a store, an adapter), built
// valid once; each input replaces one of its files. The input's first byte
// picks the file (modulo their count), the rest is its new content; the
// other files stay as built, so the reader gets past them to the fuzzed one.
class FolderFuzz {
 public:
  // `files`: paths relative to `built`, the folder as a writer left it. The
  // fuzzed copy lives in `work`, which must not exist yet.
  FolderFuzz(const std::filesystem::path& built, std::vector<std::string> files, std::filesystem::path work);

  // Restores the file the previous input replaced, then writes this one's.
  const std::filesystem::path& apply(const std::uint8_t* data, std::size_t size);
  const std::filesystem::path& dir() const { return work_; }

  // One seed per file, its byte and its built content, as
  // `out/<file with / as _>`: the seed corpus that starts from valid files.
  void write_seeds(const std::filesystem::path& out) const;

 private:
  std::filesystem::path work_;
  std::vector<std::string> files_;
  std::vector<std::string> built_;  // each file's content as built
  std::size_t replaced_ = 0;
  bool dirty_ = false;
};

// The files under `dir`, relative to it, sorted: what a FolderFuzz of a
// writer's output fuzzes.
std::vector<std::string> files_under(const std::filesystem::path& dir);

// A passage store of tests/fixtures/corpus/docs.jsonl (6-word passages),
// built once per process: what the index harnesses build their indexes of.
const std::filesystem::path& fixture_store();

// A FolderFuzz of every file under `built`, fuzzed in work_dir()/`name`.
// RALM_FUZZ_WRITE_SEEDS=DIR also writes its seeds into DIR
// (RALM_FUZZ_SEEDS=1 scripts/fuzz.sh).
std::unique_ptr<FolderFuzz> fuzz_folder(const std::filesystem::path& built, const std::string& name);

// Silences the project's log: a harness's output is libFuzzer's.
void quiet_logs();

}  // namespace ralm::fuzz
