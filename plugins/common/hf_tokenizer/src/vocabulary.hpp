// A model's vocabulary both ways: token to id (looked up by string_view) and
// id to token.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "json_field.hpp"
#include "ralm/types.hpp"

namespace ralm::hf {

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

class Vocabulary {
 public:
  // The most ids a vocabulary may leave unused below its largest.
  static constexpr std::int64_t kMaxUnusedIds = 65536;
  // From tokenizer.json's {"token": id, ...} object.
  static Vocabulary from_json(const JsonField& field);
  void add(std::string token, TokenId id);

  std::optional<TokenId> find(std::string_view token) const {
    const auto it = by_token_.find(token);
    if (it == by_token_.end()) return std::nullopt;
    return it->second;
  }
  std::optional<std::string> token(TokenId id) const;
  std::int32_t size() const { return static_cast<std::int32_t>(by_id_.size()); }  // one past the largest id

 private:
  std::unordered_map<std::string, TokenId, StringHash, std::equal_to<>> by_token_;
  std::vector<std::optional<std::string>> by_id_;
};

}  // namespace ralm::hf
