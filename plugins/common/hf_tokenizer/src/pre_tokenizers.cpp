// The pre-tokenisers: Sequence, ByteLevel, Split, Metaspace,
// BertPreTokenizer, Whitespace, WhitespaceSplit, Digits, Punctuation, with
// HF's five ways of splitting on a pattern.
#include <functional>

#include "components.hpp"
#include "regex.hpp"
#include "string_pattern.hpp"
#include "unicode.hpp"

namespace ralm::hf {
namespace {

enum class Behavior { removed, isolated, merged_with_previous, merged_with_next, contiguous };

Behavior behavior_from_json(const JsonField& field) {
  const std::string name = field.as_string();
  if (name == "Removed") return Behavior::removed;
  if (name == "Isolated") return Behavior::isolated;
  if (name == "MergedWithPrevious") return Behavior::merged_with_previous;
  if (name == "MergedWithNext") return Behavior::merged_with_next;
  if (name == "Contiguous") return Behavior::contiguous;
  field.fail("'" + name +
             "' is not a split behavior (Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous)");
}

struct Part {
  std::size_t begin, end;
  bool is_match;
};

// The whole text as alternating matched and unmatched parts (HF's
// Pattern::find_matches), from the matches' byte ranges.
std::vector<Part> cover(std::size_t length, const std::vector<std::pair<std::size_t, std::size_t>>& matches,
                        bool invert) {
  std::vector<Part> parts;
  std::size_t done = 0;
  for (const auto& [b, e] : matches) {
    if (done < b) parts.push_back({done, b, invert});
    parts.push_back({b, e, !invert});
    done = e;
  }
  if (done < length) parts.push_back({done, length, invert});
  return parts;
}

// Each character `is_delimiter` accepts as a match of its own.
std::vector<std::pair<std::size_t, std::size_t>> char_matches(
    std::string_view text, const std::function<bool(char32_t)>& is_delimiter) {
  std::vector<std::pair<std::size_t, std::size_t>> out;
  for (std::size_t pos = 0; pos < text.size();) {
    const std::size_t start = pos;
    if (is_delimiter(next_code_point(text, pos))) out.emplace_back(start, pos);
  }
  return out;
}

// HF's NormalizedString::split: what each behaviour keeps and joins.
void split_into(const Piece& piece, std::vector<Part> parts, Behavior behavior, std::vector<Piece>& out) {
  std::vector<Part> kept;  // is_match here means "remove"
  switch (behavior) {
    case Behavior::isolated:
      for (const Part& p : parts)
        kept.push_back({p.begin, p.end, false});
      break;
    case Behavior::removed:
      kept = std::move(parts);
      break;
    case Behavior::contiguous: {
      bool previous = false;
      for (const Part& p : parts) {
        if (p.is_match == previous && !kept.empty())
          kept.back().end = p.end;
        else
          kept.push_back({p.begin, p.end, false});
        previous = p.is_match;
      }
      break;
    }
    case Behavior::merged_with_previous: {
      bool previous = false;
      for (const Part& p : parts) {
        if (p.is_match && !previous && !kept.empty())
          kept.back().end = p.end;
        else
          kept.push_back({p.begin, p.end, false});
        previous = p.is_match;
      }
      break;
    }
    case Behavior::merged_with_next: {
      bool previous = false;
      for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
        if (it->is_match && !previous && !kept.empty())
          kept.back().begin = it->begin;
        else
          kept.push_back({it->begin, it->end, false});
        previous = it->is_match;
      }
      std::reverse(kept.begin(), kept.end());
      break;
    }
  }
  for (const Part& p : kept) {
    if (p.is_match || p.end == p.begin) continue;
    out.push_back(
        {piece.text.substr(p.begin, p.end - p.begin), piece.at_origin && p.begin == 0, std::nullopt});
  }
}

// Applies `split` to each piece that holds no id yet.
void split_pieces(std::vector<Piece>& pieces,
                  const std::function<void(const Piece&, std::vector<Piece>&)>& split) {
  std::vector<Piece> out;
  out.reserve(pieces.size());
  for (Piece& piece : pieces) {
    if (piece.id)
      out.push_back(std::move(piece));
    else
      split(piece, out);
  }
  pieces = std::move(out);
}

void split_on_chars(std::vector<Piece>& pieces, const std::function<bool(char32_t)>& is_delimiter,
                    Behavior behavior) {
  split_pieces(pieces, [&](const Piece& piece, std::vector<Piece>& out) {
    split_into(piece, cover(piece.text.size(), char_matches(piece.text, is_delimiter), false), behavior, out);
  });
}

bool is_bert_punctuation(char32_t c) {
  return is_ascii_punctuation(c) || is_punctuation(c);
}

constexpr const char* kGpt2Split =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class SequencePreTokenizer final : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> parts)
      : parts_(std::move(parts)) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    for (const auto& part : parts_)
      part->pre_tokenize(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

class ByteLevelPreTokenizer final : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex, const std::string& where)
      : add_prefix_space_(add_prefix_space) {
    if (use_regex) regex_.emplace(kGpt2Split, where);
  }
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    split_pieces(pieces, [&](const Piece& piece, std::vector<Piece>& out) {
      Piece p = piece;
      if (add_prefix_space_ && (p.text.empty() || p.text[0] != ' ')) p.text.insert(0, 1, ' ');
      if (regex_)
        split_into(p, cover(p.text.size(), regex_->find_all(p.text), false), Behavior::isolated, out);
      else if (!p.text.empty())
        out.push_back(std::move(p));
    });
    const auto& chars = byte_level_chars();
    for (Piece& piece : pieces) {
      if (piece.id) continue;
      std::string mapped;
      mapped.reserve(piece.text.size() * 2);
      for (unsigned char b : piece.text)
        mapped += chars[b];
      piece.text = std::move(mapped);
    }
  }

 private:
  bool add_prefix_space_;
  std::optional<Regex> regex_;
};

class SplitPreTokenizer final : public PreTokenizer {
 public:
  SplitPreTokenizer(StringPattern pattern, Behavior behavior, bool invert)
      : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    split_pieces(pieces, [&](const Piece& piece, std::vector<Piece>& out) {
      split_into(piece, cover(piece.text.size(), pattern_.find_all(piece.text), invert_), behavior_, out);
    });
  }

 private:
  StringPattern pattern_;
  Behavior behavior_;
  bool invert_;
};

enum class PrependScheme { first, always, never };

class MetaspacePreTokenizer final : public PreTokenizer {
 public:
  MetaspacePreTokenizer(std::string replacement, PrependScheme scheme, bool split)
      : replacement_(std::move(replacement)), scheme_(scheme), split_(split) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    const StringPattern space = StringPattern::literal(" ");
    split_pieces(pieces, [&](const Piece& piece, std::vector<Piece>& out) {
      Piece p{space.replace_all(piece.text, replacement_), piece.at_origin, std::nullopt};
      const bool starts = p.text.starts_with(replacement_);
      if (!starts && (scheme_ == PrependScheme::always || (scheme_ == PrependScheme::first && p.at_origin)))
        p.text.insert(0, replacement_);
      if (split_) {
        const auto matches = StringPattern::literal(replacement_).find_all(p.text);
        split_into(p, cover(p.text.size(), matches, false), Behavior::merged_with_next, out);
      } else if (!p.text.empty()) {
        out.push_back(std::move(p));
      }
    });
  }

 private:
  std::string replacement_;
  PrependScheme scheme_;
  bool split_;
};

class BertPreTokenizer final : public PreTokenizer {
 public:
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    split_on_chars(pieces, is_whitespace, Behavior::removed);
    split_on_chars(pieces, is_bert_punctuation, Behavior::isolated);
  }
};

// HF's Whitespace: the matches of \w+|[^\w\s]+ (Rust's Unicode classes).
class WhitespacePreTokenizer final : public PreTokenizer {
 public:
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    split_pieces(pieces, [&](const Piece& piece, std::vector<Piece>& out) {
      const std::string_view text = piece.text;
      std::size_t pos = 0;
      while (pos < text.size()) {
        const std::size_t start = pos;
        std::size_t next = pos;
        const char32_t c = next_code_point(text, next);
        if (is_whitespace(c)) {
          pos = next;
          continue;
        }
        const bool word = is_alphabetic_word(c);
        pos = next;
        while (pos < text.size()) {
          std::size_t after = pos;
          const char32_t d = next_code_point(text, after);
          if (is_whitespace(d) || is_alphabetic_word(d) != word) break;
          pos = after;
        }
        out.push_back(
            {std::string(text.substr(start, pos - start)), piece.at_origin && start == 0, std::nullopt});
      }
    });
  }
};

class WhitespaceSplitPreTokenizer final : public PreTokenizer {
 public:
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    split_on_chars(pieces, is_whitespace, Behavior::removed);
  }
};

class DigitsPreTokenizer final : public PreTokenizer {
 public:
  explicit DigitsPreTokenizer(bool individual) : individual_(individual) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    split_on_chars(pieces, is_numeric, individual_ ? Behavior::isolated : Behavior::contiguous);
  }

 private:
  bool individual_;
};

class PunctuationPreTokenizer final : public PreTokenizer {
 public:
  explicit PunctuationPreTokenizer(Behavior behavior) : behavior_(behavior) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    split_on_chars(pieces, is_bert_punctuation, behavior_);
  }

 private:
  Behavior behavior_;
};

PrependScheme prepend_scheme_from_json(const JsonField& field) {
  if (!field.is_null_or_absent("prepend_scheme")) {
    const JsonField scheme = field.at("prepend_scheme");
    const std::string name = scheme.as_string();
    if (name == "first") return PrependScheme::first;
    if (name == "always") return PrependScheme::always;
    if (name == "never") return PrependScheme::never;
    scheme.fail("'" + name + "' is not a prepend scheme (first, always, never)");
  }
  // Files written before prepend_scheme existed say add_prefix_space.
  return field.boolean_or("add_prefix_space", true) ? PrependScheme::always : PrependScheme::never;
}

}  // namespace

const std::vector<std::string>& byte_level_chars() {
  static const std::vector<std::string> table = [] {
    std::vector<std::string> t(256);
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      append_utf8(t[static_cast<std::size_t>(b)], printable ? static_cast<char32_t>(b) : next++);
    }
    return t;
  }();
  return table;
}

std::unique_ptr<PreTokenizer> pre_tokenizer_from_json(const JsonField& field) {
  const std::string type = field.type();
  if (type == "Sequence") {
    return std::make_unique<SequencePreTokenizer>(
        read_each(field.at("pretokenizers"), pre_tokenizer_from_json));
  }
  if (type == "ByteLevel")
    return std::make_unique<ByteLevelPreTokenizer>(field.boolean_or("add_prefix_space", true),
                                                   field.boolean_or("use_regex", true),
                                                   field.source() + ": " + field.path());
  if (type == "Split")
    return std::make_unique<SplitPreTokenizer>(StringPattern::from_json(field.at("pattern")),
                                               behavior_from_json(field.at("behavior")),
                                               field.boolean_or("invert", false));
  if (type == "Metaspace") {
    const JsonField replacement = field.at("replacement");
    const std::string r = replacement.as_string();
    std::size_t pos = 0;
    if (r.empty() || (next_code_point(r, pos), pos != r.size())) replacement.fail("must be one character");
    return std::make_unique<MetaspacePreTokenizer>(r, prepend_scheme_from_json(field),
                                                   field.boolean_or("split", true));
  }
  if (type == "BertPreTokenizer") return std::make_unique<BertPreTokenizer>();
  if (type == "Whitespace") return std::make_unique<WhitespacePreTokenizer>();
  if (type == "WhitespaceSplit") return std::make_unique<WhitespaceSplitPreTokenizer>();
  if (type == "Digits")
    return std::make_unique<DigitsPreTokenizer>(field.boolean_or("individual_digits", false));
  if (type == "Punctuation")
    return std::make_unique<PunctuationPreTokenizer>(
        field.is_null_or_absent("behavior") ? Behavior::isolated : behavior_from_json(field.at("behavior")));
  field.unsupported_type(
      "Sequence, ByteLevel, Split, Metaspace, BertPreTokenizer, Whitespace, WhitespaceSplit, Digits, "
      "Punctuation");
}

}  // namespace ralm::hf
