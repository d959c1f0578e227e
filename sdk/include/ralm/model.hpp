// The Model interface: a tokenizer plus sequences that own their KV cache.
//
// The shape follows llama.cpp's sequence API rather than Hugging Face's
// `generate`: the engine keeps a Sequence per request, evaluates only the
// tokens that are new, truncates the cache to roll back (speculation) or to
// cut back to the end of the input (FlashBack), and clones a sequence to
// checkpoint it. Greedy decoding must be bit-for-bit deterministic for a given
// thread count, and a batched call must give the same bits as single calls:
// speculation's "identical output" guarantee rests on both.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ralm/component.hpp"
#include "ralm/types.hpp"

namespace ralm {

class Tokenizer {
 public:
  virtual ~Tokenizer();

  // Text to ids. `add_bos` prepends the beginning-of-sequence id.
  virtual Tokens encode(std::string_view text, bool add_bos) const = 0;
  // Ids to text, the inverse of encode for the ids it produces.
  virtual std::string decode(std::span<const TokenId> ids) const = 0;
  // The piece one id stands for, as the vocabulary spells it.
  virtual std::string piece(TokenId id) const = 0;
  virtual std::int32_t vocab_size() const = 0;
  virtual TokenId bos() const = 0;
  virtual TokenId eos() const = 0;
  // The id of an added special token ("<MARK_L>"), if the vocabulary has it.
  virtual std::optional<TokenId> special(std::string_view name) const = 0;
};

struct ModelInfo {
  std::string architecture;  // "llama"
  std::int32_t vocab_size = 0;
  std::int32_t context_length = 0;  // the most tokens a sequence can hold
  std::int32_t hidden_size = 0;
  std::int32_t num_layers = 0;
  std::int32_t key_dim = 0;  // width of the kNN-LM key vectors
  std::int64_t parameters = 0;
  std::int64_t kv_bytes_per_token = 0;
  // Everything else a person checking a checkpoint wants to see, as the
  // plugin names it, in the order it chooses ("heads" "32", "rope base"
  // "500000", "weights in memory" "f32", ...). `ralm model info` prints these.
  std::vector<std::pair<std::string, std::string>> details;
};

// What Model::save writes.
struct SaveOptions {
  // Fold the active adapter into the saved weights (a standalone checkpoint
  // giving the logits the model gives now); otherwise save the base model.
  bool merge_active_adapter = false;
  // Replace an existing folder or file; otherwise an existing one is an
  // InputError.
  bool overwrite = false;
  // The format written: empty for the plugin's own checkpoint folder, or a
  // single-file format the plugin offers ("gguf"). An unknown one is an
  // InputError.
  std::string format;
  // The weights' type in the saved file where the format offers several
  // ("f32", "f16", "bf16", "q8_0", "q4_0", "q4_k_m", ...); empty: the
  // format's default. An unknown one is an InputError listing the offered.
  std::string weight_type;
};

// One request's tokens and their KV cache.
class Sequence {
 public:
  virtual ~Sequence();

  // Number of tokens whose keys and values the cache holds.
  virtual std::int32_t length() const = 0;
  // The tokens the cache holds, in order.
  virtual const Tokens& tokens() const = 0;
  // Keeps the first n tokens and forgets the rest (n <= length()).
  virtual void truncate(std::int32_t n) = 0;
  // An independent copy: evaluating one does not change the other.
  virtual std::unique_ptr<Sequence> clone() const = 0;
};

struct EvalOptions {
  // Logits for the last new position only, or for every new position.
  bool all_logits = false;
  // The kNN-LM keys (the input of the last layer's feed-forward block, after
  // its norm) for every new position.
  bool keys = false;
  // The final hidden states (after the final norm) for every new position.
  bool hidden = false;
};

// Row-major results of one evaluation. `rows` is 1 for last-position logits,
// or the number of new tokens.
struct EvalResult {
  std::int32_t rows = 0;
  std::vector<float> logits;  // rows x vocab_size
  std::vector<float> keys;    // new tokens x key_dim, when asked
  std::vector<float> hidden;  // new tokens x hidden_size, when asked
};

class Model : public Component {
 public:
  static constexpr const char* kKind = "model";
  ~Model() override;

  virtual const Tokenizer& tokenizer() const = 0;
  virtual ModelInfo info() const = 0;
  virtual std::unique_ptr<Sequence> new_sequence() = 0;

  // Appends `tokens` to the sequence, computing their keys and values, and
  // returns what `options` asks for.
  virtual EvalResult eval(Sequence& seq, std::span<const TokenId> tokens, const EvalOptions& options) = 0;

  // Several sequences in one call, results in the same order. The result for
  // each sequence must be bit-identical to eval() on it alone. The default
  // evaluates them one at a time.
  virtual std::vector<EvalResult> eval_batch(std::span<Sequence* const> seqs,
                                             std::span<const std::span<const TokenId>> tokens,
                                             const EvalOptions& options);

  // Adds a special token with its own embedding and output rows and returns
  // its id; an existing one returns its id. Models that cannot grow their
  // vocabulary throw InputError (the default).
  virtual TokenId add_special_token(std::string_view name);

  // LoRA: loads an adapter under a name, and chooses the active one (an empty
  // name: none). Models without adapters throw InputError (the default).
  virtual void load_adapter(const std::string& name, const std::filesystem::path& dir);
  virtual void set_active_adapter(const std::string& name);

  // Writes the model as a checkpoint folder its plugin loads again (for
  // `llama`: a Hugging Face folder), complete or not at all. Models that
  // cannot save throw InputError (the default).
  virtual void save(const std::filesystem::path& dir, const SaveOptions& options);
};

}  // namespace ralm
