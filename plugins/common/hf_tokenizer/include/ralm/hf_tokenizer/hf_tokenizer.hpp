// Hugging Face tokenizers' tokenizer.json, read by ralm's own code: the
// models BPE (byte-level as GPT-2, Llama 3 and Qwen2 use it; with byte
// fallback as Llama 2 and Mistral), WordPiece (BERT) and WordLevel, with the
// normalisers, pre-tokenisers, post-processors, decoders and added tokens
// those checkpoints use. GGUF's "gpt2" tokenizer goes through the same code.
//
// encode(text, add_special) gives the ids HF's encode(text,
// add_special_tokens=add_special) gives; decode(ids) is HF's decode(ids,
// skip_special_tokens=false). "truncation" and "padding" are not applied:
// the caller cuts and pads (HF applies them inside encode).
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ralm/model.hpp"

namespace ralm::hf {

class Pipeline;

class HfTokenizer final : public Tokenizer {
 public:
  explicit HfTokenizer(std::unique_ptr<Pipeline> pipeline);
  ~HfTokenizer() override;

  Tokens encode(std::string_view text, bool add_special) const override;
  std::string decode(std::span<const TokenId> ids) const override;
  std::string piece(TokenId id) const override;
  std::int32_t vocab_size() const override;
  // BOS: the special token the post-processor puts before a sequence
  // (Llama's <s>, Llama 3's <|begin_of_text|>, BERT's [CLS]); without one,
  // the first added special token named <s>, <|begin_of_text|>,
  // <|startoftext|>, <bos>, [CLS] or <|endoftext|>. EOS: the special token
  // the post-processor puts after a sequence (BERT's [SEP]); without one,
  // the first added special token named </s>, <|end_of_text|>,
  // <|endoftext|>, <|im_end|>, <eos> or [SEP]. -1 where there is none.
  // set_special_ids() replaces them (a checkpoint's config.json decides).
  TokenId bos() const override;
  TokenId eos() const override;
  // An added token (special or not) by its content.
  std::optional<TokenId> special(std::string_view name) const override;

  void set_special_ids(std::optional<TokenId> bos, std::optional<TokenId> eos);
  // "BPE byte-level", "BPE byte-fallback", "BPE", "WordPiece", "WordLevel".
  std::string kind() const;
  // padding.pad_id when the file sets padding, else the added token [PAD],
  // <pad> or <|pad|>.
  std::optional<TokenId> pad_id() const;
  // The special tokens the post-processor puts before and after one
  // sequence (BERT: [CLS] and [SEP]); nullopt where it puts none.
  std::optional<TokenId> cls_id() const;
  std::optional<TokenId> sep_id() const;
  // truncation.max_length when the file sets truncation.
  std::optional<std::int32_t> truncation_max_length() const;

 private:
  std::unique_ptr<Pipeline> pipeline_;
  TokenId bos_ = -1, eos_ = -1;
};

// The tokenizer a tokenizer.json describes; InputError naming the file and
// the JSON field it cannot use.
std::unique_ptr<Tokenizer> load_tokenizer_json(const std::filesystem::path& file);
// The same from the file's text; `source` names it in errors.
std::unique_ptr<Tokenizer> parse_tokenizer_json(std::string_view json_text, const std::string& source);

// GGUF's "gpt2" tokenizer model: byte-level BPE.
struct GgufBpeVocab {
  std::vector<std::string> tokens;        // tokenizer.ggml.tokens
  std::vector<std::string> merges;        // tokenizer.ggml.merges, "a b"
  std::vector<std::int32_t> token_types;  // tokenizer.ggml.token_type (3 control, 4 user-defined)
  // tokenizer.ggml.pre, llama.cpp's name for the pre-tokeniser: "gpt2",
  // "default", "llama-bpe" / "llama3", "qwen2", "smollm". Anything else is an
  // InputError naming the key.
  std::string pre;
  std::optional<TokenId> bos, eos, pad;
  bool add_bos = false;  // tokenizer.ggml.add_bos_token
  bool add_eos = false;  // tokenizer.ggml.add_eos_token
};
std::unique_ptr<Tokenizer> make_gguf_bpe_tokenizer(const GgufBpeVocab& vocab, const std::string& source);

// The HF tokenizer behind a Tokenizer, or nullptr when it is another kind.
const HfTokenizer* as_hf_tokenizer(const Tokenizer& tokenizer);

}  // namespace ralm::hf
