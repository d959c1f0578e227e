#include "ralm/llama_format/added_tokens.hpp"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "ralm/error.hpp"
#include "ralm/llama_format/tokenizers.hpp"
#include "ralm/staging_directory.hpp"

namespace ralm::llama {

using nlohmann::json;

AddedTokensTokenizer::AddedTokensTokenizer(std::unique_ptr<Tokenizer> base, std::int32_t vocab_size)
    : base_(std::move(base)), vocab_(std::max(vocab_size, base_->vocab_size())) {}

void AddedTokensTokenizer::add(std::string content, TokenId id) {
  if (content.empty()) throw InputError("an added token needs a non-empty spelling");
  for (const auto& a : added_) {
    if (a.content == content || a.id == id)
      throw InputError("added token " + content + " (id " + std::to_string(id) + ") clashes with " +
                       a.content + " (id " + std::to_string(a.id) + ")");
  }
  added_.push_back({std::move(content), id});
  vocab_ = std::max(vocab_, id + 1);
}

const AddedToken* AddedTokensTokenizer::find(TokenId id) const {
  for (const auto& a : added_)
    if (a.id == id) return &a;
  return nullptr;
}

std::optional<TokenId> AddedTokensTokenizer::special(std::string_view name) const {
  for (const auto& a : added_)
    if (a.content == name) return a.id;
  return base_->special(name);
}

std::string AddedTokensTokenizer::piece(TokenId id) const {
  if (const auto* a = find(id)) return a->content;
  return base_->piece(id);
}

Tokens AddedTokensTokenizer::encode(std::string_view text, bool add_bos) const {
  if (added_.empty()) return base_->encode(text, add_bos);
  Tokens out;
  if (add_bos) out.push_back(bos());
  std::size_t pos = 0;
  while (pos <= text.size()) {
    // The earliest added token from pos; the longest at the same place.
    std::size_t best = std::string_view::npos;
    const AddedToken* hit = nullptr;
    for (const auto& a : added_) {
      const std::size_t at = text.find(a.content, pos);
      if (at != std::string_view::npos &&
          (at < best || (at == best && a.content.size() > hit->content.size()))) {
        best = at;
        hit = &a;
      }
    }
    const std::size_t end = hit ? best : text.size();
    if (end > pos) {
      const Tokens part = base_->encode(text.substr(pos, end - pos), false);
      out.insert(out.end(), part.begin(), part.end());
    }
    if (!hit) break;
    out.push_back(hit->id);
    pos = best + hit->content.size();
  }
  return out;
}

std::string AddedTokensTokenizer::decode(std::span<const TokenId> ids) const {
  if (added_.empty()) return base_->decode(ids);
  std::string out;
  std::size_t run = 0;  // start of the current run of base ids
  for (std::size_t i = 0; i <= ids.size(); ++i) {
    const AddedToken* a = i < ids.size() ? find(ids[i]) : nullptr;
    if (i == ids.size() || a) {
      if (i > run) out += base_->decode(ids.subspan(run, i - run));
      if (a) out += a->content;
      run = i + 1;
    }
  }
  return out;
}

namespace {

json read_json(const std::filesystem::path& file) {
  std::ifstream in(file);
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw InputError(file.string() + ": not valid JSON: " + e.what());
  }
}

}  // namespace

std::vector<AddedToken> read_added_tokens(const std::filesystem::path& dir, const Tokenizer& base) {
  std::vector<AddedToken> found;
  const auto config = dir / "tokenizer_config.json", legacy = dir / "added_tokens.json";
  std::filesystem::path source;
  try {
    if (std::filesystem::exists(config)) {
      const json j = read_json(config);
      if (j.contains("added_tokens_decoder") && j["added_tokens_decoder"].is_object()) {
        source = config;
        for (const auto& [key, entry] : j["added_tokens_decoder"].items())
          found.push_back({entry.at("content").get<std::string>(), std::stoi(key)});
      }
    }
    if (source.empty() && std::filesystem::exists(legacy)) {
      source = legacy;
      const json j = read_json(legacy);
      if (!j.is_object()) throw InputError(legacy.string() + ": expected an object {\"<token>\": id, ...}");
      for (const auto& [content, id] : j.items())
        found.push_back({content, id.get<TokenId>()});
    }
  } catch (const json::exception& e) {
    throw InputError(source.string() + ": malformed added tokens: " + e.what());
  } catch (const std::logic_error& e) {  // std::stoi on a key that is not a number
    throw InputError(config.string() + ": added_tokens_decoder has a key that is not a token id");
  }
  std::erase_if(found, [&](const AddedToken& a) { return base.special(a.content) == a.id; });
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  for (const auto& a : found) {
    if (a.id < 0) throw InputError(source.string() + ": added token " + a.content + " has a negative id");
  }
  return found;
}

void write_tokenizer_files(const std::filesystem::path& dir, const Tokenizer& base,
                           const std::vector<AddedToken>& added) {
  json decoder = json::object(), legacy = json::object(), specials = json::array();
  auto entry = [](const std::string& content) {
    return json{{"content", content}, {"lstrip", false},      {"normalized", false},
                {"rstrip", false},    {"single_word", false}, {"special", true}};
  };
  const TokenId unk = 0;
  for (TokenId id : {unk, base.bos(), base.eos()}) {
    const std::string p = base.piece(id);
    if (base.special(p) == id) decoder[std::to_string(id)] = entry(p);
  }
  for (const auto& a : added) {
    decoder[std::to_string(a.id)] = entry(a.content);
    legacy[a.content] = a.id;
    specials.push_back(a.content);
  }
  const bool sentencepiece = sentencepiece_model_proto(base).has_value();
  json config = {{"added_tokens_decoder", decoder},
                 {"additional_special_tokens", specials},
                 {"add_bos_token", true},
                 {"add_eos_token", false},
                 {"bos_token", base.piece(base.bos())},
                 {"eos_token", base.piece(base.eos())},
                 {"clean_up_tokenization_spaces", false},
                 {"legacy", true},
                 {"model_max_length", 1000000000000000019884624838656.0},
                 {"sp_model_kwargs", json::object()}};
  if (sentencepiece) {
    config["tokenizer_class"] = "LlamaTokenizer";
    config["unk_token"] = base.piece(unk);
  }
  json map = {{"additional_special_tokens", specials},
              {"bos_token", base.piece(base.bos())},
              {"eos_token", base.piece(base.eos())}};
  auto write = [&](const char* name, const std::string& text) {
    write_file_atomically(dir / name, [&](std::ostream& out) { out << text; });
  };
  write("tokenizer_config.json", config.dump(2) + "\n");
  write("added_tokens.json", legacy.dump(2) + "\n");
  write("special_tokens_map.json", map.dump(2) + "\n");
  if (const auto proto = sentencepiece_model_proto(base)) write("tokenizer.model", *proto);
}

}  // namespace ralm::llama
