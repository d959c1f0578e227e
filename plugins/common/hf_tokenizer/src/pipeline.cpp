#include "pipeline.hpp"

#include "ralm/error.hpp"
#include "unicode.hpp"

namespace ralm::hf {

void Pipeline::finish() {
  for (const AddedToken& t : added_tokens) {
    added_by_content_.insert_or_assign(t.content, t.id);
    added_by_id_.insert_or_assign(t.id, t.content);
    if (t.normalized)
      normalized_tokens_.add(normalizer ? normalizer->normalize(t.content) : t.content, t);
    else
      raw_tokens_.add(t.content, t);
  }
}

Tokens Pipeline::encode(std::string_view text, bool add_special) const {
  if (const std::size_t bad = invalid_utf8_at(text); bad != std::string_view::npos)
    throw InputError("the text to tokenize is not valid UTF-8 (byte " + std::to_string(bad) + ")");
  std::vector<Piece> pieces;
  Piece whole{std::string(text), true, std::nullopt};
  if (raw_tokens_.empty()) {
    if (!whole.text.empty()) pieces.push_back(std::move(whole));
  } else {
    raw_tokens_.split(whole, pieces);
  }
  if (normalizer || !normalized_tokens_.empty()) {
    std::vector<Piece> normalized;
    normalized.reserve(pieces.size());
    for (Piece& piece : pieces) {
      if (piece.id) {
        normalized.push_back(std::move(piece));
        continue;
      }
      Piece p{normalizer ? normalizer->normalize(piece.text) : std::move(piece.text), piece.at_origin,
              std::nullopt};
      if (normalized_tokens_.empty()) {
        if (!p.text.empty()) normalized.push_back(std::move(p));
      } else {
        normalized_tokens_.split(p, normalized);
      }
    }
    pieces = std::move(normalized);
  }
  if (pre_tokenizer) pre_tokenizer->pre_tokenize(pieces);
  Tokens ids;
  ids.reserve(text.size() / 3 + 4);
  for (const Piece& piece : pieces) {
    if (piece.id)
      ids.push_back(*piece.id);
    else
      model->tokenize(piece.text, ids);
  }
  return post_processor ? post_processor->process(std::move(ids), add_special) : ids;
}

std::optional<std::string> Pipeline::token(TokenId id) const {
  if (const auto it = added_by_id_.find(id); it != added_by_id_.end()) return it->second;
  return model->id_to_token(id);
}

std::optional<TokenId> Pipeline::added_token_id(std::string_view content) const {
  const auto it = added_by_content_.find(content);
  if (it == added_by_content_.end()) return std::nullopt;
  return it->second;
}

std::string Pipeline::decode(std::span<const TokenId> ids) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (const TokenId id : ids) {
    // Ids outside the vocabulary are left out, as HF leaves them.
    if (auto t = token(id)) tokens.push_back(std::move(*t));
  }
  std::string out;
  if (decoder) {
    for (const std::string& t : decoder->decode_chain(std::move(tokens)))
      out += t;
    return out;
  }
  for (std::size_t i = 0; i < tokens.size(); ++i)
    out += (i ? " " : "") + tokens[i];
  return out;
}

std::int32_t Pipeline::vocab_size() const {
  std::int32_t n = model->vocab_size();
  for (const AddedToken& t : added_tokens)
    n = std::max(n, t.id + 1);
  return n;
}

}  // namespace ralm::hf
