#include "ralm/staging_directory.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <string_view>

#include "ralm/error.hpp"

namespace ralm {

namespace fs = std::filesystem;

namespace {

// Whether process `pid` is gone: no process of that id exists.
bool process_gone(long pid) {
  return pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

// What a killed writer of `target` left beside it: TARGET.partial-PID,
// TARGET.tmp-PID and TARGET.old-PID whose process no longer runs. The first
// two go; an old one goes too, unless TARGET itself is missing, the writer
// having been killed between its two renames: then the old is TARGET again.
// A run that finds them leaves nothing of the killed one behind.
void recover_leftovers(const fs::path& target) {
  std::error_code ec;
  const fs::path folder = target.has_parent_path() ? target.parent_path() : fs::path(".");
  const std::string name = target.filename().string();
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    const std::string other = entry.path().filename().string();
    for (const std::string_view kind : {".partial-", ".tmp-", ".old-"}) {
      const std::string prefix = name + std::string(kind);
      if (other.size() <= prefix.size() || other.compare(0, prefix.size(), prefix) != 0) continue;
      const std::string digits = other.substr(prefix.size());
      if (digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 9) continue;
      if (!process_gone(std::stol(digits))) continue;
      std::error_code ignored;
      if (kind == ".old-" && !fs::exists(target, ignored))
        fs::rename(entry.path(), target, ignored);
      else
        fs::remove_all(entry.path(), ignored);
    }
  }
}

}  // namespace

StagingDirectory::StagingDirectory(fs::path final_dir, bool overwrite) : final_(std::move(final_dir)) {
  recover_leftovers(final_);
  if (fs::exists(final_) && !overwrite) {
    throw InputError(final_.string() + ": already exists; choose another output folder or pass --force");
  }
  partial_ = final_.string() + ".partial-" + std::to_string(::getpid());
  fs::remove_all(partial_);
  fs::create_directories(partial_);
}

StagingDirectory::~StagingDirectory() {
  if (committed_) return;
  std::error_code ec;
  fs::remove_all(partial_, ec);
}

void StagingDirectory::commit() {
  if (fs::exists(final_)) {
    const fs::path old = final_.string() + ".old-" + std::to_string(::getpid());
    fs::rename(final_, old);
    fs::rename(partial_, final_);
    fs::remove_all(old);
  } else {
    fs::rename(partial_, final_);
  }
  committed_ = true;
}

void write_file_atomically(const fs::path& file, const std::function<void(std::ostream&)>& write) {
  recover_leftovers(file);
  const fs::path tmp = file.string() + ".tmp-" + std::to_string(::getpid());
  try {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error(tmp.string() + ": cannot create");
    write(out);
    out.close();
    if (!out) throw Error(tmp.string() + ": write failed");
    fs::rename(tmp, file);
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
}

}  // namespace ralm
