// tokenizer.json to a Pipeline: the document's top-level fields, its added
// tokens, and each stage through its component's reader.
#include <fstream>
#include <sstream>

#include "bpe_model.hpp"
#include "pipeline.hpp"
#include "ralm/error.hpp"
#include "ralm/hf_tokenizer/hf_tokenizer.hpp"

namespace ralm::hf {
namespace {

// Whether a ByteLevel pre-tokeniser is in `field` (a Sequence's too).
bool has_byte_level(const nlohmann::json& pre_tokenizer) {
  if (!pre_tokenizer.is_object()) return false;
  if (pre_tokenizer.value("type", "") == "ByteLevel") return true;
  if (pre_tokenizer.contains("pretokenizers") && pre_tokenizer["pretokenizers"].is_array()) {
    for (const auto& part : pre_tokenizer["pretokenizers"])
      if (has_byte_level(part)) return true;
  }
  return false;
}

AddedToken added_token_from_json(const JsonField& field) {
  AddedToken t;
  const std::int64_t id = field.integer("id");
  if (id < 0 || id >= (std::int64_t{1} << 31)) field.at("id").fail("must be a non-negative id");
  t.id = static_cast<TokenId>(id);
  t.content = field.string("content");
  if (t.content.empty()) field.at("content").fail("must not be empty");
  t.single_word = field.boolean_or("single_word", false);
  t.lstrip = field.boolean_or("lstrip", false);
  t.rstrip = field.boolean_or("rstrip", false);
  t.special = field.boolean_or("special", false);
  t.normalized = field.boolean_or("normalized", !t.special);
  return t;
}

}  // namespace

std::unique_ptr<Tokenizer> parse_tokenizer_json(std::string_view json_text, const std::string& source) {
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::parse_error& e) {
    throw InputError(source + ": not valid JSON (" + e.what() +
                     "); give the tokenizer.json a Hugging Face tokenizer saved");
  }
  const JsonField root(doc, "", source);
  if (!doc.is_object()) root.fail("must be a JSON object (a Hugging Face tokenizer.json)");
  auto pipeline = std::make_unique<Pipeline>();
  if (!root.is_null_or_absent("normalizer"))
    pipeline->normalizer = normalizer_from_json(root.at("normalizer"));
  if (!root.is_null_or_absent("pre_tokenizer"))
    pipeline->pre_tokenizer = pre_tokenizer_from_json(root.at("pre_tokenizer"));
  pipeline->model = model_from_json(root.at("model"));
  if (auto* bpe = dynamic_cast<BpeModel*>(pipeline->model.get()))
    bpe->set_byte_level(has_byte_level(doc.value("pre_tokenizer", nlohmann::json())));
  if (!root.is_null_or_absent("post_processor"))
    pipeline->post_processor = post_processor_from_json(root.at("post_processor"));
  if (!root.is_null_or_absent("decoder")) pipeline->decoder = decoder_from_json(root.at("decoder"));
  if (!root.is_null_or_absent("added_tokens")) {
    const JsonField list = root.at("added_tokens");
    for (std::size_t i = 0; i < list.size(); ++i)
      pipeline->added_tokens.push_back(added_token_from_json(list.at(i)));
  }
  if (!root.is_null_or_absent("padding")) {
    const JsonField padding = root.at("padding");
    pipeline->padding_id = static_cast<TokenId>(padding.integer_or("pad_id", 0));
  }
  if (!root.is_null_or_absent("truncation")) {
    const JsonField truncation = root.at("truncation");
    pipeline->truncation_max_length = static_cast<std::int32_t>(truncation.integer("max_length"));
  }
  pipeline->finish();
  return std::make_unique<HfTokenizer>(std::move(pipeline));
}

std::unique_ptr<Tokenizer> load_tokenizer_json(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError(file.string() + ": cannot read the tokenizer file");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_tokenizer_json(text.str(), file.string());
}

}  // namespace ralm::hf
