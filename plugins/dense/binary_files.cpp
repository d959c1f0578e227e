#include "binary_files.hpp"

#include <fstream>

#include "ralm/error.hpp"
#include "ralm/mapped_file.hpp"

namespace ralm::dense {

void write_floats(const std::filesystem::path& file, const std::vector<float>& values) {
  std::ofstream out(file, std::ios::binary);
  out.write(reinterpret_cast<const char*>(values.data()),
            static_cast<std::streamsize>(values.size() * sizeof(float)));
  if (!out) throw Error(file.string() + ": write failed");
}

std::vector<float> read_floats(const std::filesystem::path& file) {
  const MappedFile mapped(file);
  std::vector<float> out(mapped.count<float>());
  // An empty file maps to no address at all, which memcpy may not be given.
  if (!out.empty()) std::memcpy(out.data(), mapped.bytes(), out.size() * sizeof(float));
  return out;
}

}  // namespace ralm::dense
