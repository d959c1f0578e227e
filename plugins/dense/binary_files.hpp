// Arrays of floats in files: the dense plugin's vectors and encoder state,
// little-endian as the machine writes them.
#pragma once

#include <filesystem>
#include <vector>

namespace ralm::dense {

void write_floats(const std::filesystem::path& file, const std::vector<float>& values);
// A missing or unreadable file is an InputError naming it.
std::vector<float> read_floats(const std::filesystem::path& file);

}  // namespace ralm::dense
