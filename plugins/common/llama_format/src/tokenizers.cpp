#include "ralm/llama_format/tokenizers.hpp"

#include <sentencepiece_processor.h>

#include "ralm/error.hpp"
#include "ralm/hf_tokenizer/hf_tokenizer.hpp"
#include "ralm/llama_format/sentencepiece_vocab.hpp"

namespace ralm::llama {
namespace {

class IdsOnlyTokenizer final : public Tokenizer {
 public:
  IdsOnlyTokenizer(std::int32_t vocab, TokenId bos, TokenId eos) : vocab_(vocab), bos_(bos), eos_(eos) {}
  Tokens encode(std::string_view, bool) const override {
    throw InputError(
        "this model has neither tokenizer.model nor tokenizer.json, so it cannot encode text; give token "
        "ids, "
        "or add its SentencePiece tokenizer.model or Hugging Face tokenizer.json to its folder");
  }
  std::string decode(std::span<const TokenId> ids) const override {
    std::string out;
    for (TokenId id : ids)
      out += piece(id);
    return out;
  }
  std::string piece(TokenId id) const override { return "<" + std::to_string(id) + ">"; }
  std::int32_t vocab_size() const override { return vocab_; }
  TokenId bos() const override { return bos_; }
  TokenId eos() const override { return eos_; }
  std::optional<TokenId> special(std::string_view) const override { return std::nullopt; }

 private:
  std::int32_t vocab_;
  TokenId bos_, eos_;
};

class SentencePieceTokenizer final : public Tokenizer {
 public:
  SentencePieceTokenizer(const std::filesystem::path& file, std::int32_t vocab, TokenId bos, TokenId eos)
      : vocab_(vocab), bos_(bos), eos_(eos) {
    const auto status = sp_.Load(file.string());
    if (!status.ok())
      throw InputError(file.string() + ": cannot load the SentencePiece model: " + status.ToString());
    if (sp_.GetPieceSize() > vocab) {
      throw InputError(file.string() + ": the tokenizer has " + std::to_string(sp_.GetPieceSize()) +
                       " pieces but config.json's vocab_size is " + std::to_string(vocab));
    }
  }
  // From a serialized model proto; `source` names where it came from.
  SentencePieceTokenizer(const std::string& proto, const std::string& source, std::int32_t vocab, TokenId bos,
                         TokenId eos)
      : vocab_(vocab), bos_(bos), eos_(eos) {
    const auto status = sp_.LoadFromSerializedProto(proto);
    if (!status.ok())
      throw InputError(source + ": cannot build the SentencePiece model: " + status.ToString());
    if (sp_.GetPieceSize() > vocab) {
      throw InputError(source + ": the tokenizer has " + std::to_string(sp_.GetPieceSize()) +
                       " pieces but the model's vocabulary has " + std::to_string(vocab));
    }
  }
  SentencePieceVocab vocab() const {
    SentencePieceVocab v;
    for (int id = 0; id < sp_.GetPieceSize(); ++id) {
      v.pieces.push_back(sp_.IdToPiece(id));
      v.scores.push_back(sp_.GetScore(id));
      v.types.push_back(sp_.IsUnknown(id)   ? PieceType::unknown
                        : sp_.IsControl(id) ? PieceType::control
                        : sp_.IsByte(id)    ? PieceType::byte
                        : sp_.IsUnused(id)  ? PieceType::unused
                                            : PieceType::normal);
    }
    v.unk = sp_.unk_id();
    v.bos = bos_;
    v.eos = eos_;
    return v;
  }
  Tokens encode(std::string_view text, bool add_bos) const override {
    std::vector<int> ids;
    const auto status = sp_.Encode(text, &ids);
    if (!status.ok()) throw Error("SentencePiece encode failed: " + status.ToString());
    Tokens out;
    if (add_bos) out.push_back(bos_);
    out.insert(out.end(), ids.begin(), ids.end());
    return out;
  }
  std::string decode(std::span<const TokenId> ids) const override {
    std::vector<int> pieces(ids.begin(), ids.end());
    std::string text;
    const auto status = sp_.Decode(pieces, &text);
    if (!status.ok()) throw Error("SentencePiece decode failed: " + status.ToString());
    return text;
  }
  std::string piece(TokenId id) const override {
    if (id < 0 || id >= sp_.GetPieceSize()) return "<" + std::to_string(id) + ">";
    return sp_.IdToPiece(id);
  }
  std::int32_t vocab_size() const override { return vocab_; }
  TokenId bos() const override { return bos_; }
  TokenId eos() const override { return eos_; }
  std::string model_proto() const { return sp_.serialized_model_proto(); }
  std::optional<TokenId> special(std::string_view name) const override {
    const int id = sp_.PieceToId(name);
    if (id == sp_.unk_id() && name != sp_.IdToPiece(sp_.unk_id())) return std::nullopt;
    return id;
  }

 private:
  sentencepiece::SentencePieceProcessor sp_;
  std::int32_t vocab_;
  TokenId bos_, eos_;
};

class ByteTokenizer final : public Tokenizer {
 public:
  explicit ByteTokenizer(std::int32_t vocab) : vocab_(vocab) {}
  Tokens encode(std::string_view text, bool add_bos) const override {
    Tokens out;
    out.reserve(text.size() + 1);
    if (add_bos) out.push_back(bos());
    for (unsigned char c : text)
      out.push_back(static_cast<TokenId>(c) + kFirstByte);
    return out;
  }
  std::string decode(std::span<const TokenId> ids) const override {
    std::string out;
    for (TokenId id : ids) {
      if (id >= kFirstByte && id < kFirstByte + 256) out.push_back(static_cast<char>(id - kFirstByte));
    }
    return out;
  }
  std::string piece(TokenId id) const override {
    if (id >= kFirstByte && id < kFirstByte + 256) return std::string(1, static_cast<char>(id - kFirstByte));
    return "<" + std::to_string(id) + ">";
  }
  std::int32_t vocab_size() const override { return vocab_; }
  TokenId bos() const override { return 1; }
  TokenId eos() const override { return 2; }
  std::optional<TokenId> special(std::string_view) const override { return std::nullopt; }

 private:
  static constexpr TokenId kFirstByte = 3;
  std::int32_t vocab_;
};

}  // namespace

std::optional<std::string> sentencepiece_model_proto(const Tokenizer& tokenizer) {
  if (const auto* sp = dynamic_cast<const SentencePieceTokenizer*>(&tokenizer)) return sp->model_proto();
  return std::nullopt;
}

std::optional<SentencePieceVocab> sentencepiece_vocab(const Tokenizer& tokenizer) {
  if (const auto* sp = dynamic_cast<const SentencePieceTokenizer*>(&tokenizer)) return sp->vocab();
  return std::nullopt;
}

std::unique_ptr<Tokenizer> make_sentencepiece_tokenizer(const SentencePieceVocab& vocab,
                                                        std::int32_t vocab_size, const std::string& source) {
  return std::make_unique<SentencePieceTokenizer>(sentencepiece_model_proto(vocab), source, vocab_size,
                                                  vocab.bos, vocab.eos);
}

std::unique_ptr<Tokenizer> make_byte_tokenizer(std::int32_t vocab_size) {
  if (vocab_size < 259) {
    throw InputError(
        "the byte tokenizer needs a vocabulary of at least 259 ids (3 specials and 256 bytes), got " +
        std::to_string(vocab_size));
  }
  return std::make_unique<ByteTokenizer>(vocab_size);
}

std::unique_ptr<Tokenizer> make_ids_only_tokenizer(std::int32_t vocab_size, TokenId bos, TokenId eos) {
  return std::make_unique<IdsOnlyTokenizer>(vocab_size, bos, eos);
}

std::unique_ptr<Tokenizer> make_tokenizer(const std::filesystem::path& dir, std::int32_t vocab_size,
                                          TokenId bos, TokenId eos) {
  const auto file = dir / "tokenizer.model";
  if (std::filesystem::exists(file))
    return std::make_unique<SentencePieceTokenizer>(file, vocab_size, bos, eos);
  const auto json_file = dir / "tokenizer.json";
  if (std::filesystem::exists(json_file)) {
    auto tokenizer = hf::load_tokenizer_json(json_file);
    if (tokenizer->vocab_size() > vocab_size) {
      throw InputError(json_file.string() + ": the tokenizer has " + std::to_string(tokenizer->vocab_size()) +
                       " ids but config.json's vocab_size is " + std::to_string(vocab_size));
    }
    // config.json names the ids generation starts and stops with.
    const_cast<hf::HfTokenizer*>(hf::as_hf_tokenizer(*tokenizer))->set_special_ids(bos, eos);
    return tokenizer;
  }
  return make_ids_only_tokenizer(vocab_size, bos, eos);
}

}  // namespace ralm::llama
