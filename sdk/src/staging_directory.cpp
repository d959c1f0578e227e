#include "ralm/staging_directory.hpp"

#include <unistd.h>

#include <fstream>

#include "ralm/error.hpp"
#include "ralm/writer_leftovers.hpp"

namespace ralm {

namespace fs = std::filesystem;

StagingDirectory::StagingDirectory(fs::path final_dir, bool overwrite) : final_(std::move(final_dir)) {
  recover_writer_leftovers(final_);
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
  recover_writer_leftovers(file);
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
