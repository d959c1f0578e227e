// Runs a command as a child process and captures what it printed: the CLI
// tests check messages and exit codes the way a user sees them.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace ralm::test {

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;

  // stderr's lines, without the trailing newline.
  std::vector<std::string> err_lines() const;
};

// Runs `args` (no shell) with RALMKIT_PLUGIN_PATH and RALM_LOG_LEVEL removed
// from the environment and `extra_env` ("NAME=value") added, in `cwd` when
// given.
CommandResult run_command(const std::vector<std::string>& args, const std::filesystem::path& cwd = {},
                          const std::vector<std::string>& extra_env = {});

// The executable `name` in a folder on PATH, or nullopt (run_command does
// not search PATH).
std::optional<std::filesystem::path> find_on_path(const std::string& name);

// A fresh folder under the system's temporary folder, removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  // Writes `text` to path()/name and returns the full path.
  std::filesystem::path write(const std::string& name, const std::string& text) const;

 private:
  std::filesystem::path path_;
};

}  // namespace ralm::test
