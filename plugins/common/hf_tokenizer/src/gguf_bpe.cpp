// GGUF's "gpt2" tokenizer as the tokenizer.json a Hugging Face checkpoint of
// that family has: the same engine reads both. tokenizer.ggml.pre (llama.cpp's
// name for the pre-tokeniser) chooses the split pattern.
#include <nlohmann/json.hpp>

#include "ralm/error.hpp"
#include "ralm/hf_tokenizer/hf_tokenizer.hpp"

namespace ralm::hf {
namespace {

using nlohmann::json;

constexpr const char* kLlama3Split =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kQwen2Split =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

json byte_level(bool use_regex) {
  return {
      {"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", use_regex}};
}

json split_then_bytes(const char* pattern) {
  return {{"type", "Sequence"},
          {"pretokenizers", json::array({{{"type", "Split"},
                                          {"pattern", {{"Regex", pattern}}},
                                          {"behavior", "Isolated"},
                                          {"invert", false}},
                                         byte_level(false)})}};
}

// The pre-tokeniser of each tokenizer.ggml.pre ralm knows, as the
// checkpoints' tokenizer.json has it; whether the model ignores merges for
// whole-token words (Llama 3 does).
std::pair<json, bool> pre_tokenizer_for(const std::string& pre, const std::string& source) {
  if (pre == "gpt2") return {byte_level(true), false};
  if (pre == "llama-bpe" || pre == "llama3") return {split_then_bytes(kLlama3Split), true};
  if (pre == "qwen2") return {split_then_bytes(kQwen2Split), false};
  if (pre == "smollm")
    return {{{"type", "Sequence"},
             {"pretokenizers",
              json::array({{{"type", "Digits"}, {"individual_digits", true}}, byte_level(true)})}},
            false};
  throw InputError(
      source + ": tokenizer.ggml.pre '" + pre +
      "' is not a pre-tokenizer ralm knows (gpt2, llama-bpe, llama3, qwen2, smollm); convert the checkpoint "
      "with its tokenizer.json instead");
}

constexpr std::int32_t kControl = 3, kUserDefined = 4;

}  // namespace

std::unique_ptr<Tokenizer> make_gguf_bpe_tokenizer(const GgufBpeVocab& vocab, const std::string& source) {
  if (!vocab.token_types.empty() && vocab.token_types.size() != vocab.tokens.size()) {
    throw InputError(source + ": tokenizer.ggml.token_type has " + std::to_string(vocab.token_types.size()) +
                     " entries but tokenizer.ggml.tokens " + std::to_string(vocab.tokens.size()));
  }
  auto [pre_tokenizer, ignore_merges] = pre_tokenizer_for(vocab.pre, source);
  json tokens = json::object();
  json added = json::array();
  for (std::size_t id = 0; id < vocab.tokens.size(); ++id) {
    tokens[vocab.tokens[id]] = id;
    const std::int32_t type = vocab.token_types.empty() ? 1 : vocab.token_types[id];
    if (type == kControl || type == kUserDefined) {
      added.push_back({{"id", id},
                       {"content", vocab.tokens[id]},
                       {"single_word", false},
                       {"lstrip", false},
                       {"rstrip", false},
                       {"normalized", false},
                       {"special", type == kControl}});
    }
  }
  json doc = {{"added_tokens", added},
              {"normalizer", nullptr},
              {"pre_tokenizer", pre_tokenizer},
              {"decoder", byte_level(true)},
              {"model",
               {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", nullptr},
                {"ignore_merges", ignore_merges},
                {"vocab", tokens},
                {"merges", vocab.merges}}}};
  json single = json::array();
  json specials = json::object();
  const auto add_special = [&](const std::optional<TokenId>& id, const char* key) {
    if (!id || *id < 0 || static_cast<std::size_t>(*id) >= vocab.tokens.size())
      throw InputError(source + ": tokenizer.ggml." + key +
                       " asks for the token, but its id is missing or out of range");
    const std::string& name = vocab.tokens[static_cast<std::size_t>(*id)];
    single.push_back({{"SpecialToken", {{"id", name}, {"type_id", 0}}}});
    specials[name] = {{"id", name}, {"ids", {*id}}, {"tokens", {name}}};
  };
  if (vocab.add_bos) add_special(vocab.bos, "add_bos_token");
  single.push_back({{"Sequence", {{"id", "A"}, {"type_id", 0}}}});
  if (vocab.add_eos) add_special(vocab.eos, "add_eos_token");
  if (vocab.add_bos || vocab.add_eos)
    doc["post_processor"] = {
        {"type", "TemplateProcessing"}, {"single", single}, {"special_tokens", specials}};
  if (vocab.pad) doc["padding"] = {{"pad_id", *vocab.pad}};
  auto tokenizer = parse_tokenizer_json(doc.dump(), source);
  auto* hf = const_cast<HfTokenizer*>(as_hf_tokenizer(*tokenizer));
  hf->set_special_ids(vocab.bos, vocab.eos);
  return tokenizer;
}

}  // namespace ralm::hf
