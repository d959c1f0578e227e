// HF's WordPiece (greedy longest match, "##" continuations) and WordLevel
// (whole words) models, and the choice of model by its "type".
#include "bpe_model.hpp"
#include "components.hpp"
#include "ralm/error.hpp"
#include "unicode.hpp"
#include "vocabulary.hpp"

namespace ralm::hf {
namespace {

class WordPieceModel final : public Model {
 public:
  WordPieceModel(Vocabulary vocab, std::string unk, std::string prefix, std::size_t max_chars)
      : vocab_(std::move(vocab)), unk_(std::move(unk)), prefix_(std::move(prefix)), max_chars_(max_chars) {}

  void tokenize(std::string_view word, Tokens& out) const override {
    std::size_t chars = 0;
    for (std::size_t pos = 0; pos < word.size(); ++chars)
      next_code_point(word, pos);
    if (chars > max_chars_) {
      out.push_back(unk_id());
      return;
    }
    const std::size_t first = out.size();
    std::string candidate;
    for (std::size_t start = 0; start < word.size();) {
      std::size_t end = word.size();
      std::optional<TokenId> found;
      while (start < end) {
        candidate.assign(start > 0 ? prefix_ : std::string());
        candidate.append(word.substr(start, end - start));
        if ((found = vocab_.find(candidate))) break;
        // Back off by one character.
        do
          --end;
        while (end > start && (static_cast<unsigned char>(word[end]) & 0xC0) == 0x80);
      }
      if (!found) {
        out.resize(first);
        out.push_back(unk_id());
        return;
      }
      out.push_back(*found);
      start = end;
    }
  }
  std::optional<TokenId> token_to_id(std::string_view token) const override { return vocab_.find(token); }
  std::optional<std::string> id_to_token(TokenId id) const override { return vocab_.token(id); }
  std::int32_t vocab_size() const override { return vocab_.size(); }
  std::string kind() const override { return "WordPiece"; }

 private:
  TokenId unk_id() const {
    const auto id = vocab_.find(unk_);
    if (!id) throw Error("the WordPiece model's unk_token '" + unk_ + "' is not in its vocabulary");
    return *id;
  }
  Vocabulary vocab_;
  std::string unk_, prefix_;
  std::size_t max_chars_;
};

class WordLevelModel final : public Model {
 public:
  WordLevelModel(Vocabulary vocab, std::string unk) : vocab_(std::move(vocab)), unk_(std::move(unk)) {}
  void tokenize(std::string_view word, Tokens& out) const override {
    if (const auto id = vocab_.find(word)) {
      out.push_back(*id);
      return;
    }
    const auto unk = vocab_.find(unk_);
    if (!unk) throw Error("the WordLevel model's unk_token '" + unk_ + "' is not in its vocabulary");
    out.push_back(*unk);
  }
  std::optional<TokenId> token_to_id(std::string_view token) const override { return vocab_.find(token); }
  std::optional<std::string> id_to_token(TokenId id) const override { return vocab_.token(id); }
  std::int32_t vocab_size() const override { return vocab_.size(); }
  std::string kind() const override { return "WordLevel"; }

 private:
  Vocabulary vocab_;
  std::string unk_;
};

}  // namespace

std::unique_ptr<Model> model_from_json(const JsonField& field) {
  const std::string type = field.type();
  if (type == "BPE") return bpe_model_from_json(field);
  if (type == "WordPiece") {
    const std::int64_t max_chars = field.integer_or("max_input_chars_per_word", 100);
    if (max_chars < 0) field.at("max_input_chars_per_word").fail("must not be negative");
    return std::make_unique<WordPieceModel>(
        Vocabulary::from_json(field.at("vocab")), field.string_or("unk_token", "[UNK]"),
        field.string_or("continuing_subword_prefix", "##"), static_cast<std::size_t>(max_chars));
  }
  if (type == "WordLevel")
    return std::make_unique<WordLevelModel>(Vocabulary::from_json(field.at("vocab")),
                                            field.string_or("unk_token", "<unk>"));
  field.unsupported_type("BPE, WordPiece, WordLevel");
}

}  // namespace ralm::hf
