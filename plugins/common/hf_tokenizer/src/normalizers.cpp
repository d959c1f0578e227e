// The normalisers: Sequence, NFC, NFD, NFKC, NFKD, Lowercase, Strip,
// StripAccents, Replace, Prepend and BertNormalizer, as HF defines them.
#include <functional>

#include "components.hpp"
#include "regex.hpp"
#include "string_pattern.hpp"
#include "unicode.hpp"

namespace ralm::hf {
namespace {

// Keeps the characters `keep` accepts, each replaced by `map`.
std::string filter_map(std::string_view text, const std::function<bool(char32_t)>& keep,
                       const std::function<char32_t(char32_t)>& map) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t pos = 0; pos < text.size();) {
    const char32_t c = next_code_point(text, pos);
    if (keep(c)) append_utf8(out, map(c));
  }
  return out;
}

std::string strip_accents(std::string_view text) {
  return filter_map(
      normalize(text, NormalForm::nfd), [](char32_t c) { return !is_mark_nonspacing(c); },
      [](char32_t c) { return c; });
}

class SequenceNormalizer final : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> parts) : parts_(std::move(parts)) {}
  std::string normalize(std::string_view text) const override {
    std::string s(text);
    for (const auto& part : parts_)
      s = part->normalize(s);
    return s;
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

class UnicodeNormalizer final : public Normalizer {
 public:
  explicit UnicodeNormalizer(NormalForm form) : form_(form) {}
  std::string normalize(std::string_view text) const override { return hf::normalize(text, form_); }

 private:
  NormalForm form_;
};

class LowercaseNormalizer final : public Normalizer {
 public:
  std::string normalize(std::string_view text) const override { return lowercase(text); }
};

class StripAccentsNormalizer final : public Normalizer {
 public:
  // HF's StripAccents drops nonspacing marks without decomposing first; a
  // tokenizer.json puts NFD before it when it wants accents off letters.
  std::string normalize(std::string_view text) const override {
    return filter_map(
        text, [](char32_t c) { return !is_mark_nonspacing(c); }, [](char32_t c) { return c; });
  }
};

class StripNormalizer final : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  std::string normalize(std::string_view text) const override {
    std::size_t begin = 0, end = text.size();
    if (left_) {
      while (begin < end) {
        std::size_t next = begin;
        if (!is_whitespace(next_code_point(text, next))) break;
        begin = next;
      }
    }
    if (right_) {
      while (end > begin) {
        std::size_t start = end - 1;
        while (start > begin && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80)
          --start;
        std::size_t probe = start;
        if (!is_whitespace(next_code_point(text, probe))) break;
        end = start;
      }
    }
    return std::string(text.substr(begin, end - begin));
  }

 private:
  bool left_, right_;
};

class ReplaceNormalizer final : public Normalizer {
 public:
  ReplaceNormalizer(StringPattern pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  std::string normalize(std::string_view text) const override { return pattern_.replace_all(text, content_); }

 private:
  StringPattern pattern_;
  std::string content_;
};

class PrependNormalizer final : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
  // HF prepends only to a non-empty string.
  std::string normalize(std::string_view text) const override {
    return text.empty() ? std::string() : prefix_ + std::string(text);
  }

 private:
  std::string prefix_;
};

bool is_chinese_char(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

class BertNormalizer final : public Normalizer {
 public:
  BertNormalizer(bool clean_text, bool chinese, bool strip_accents, bool lowercase)
      : clean_text_(clean_text), chinese_(chinese), strip_accents_(strip_accents), lowercase_(lowercase) {}
  std::string normalize(std::string_view text) const override {
    std::string s(text);
    if (clean_text_) {
      s = filter_map(
          s,
          [](char32_t c) {
            const bool control = c != '\t' && c != '\n' && c != '\r' && is_other(c);
            return !(c == 0 || c == 0xFFFD || control);
          },
          [](char32_t c) { return c == '\t' || c == '\n' || c == '\r' || is_whitespace(c) ? U' ' : c; });
    }
    if (chinese_) {
      std::string out;
      out.reserve(s.size());
      for (std::size_t pos = 0; pos < s.size();) {
        const char32_t c = next_code_point(s, pos);
        if (is_chinese_char(c)) {
          out.push_back(' ');
          append_utf8(out, c);
          out.push_back(' ');
        } else {
          append_utf8(out, c);
        }
      }
      s = std::move(out);
    }
    if (strip_accents_) s = strip_accents(s);
    if (lowercase_) s = lowercase(s);
    return s;
  }

 private:
  bool clean_text_, chinese_, strip_accents_, lowercase_;
};

}  // namespace

std::unique_ptr<Normalizer> normalizer_from_json(const JsonField& field) {
  const std::string type = field.type();
  if (type == "Sequence") {
    return std::make_unique<SequenceNormalizer>(read_each(field.at("normalizers"), normalizer_from_json));
  }
  if (type == "NFC") return std::make_unique<UnicodeNormalizer>(NormalForm::nfc);
  if (type == "NFD") return std::make_unique<UnicodeNormalizer>(NormalForm::nfd);
  if (type == "NFKC") return std::make_unique<UnicodeNormalizer>(NormalForm::nfkc);
  if (type == "NFKD") return std::make_unique<UnicodeNormalizer>(NormalForm::nfkd);
  if (type == "Lowercase") return std::make_unique<LowercaseNormalizer>();
  if (type == "StripAccents") return std::make_unique<StripAccentsNormalizer>();
  if (type == "Strip")
    return std::make_unique<StripNormalizer>(field.boolean_or("strip_left", true),
                                             field.boolean_or("strip_right", true));
  if (type == "Replace")
    return std::make_unique<ReplaceNormalizer>(StringPattern::from_json(field.at("pattern")),
                                               field.string("content"));
  if (type == "Prepend") return std::make_unique<PrependNormalizer>(field.string("prepend"));
  if (type == "BertNormalizer") {
    const bool lower = field.boolean_or("lowercase", true);
    return std::make_unique<BertNormalizer>(field.boolean_or("clean_text", true),
                                            field.boolean_or("handle_chinese_chars", true),
                                            field.optional_boolean("strip_accents").value_or(lower), lower);
  }
  field.unsupported_type(
      "Sequence, NFC, NFD, NFKC, NFKD, Lowercase, Strip, StripAccents, Replace, Prepend, BertNormalizer");
}

}  // namespace ralm::hf
