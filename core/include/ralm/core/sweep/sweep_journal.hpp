// A sweep's journal, OUT/journal.jsonl: what the sweep is (its first line)
// and one line per finished run, so that a sweep killed at any moment resumes
// without running a finished run again. Each append rewrites the file through
// a temporary name (write_file_atomically): a kill leaves the journal as it
// was before or after a run, never half a line.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ralm/core/sweep/run_figures.hpp"

namespace ralm::core {

struct JournalEntry {
  std::size_t combination = 0;  // index into the sweep's combinations
  int repeat = 0;               // 0-based
  Figures figures;
  std::vector<std::string> outputs;  // output_digests
};

class SweepJournal {
 public:
  // Opens `file`, or starts it when it does not exist. `identity` says what
  // the sweep is (pipelines, grid, overrides, prompts): a journal written for
  // another identity is an InputError naming what differs and the fix, as is
  // a line that is not a journal's.
  SweepJournal(std::filesystem::path file, nlohmann::json identity);

  const std::vector<JournalEntry>& entries() const { return entries_; }
  bool done(std::size_t combination, int repeat) const;

  // Adds a finished run and writes the journal.
  void append(JournalEntry entry);

 private:
  void write() const;

  std::filesystem::path file_;
  nlohmann::json identity_;
  std::vector<JournalEntry> entries_;
};

}  // namespace ralm::core
