// Writing a folder so that nothing half-written is ever seen: everything goes
// into DIR.partial-PID, and commit() renames it to DIR. If the owner is
// destroyed before commit() (an error, an interruption), the partial folder
// is removed, and a rerun starts clean. A writer killed outright (SIGKILL)
// cannot remove it: the next writer of DIR removes what writers no longer
// running left beside it (DIR.partial-PID, .tmp-PID; an .old-PID becomes DIR
// again when DIR is missing). Passage stores, indexes, datastores,
// checkpoints and GGUF files are all written this way.
#pragma once

#include <filesystem>
#include <functional>
#include <ostream>

namespace ralm {

class StagingDirectory {
 public:
  // An existing `final_dir` is an InputError unless `overwrite`; the old
  // folder is then replaced only once the new one is complete.
  StagingDirectory(std::filesystem::path final_dir, bool overwrite);
  ~StagingDirectory();
  StagingDirectory(const StagingDirectory&) = delete;
  StagingDirectory& operator=(const StagingDirectory&) = delete;

  // Where to write the files.
  const std::filesystem::path& path() const { return partial_; }
  const std::filesystem::path& final_path() const { return final_; }
  void commit();

 private:
  std::filesystem::path final_, partial_;
  bool committed_ = false;
};

// The same for one file: `write` fills FILE.tmp-PID, which is renamed to FILE
// once it is complete and flushed; on an error the temporary goes and FILE is
// untouched.
void write_file_atomically(const std::filesystem::path& file,
                           const std::function<void(std::ostream&)>& write);

}  // namespace ralm
