// The meta.json beside every on-disk index the dense plugin builds (passage
// vectors, FAISS indexes, kNN-LM datastores): reading it, and refusing one
// built for something else with a line that names the difference and the fix.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace ralm::dense {

// FILE's JSON; a missing or malformed file is an InputError ending in
// `rebuild_hint` (how to rebuild it).
nlohmann::json read_index_meta(const std::filesystem::path& file, std::string_view rebuild_hint);

// Compares one recorded field with what the pipeline has: "FILE: built for
// WHAT had, but HOLDER wanted; REBUILD_HINT".
void expect_index_meta(const std::filesystem::path& file, const nlohmann::json& meta, const std::string& key,
                       const nlohmann::json& wanted, const std::string& what, std::string_view rebuild_hint,
                       const std::string& holder = "the pipeline asks for");

}  // namespace ralm::dense
