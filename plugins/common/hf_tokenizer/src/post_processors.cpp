// The post-processors: what `add_special_tokens` puts around one sequence.
// TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel (offsets
// only, so no change to ids) and Sequence.
#include "components.hpp"

namespace ralm::hf {
namespace {

class TemplateProcessor final : public PostProcessor {
 public:
  // The single-sequence template: special tokens' ids, and an empty entry
  // where the sequence goes.
  explicit TemplateProcessor(std::vector<std::optional<Tokens>> items) : items_(std::move(items)) {}
  Tokens process(Tokens ids, bool add_special) const override {
    if (!add_special) return ids;
    Tokens out;
    for (const auto& item : items_) {
      if (item)
        out.insert(out.end(), item->begin(), item->end());
      else
        out.insert(out.end(), ids.begin(), ids.end());
    }
    return out;
  }
  std::optional<TokenId> first_special() const override {
    if (!items_.empty() && items_.front() && !items_.front()->empty()) return items_.front()->front();
    return std::nullopt;
  }
  std::optional<TokenId> last_special() const override {
    if (items_.size() > 1 && items_.back() && !items_.back()->empty()) return items_.back()->back();
    return std::nullopt;
  }

 private:
  std::vector<std::optional<Tokens>> items_;
};

class SequenceProcessor final : public PostProcessor {
 public:
  explicit SequenceProcessor(std::vector<std::unique_ptr<PostProcessor>> parts) : parts_(std::move(parts)) {}
  Tokens process(Tokens ids, bool add_special) const override {
    for (const auto& part : parts_)
      ids = part->process(std::move(ids), add_special);
    return ids;
  }
  std::optional<TokenId> first_special() const override {
    for (const auto& part : parts_) {
      if (const auto id = part->first_special()) return id;
    }
    return std::nullopt;
  }
  std::optional<TokenId> last_special() const override {
    for (auto it = parts_.rbegin(); it != parts_.rend(); ++it) {
      if (const auto id = (*it)->last_special()) return id;
    }
    return std::nullopt;
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> parts_;
};

class IdentityProcessor final : public PostProcessor {
 public:
  Tokens process(Tokens ids, bool) const override { return ids; }
  std::optional<TokenId> first_special() const override { return std::nullopt; }
  std::optional<TokenId> last_special() const override { return std::nullopt; }
};

// ["[SEP]", 102]: the id.
TokenId token_pair_id(const JsonField& field) {
  if (!field.value().is_array() || field.value().size() != 2) field.fail("must be [token, id]");
  return static_cast<TokenId>(field.at(std::size_t{1}).as_integer());
}

std::unique_ptr<PostProcessor> template_from_json(const JsonField& field) {
  const JsonField single = field.at("single");
  const JsonField specials = field.at("special_tokens");
  std::vector<std::optional<Tokens>> items;
  for (std::size_t i = 0; i < single.size(); ++i) {
    const JsonField item = single.at(i);
    if (item.has("Sequence")) {
      const JsonField sequence = item.at("Sequence");
      if (sequence.string("id") != "A") sequence.at("id").fail("a single-sequence template holds only $A");
      items.emplace_back(std::nullopt);
    } else if (item.has("SpecialToken")) {
      const JsonField special = item.at("SpecialToken");
      const std::string name = special.string("id");
      if (!specials.has(name)) special.at("id").fail("'" + name + "' is not in special_tokens");
      const JsonField ids = specials.at(name).at("ids");
      Tokens t;
      for (std::size_t k = 0; k < ids.size(); ++k)
        t.push_back(static_cast<TokenId>(ids.at(k).as_integer()));
      items.emplace_back(std::move(t));
    } else {
      item.fail("must be {\"Sequence\": ...} or {\"SpecialToken\": ...}");
    }
  }
  return std::make_unique<TemplateProcessor>(std::move(items));
}

}  // namespace

std::unique_ptr<PostProcessor> post_processor_from_json(const JsonField& field) {
  const std::string type = field.type();
  if (type == "TemplateProcessing") return template_from_json(field);
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    const TokenId cls = token_pair_id(field.at("cls")), sep = token_pair_id(field.at("sep"));
    return std::make_unique<TemplateProcessor>(
        std::vector<std::optional<Tokens>>{Tokens{cls}, std::nullopt, Tokens{sep}});
  }
  if (type == "ByteLevel") return std::make_unique<IdentityProcessor>();
  if (type == "Sequence") {
    return std::make_unique<SequenceProcessor>(read_each(field.at("processors"), post_processor_from_json));
  }
  field.unsupported_type("TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, Sequence");
}

}  // namespace ralm::hf
