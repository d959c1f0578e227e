// The stages of Hugging Face tokenizers' pipeline as ralm builds them from
// tokenizer.json: normaliser, pre-tokeniser, model, post-processor, decoder.
// Only ids matter here, so a piece of text is a plain string (HF tracks
// offsets too); the one place HF's offsets change ids, Metaspace's
// prepend_scheme "first", is carried as `at_origin`.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "json_field.hpp"
#include "ralm/types.hpp"

namespace ralm::hf {

// A piece of the text on its way through the pipeline: an added token's id
// once matched, or text still to tokenize.
struct Piece {
  std::string text;
  // Whether the piece begins where the original text begins (HF's
  // offsets_original().0 == 0).
  bool at_origin = false;
  std::optional<TokenId> id;
};

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual std::string normalize(std::string_view text) const = 0;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Splits the pieces that hold no id yet; drops empty ones.
  virtual void pre_tokenize(std::vector<Piece>& pieces) const = 0;
};

class Model {
 public:
  virtual ~Model() = default;
  // Appends the ids of one pre-tokenised word.
  virtual void tokenize(std::string_view word, Tokens& out) const = 0;
  virtual std::optional<TokenId> token_to_id(std::string_view token) const = 0;
  virtual std::optional<std::string> id_to_token(TokenId id) const = 0;
  // One past the largest id.
  virtual std::int32_t vocab_size() const = 0;
  // "BPE byte-level", "BPE byte-fallback", "BPE", "WordPiece", "WordLevel".
  virtual std::string kind() const = 0;
};

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // The ids of one sequence with the special tokens the processor adds when
  // `add_special` (HF's add_special_tokens).
  virtual Tokens process(Tokens ids, bool add_special) const = 0;
  // The special token it puts first and last around a single sequence.
  virtual std::optional<TokenId> first_special() const = 0;
  virtual std::optional<TokenId> last_special() const = 0;
};

class Decoder {
 public:
  virtual ~Decoder() = default;
  // HF's decode_chain: tokens in, tokens out; the decoded text is their
  // concatenation.
  virtual std::vector<std::string> decode_chain(std::vector<std::string> tokens) const = 0;
};

// Each reads its JSON object (`type` chooses the class) and fails naming the
// field it cannot use.
std::unique_ptr<Normalizer> normalizer_from_json(const JsonField& field);
std::unique_ptr<PreTokenizer> pre_tokenizer_from_json(const JsonField& field);
std::unique_ptr<Model> model_from_json(const JsonField& field);
std::unique_ptr<PostProcessor> post_processor_from_json(const JsonField& field);
std::unique_ptr<Decoder> decoder_from_json(const JsonField& field);

// The byte-to-character table of GPT-2's byte-level BPE.
const std::vector<std::string>& byte_level_chars();

}  // namespace ralm::hf
