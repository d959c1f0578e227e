#include "index_meta.hpp"

#include <fstream>

#include "ralm/error.hpp"

namespace ralm::dense {

nlohmann::json read_index_meta(const std::filesystem::path& file, std::string_view rebuild_hint) {
  std::ifstream in(file);
  if (!in) throw InputError(file.string() + ": missing; " + std::string(rebuild_hint));
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(file.string() + ": malformed (" + e.what() + "); " + std::string(rebuild_hint));
  }
}

void expect_index_meta(const std::filesystem::path& file, const nlohmann::json& meta, const std::string& key,
                       const nlohmann::json& wanted, const std::string& what, std::string_view rebuild_hint,
                       const std::string& holder) {
  if (!meta.contains(key) || meta.at(key) != wanted) {
    const std::string had = meta.contains(key) ? meta.at(key).dump() : "nothing";
    throw InputError(file.string() + ": built for " + what + " " + had + ", but " + holder + " " +
                     wanted.dump() + "; " + std::string(rebuild_hint));
  }
}

}  // namespace ralm::dense
