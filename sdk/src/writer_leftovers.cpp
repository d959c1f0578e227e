#include "ralm/writer_leftovers.hpp"

#include <signal.h>

#include <cerrno>
#include <string>
#include <string_view>

namespace ralm {

namespace fs = std::filesystem;

namespace {

// Whether process `pid` is gone: no process of that id exists.
bool process_gone(long pid) {
  return pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

}  // namespace

void recover_writer_leftovers(const fs::path& target) {
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

}  // namespace ralm
