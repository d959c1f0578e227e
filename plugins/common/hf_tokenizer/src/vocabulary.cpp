#include "vocabulary.hpp"

namespace ralm::hf {

Vocabulary Vocabulary::from_json(const JsonField& field) {
  if (!field.value().is_object()) field.fail("must be an object of token: id");
  Vocabulary v;
  for (const auto& [token, id] : field.value().items()) {
    if (!id.is_number_integer() || id.get<std::int64_t>() < 0 ||
        id.get<std::int64_t>() >= (std::int64_t{1} << 31))
      JsonField(id, field.path() + "[\"" + token + "\"]", field.source())
          .fail("must be an id (a non-negative integer)");
    v.add(token, static_cast<TokenId>(id.get<std::int64_t>()));
  }
  return v;
}

void Vocabulary::add(std::string token, TokenId id) {
  if (static_cast<std::size_t>(id) >= by_id_.size()) by_id_.resize(static_cast<std::size_t>(id) + 1);
  by_id_[static_cast<std::size_t>(id)] = token;
  by_token_.insert_or_assign(std::move(token), id);
}

std::optional<std::string> Vocabulary::token(TokenId id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= by_id_.size()) return std::nullopt;
  return by_id_[static_cast<std::size_t>(id)];
}

}  // namespace ralm::hf
