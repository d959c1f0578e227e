#include "ralm/core/plugin_manager.hpp"

#include <algorithm>
#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <system_error>

#include <sys/stat.h>
#include <unistd.h>

#include "ralm/error.hpp"
#include "ralm/log.hpp"
#include "ralm/plugin.hpp"

namespace ralm::core {

// The loaded library. Never unloaded while a registry entry or an object made
// by one of its factories refers to it.
class LoadedLibrary {
 public:
  explicit LoadedLibrary(boost::dll::shared_library lib) : lib_(std::move(lib)) {}
  boost::dll::shared_library& get() { return lib_; }

 private:
  boost::dll::shared_library lib_;
};

namespace fs = std::filesystem;

namespace {

std::vector<std::string> split_colons(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string part;
  while (std::getline(in, part, ':')) {
    if (!part.empty()) out.push_back(part);
  }
  return out;
}

bool is_plugin_file_name(const fs::path& p) {
  const std::string name = p.filename().string();
  return name.rfind(kPluginFilePrefix, 0) == 0 && p.extension() == ".so";
}

// Collects what a plugin registers, so that a plugin whose registration
// throws halfway leaves nothing behind in the registry.
class StagingRegistrar final : public Registrar {
 public:
  void add_component(ComponentInfo info, ComponentFactory factory) override {
    staged.push_back({std::move(info), std::move(factory)});
  }
  std::vector<std::pair<ComponentInfo, ComponentFactory>> staged;
};

// Whether someone other than this user (or root) could change what `path`
// holds: owned by another user, or writable by everyone (a folder only when
// it lacks the sticky bit, which keeps others from replacing its files).
// Group-writable is allowed: under a user-private group (umask 002) the group
// is the user. What the dynamic loader refuses in secure mode, for the same
// reason: loading a library runs its code with this process's rights.
std::string unsafe_because(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "";
  const uid_t me = ::geteuid();
  if (st.st_uid != me && st.st_uid != 0)
    return "it belongs to user id " + std::to_string(st.st_uid) + ", neither you nor root";
  const bool sticky_folder = S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX);
  if ((st.st_mode & S_IWOTH) && !sticky_folder) {
    std::ostringstream mode;
    mode << std::oct << (st.st_mode & 07777);
    return "it is writable by every user (mode 0" + mode.str() + ")";
  }
  return "";
}

// Refuses a plugin file that others could have changed, or one in a folder
// they could have put it in.
void check_ownership(const fs::path& file) {
  for (const fs::path& p : {file, fs::absolute(file).parent_path()}) {
    if (const std::string why = unsafe_because(p); !why.empty()) {
      throw InputError(file.string() + ": refused: " + (p == file ? "" : "its folder " + p.string() + ": ") +
                       why +
                       "; another user could make ralm run their code. Take write permission from others "
                       "(chmod o-w), own it yourself, or remove it from the plugin path");
    }
  }
}

}  // namespace

fs::path bundled_plugin_dir() {
  return fs::path(boost::dll::program_location().string()).parent_path().parent_path() / "lib" / "ralmkit" /
         "plugins";
}

std::vector<fs::path> plugin_search_path(const std::vector<std::string>& cli_paths) {
  std::vector<fs::path> path;
  for (const std::string& entry : cli_paths) {
    for (const std::string& part : split_colons(entry))
      path.emplace_back(part);
  }
  if (const char* env = std::getenv("RALMKIT_PLUGIN_PATH")) {
    for (const std::string& part : split_colons(env))
      path.emplace_back(part);
  }
  path.push_back(bundled_plugin_dir());
  return path;
}

void PluginManager::load_search_path(const std::vector<fs::path>& path) {
  for (const fs::path& entry : path) {
    std::error_code ec;
    if (fs::is_regular_file(entry, ec)) {
      load_unless_shadowed(entry);
      continue;
    }
    if (!fs::is_directory(entry, ec)) {
      log_debug("plugin path entry " + entry.string() + " does not exist; skipped");
      continue;
    }
    std::vector<fs::path> files;
    for (const auto& item : fs::directory_iterator(entry, ec)) {
      if (is_plugin_file_name(item.path())) files.push_back(item.path());
    }
    std::sort(files.begin(), files.end());
    for (const fs::path& file : files)
      load_unless_shadowed(file);
  }
}

void PluginManager::load_unless_shadowed(const fs::path& file) {
  const std::string name = file.filename().string();
  if (std::find(loaded_names_.begin(), loaded_names_.end(), name) != loaded_names_.end()) {
    log_debug(file.string() + " is shadowed by an earlier " + name + " on the plugin path; skipped");
    return;
  }
  load_file(file);
}

void PluginManager::load_file(const fs::path& file) {
  const std::string where = file.string();
  const std::string sdk = std::string("ralmkit SDK ") + RALM_SDK_VERSION_STRING;

  check_ownership(file);
  boost::dll::shared_library lib;
  try {
    lib.load(boost::dll::fs::path(file.string()),
             boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const std::exception& e) {
    std::string reason = e.what();
    std::replace(reason.begin(), reason.end(), '\n', ' ');
    throw InputError(
        where + ": cannot load the library: " + reason +
        "; check that it is a shared library built for this machine, or remove it from the plugin "
        "path");
  }
  if (!lib.has(RALM_PLUGIN_ENTRY_SYMBOL)) {
    throw InputError(where +
                     ": not a ralmkit plugin: it exports no '" RALM_PLUGIN_ENTRY_SYMBOL
                     "' function; define one with RALM_PLUGIN (ralm/plugin.hpp) or remove the file from the "
                     "plugin path");
  }
  using EntryFn = const ralm_plugin_descriptor*();
  const ralm_plugin_descriptor* d = lib.get<EntryFn>(RALM_PLUGIN_ENTRY_SYMBOL)();
  if (d == nullptr) {
    throw InputError(where +
                     ": its '" RALM_PLUGIN_ENTRY_SYMBOL
                     "' returned no descriptor; rebuild it with the "
                     "RALM_PLUGIN macro of " +
                     sdk);
  }
  // The ABI version is the one field every descriptor layout shares: read it
  // before trusting anything else in the descriptor.
  if (d->abi_version != RALM_SDK_ABI_VERSION) {
    throw InputError(where + ": plugin built for SDK ABI version " + std::to_string(d->abi_version) +
                     ", but this ralm has ABI version " + std::to_string(RALM_SDK_ABI_VERSION) +
                     "; rebuild the plugin against " + sdk);
  }
  if (d->descriptor_size < sizeof(ralm_plugin_descriptor) || d->fingerprint == nullptr ||
      d->name == nullptr || d->register_components == nullptr) {
    throw InputError(
        where + ": its plugin descriptor is incomplete; rebuild it with the RALM_PLUGIN macro of " + sdk);
  }
  const std::string name = d->name;
  if (std::strcmp(d->fingerprint, RALM_BUILD_FINGERPRINT) != 0) {
    throw InputError(where + ": plugin '" + name + "' has build fingerprint \"" + d->fingerprint +
                     "\", but this ralm has \"" RALM_BUILD_FINGERPRINT "\"; rebuild the plugin against " +
                     sdk + " with the same C++ standard library");
  }

  auto record = std::make_shared<PluginRecord>();
  record->name = name;
  record->version = d->version ? d->version : "";
  record->description = d->description ? d->description : "";
  record->file = fs::absolute(file).lexically_normal().string();
  record->library = std::make_shared<LoadedLibrary>(std::move(lib));

  StagingRegistrar staging;
  try {
    d->register_components(&staging);
  } catch (const std::exception& e) {
    throw InputError(where + ": plugin '" + name + "' failed while registering its components: " + e.what() +
                     "; fix or remove the plugin");
  } catch (...) {
    throw InputError(where + ": plugin '" + name +
                     "' threw a non-standard exception while registering; fix or remove the plugin");
  }

  std::shared_ptr<const PluginRecord> shared = record;
  std::vector<RegistryEntry> entries;
  for (auto& [info, factory] : staging.staged)
    entries.push_back({shared, std::move(info), std::move(factory)});
  registry_.add_all(std::move(entries));
  registry_.add_plugin(shared);
  loaded_names_.push_back(file.filename().string());
  log_debug("loaded plugin '" + name + "' " + record->version + " from " + record->file);
}

}  // namespace ralm::core
