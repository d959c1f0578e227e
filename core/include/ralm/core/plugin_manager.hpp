// Finds plugin libraries, checks them, and registers what they provide.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "ralm/core/registry.hpp"

namespace ralm::core {

// The file name every plugin library has: lib<prefix><name>.so.
inline constexpr const char* kPluginFilePrefix = "libralm-";

// The folders to search, in order: each --plugin-path entry, then each entry
// of RALMKIT_PLUGIN_PATH (colon-separated), then the plugins folder of this
// installation or build tree (<bin>/../lib/ralmkit/plugins).
std::vector<std::filesystem::path> plugin_search_path(const std::vector<std::string>& cli_paths);

// The plugins folder next to the running binary.
std::filesystem::path bundled_plugin_dir();

class PluginManager {
 public:
  explicit PluginManager(Registry& registry) : registry_(registry) {}

  // Loads every plugin library in each folder (or the file itself, when an
  // entry names a file). A library whose file name was already loaded from an
  // earlier folder is skipped: earlier folders take precedence.
  void load_search_path(const std::vector<std::filesystem::path>& path);

  // Loads one library: RTLD_NOW | RTLD_LOCAL, then the ABI version, then the
  // fingerprint, then the registration. Throws InputError naming the file and
  // the fix on any failure; nothing is registered from a library that fails.
  void load_file(const std::filesystem::path& file);

 private:
  void load_unless_shadowed(const std::filesystem::path& file);

  Registry& registry_;
  std::vector<std::string> loaded_names_;
};

}  // namespace ralm::core
