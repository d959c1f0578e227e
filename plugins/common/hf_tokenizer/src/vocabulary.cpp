#include "vocabulary.hpp"

namespace ralm::hf {

Vocabulary Vocabulary::from_json(const JsonField& field) {
  if (!field.value().is_object()) field.fail("must be an object of token: id");
  Vocabulary v;
  // Hugging Face numbers a vocabulary's N tokens 0..N-1. Ids are kept in a
  // table as long as the largest, so an id far past N (a damaged or hostile
  // file: an id of 555555117 would ask for 18 GB) is refused;
  // files with a few holes still load.
  const auto limit = static_cast<std::int64_t>(field.value().size()) + kMaxUnusedIds;
  for (const auto& [token, id] : field.value().items()) {
    // The path is built only for an error: a vocabulary has 100,000s of entries.
    // (Captured by name: clang 14 cannot capture a structured binding.)
    const auto at = [&, &token = token, &id = id] {
      return JsonField(id, field.path() + "[\"" + token + "\"]", field.source());
    };
    if (!id.is_number_integer() || id.get<std::int64_t>() < 0)
      at().fail("must be an id (a non-negative integer)");
    if (id.get<std::int64_t>() >= limit) {
      at().fail("id " + std::to_string(id.get<std::int64_t>()) + " is far past the vocabulary's " +
                std::to_string(field.value().size()) + " tokens (ids run 0.." + std::to_string(limit - 1) +
                " at most); renumber the vocabulary from 0");
    }
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
