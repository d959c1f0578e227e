// Reading the witnesses' fixture files: token ids as text, logits as raw
// little-endian values.
#pragma once

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "ralm/model.hpp"

namespace ralm::test {

// Token ids separated by white space (a fixture's tokens.txt).
inline std::vector<TokenId> read_token_ids(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::vector<TokenId> ids;
  for (TokenId t; in >> t;)
    ids.push_back(t);
  return ids;
}

// A file of raw little-endian values of type T (logits.f32, logits.f64).
template <class T>
std::vector<T> read_raw_values(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), {});
  std::vector<T> v(bytes.size() / sizeof(T));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(T));
  return v;
}

}  // namespace ralm::test
