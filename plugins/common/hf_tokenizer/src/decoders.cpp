// The decoders: ByteLevel, Metaspace, ByteFallback, Fuse, Strip, Replace,
// WordPiece and Sequence, each HF's decode_chain.
#include "components.hpp"
#include "string_pattern.hpp"
#include "unicode.hpp"

namespace ralm::hf {
namespace {

std::vector<char32_t> code_points(std::string_view s) {
  std::vector<char32_t> out;
  for (std::size_t pos = 0; pos < s.size();)
    out.push_back(next_code_point(s, pos));
  return out;
}

class SequenceDecoder final : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> parts) : parts_(std::move(parts)) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (const auto& part : parts_)
      tokens = part->decode_chain(std::move(tokens));
    return tokens;
  }

 private:
  std::vector<std::unique_ptr<Decoder>> parts_;
};

class ByteLevelDecoder final : public Decoder {
 public:
  ByteLevelDecoder() {
    const auto& chars = byte_level_chars();
    for (int b = 0; b < 256; ++b) {
      std::size_t pos = 0;
      byte_of_[next_code_point(chars[static_cast<std::size_t>(b)], pos)] = static_cast<char>(b);
    }
  }
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    std::string bytes;
    for (const std::string& token : tokens) {
      std::string mapped;
      bool all = true;
      for (const char32_t c : code_points(token)) {
        const auto it = byte_of_.find(c);
        if (it == byte_of_.end()) {
          all = false;
          break;
        }
        mapped.push_back(it->second);
      }
      bytes += all ? mapped : token;
    }
    return {utf8_lossy(bytes)};
  }

 private:
  std::unordered_map<char32_t, char> byte_of_;
};

class MetaspaceDecoder final : public Decoder {
 public:
  MetaspaceDecoder(char32_t replacement, bool strip_first)
      : replacement_(replacement), strip_first_(strip_first) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      std::string out;
      for (const char32_t c : code_points(tokens[i])) {
        if (c != replacement_)
          append_utf8(out, c);
        else if (i != 0 || !strip_first_)
          out.push_back(' ');
      }
      tokens[i] = std::move(out);
    }
    return tokens;
  }

 private:
  char32_t replacement_;
  bool strip_first_;
};

class ByteFallbackDecoder final : public Decoder {
 public:
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    std::vector<std::string> out;
    std::string bytes;
    const auto flush = [&] {
      if (bytes.empty()) return;
      if (invalid_utf8_at(bytes) == std::string::npos) {
        out.push_back(bytes);
      } else {
        for (std::size_t i = 0; i < bytes.size(); ++i)
          out.emplace_back("\xEF\xBF\xBD");
      }
      bytes.clear();
    };
    for (std::string& token : tokens) {
      if (const auto byte = byte_token(token)) {
        bytes.push_back(*byte);
        continue;
      }
      flush();
      out.push_back(std::move(token));
    }
    flush();
    return out;
  }

 private:
  // "<0xAB>": the byte.
  static std::optional<char> byte_token(const std::string& token) {
    if (token.size() != 6 || !token.starts_with("<0x") || token.back() != '>') return std::nullopt;
    int value = 0;
    for (const char h : token.substr(3, 2)) {
      const int digit = h >= '0' && h <= '9'   ? h - '0'
                        : h >= 'A' && h <= 'F' ? h - 'A' + 10
                        : h >= 'a' && h <= 'f' ? h - 'a' + 10
                                               : -1;
      if (digit < 0) return std::nullopt;
      value = value * 16 + digit;
    }
    return static_cast<char>(value);
  }
};

class FuseDecoder final : public Decoder {
 public:
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    std::string joined;
    for (const std::string& t : tokens)
      joined += t;
    return {joined};
  }
};

class StripDecoder final : public Decoder {
 public:
  StripDecoder(char32_t content, std::size_t start, std::size_t stop)
      : content_(content), start_(start), stop_(stop) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (std::string& token : tokens) {
      const std::vector<char32_t> chars = code_points(token);
      std::size_t begin = 0, end = chars.size();
      while (begin < start_ && begin < chars.size() && chars[begin] == content_)
        ++begin;
      for (std::size_t i = 0; i < stop_ && end > 0 && chars[end - 1] == content_; ++i)
        --end;
      std::string out;
      for (std::size_t i = begin; i < end; ++i)
        append_utf8(out, chars[i]);
      token = std::move(out);
    }
    return tokens;
  }

 private:
  char32_t content_;
  std::size_t start_, stop_;
};

class ReplaceDecoder final : public Decoder {
 public:
  ReplaceDecoder(StringPattern pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (std::string& token : tokens)
      token = pattern_.replace_all(token, content_);
    return tokens;
  }

 private:
  StringPattern pattern_;
  std::string content_;
};

std::string replace_all(std::string s, std::string_view from, std::string_view to) {
  return StringPattern::literal(std::string(from)).replace_all(s, to);
}

class WordPieceDecoder final : public Decoder {
 public:
  WordPieceDecoder(std::string prefix, bool cleanup) : prefix_(std::move(prefix)), cleanup_(cleanup) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      std::string& token = tokens[i];
      if (i != 0) {
        if (token.starts_with(prefix_))
          token.erase(0, prefix_.size());
        else
          token.insert(0, 1, ' ');
      }
      if (cleanup_) token = cleanup(std::move(token));
    }
    return tokens;
  }

 private:
  // HF's wordpiece::cleanup: English spacing around punctuation.
  static std::string cleanup(std::string s) {
    static const std::pair<const char*, const char*> kRules[] = {
        {" .", "."},   {" ?", "?"},           {" !", "!"},   {" ,", ","},     {" ' ", "'"},   {" n't", "n't"},
        {" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
    for (const auto& [from, to] : kRules)
      s = replace_all(std::move(s), from, to);
    return s;
  }
  std::string prefix_;
  bool cleanup_;
};

char32_t single_char(const JsonField& field) {
  const std::string s = field.as_string();
  std::size_t pos = 0;
  if (s.empty()) field.fail("must be one character");
  const char32_t c = next_code_point(s, pos);
  if (pos != s.size()) field.fail("must be one character");
  return c;
}

}  // namespace

std::unique_ptr<Decoder> decoder_from_json(const JsonField& field) {
  const std::string type = field.type();
  if (type == "Sequence") {
    return std::make_unique<SequenceDecoder>(read_each(field.at("decoders"), decoder_from_json));
  }
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "Metaspace") {
    bool strip_first = field.boolean_or("add_prefix_space", true);
    if (!field.is_null_or_absent("prepend_scheme")) strip_first = field.string("prepend_scheme") != "never";
    return std::make_unique<MetaspaceDecoder>(single_char(field.at("replacement")), strip_first);
  }
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Strip") {
    const std::int64_t start = field.integer("start"), stop = field.integer("stop");
    if (start < 0 || stop < 0) field.fail("start and stop must not be negative");
    return std::make_unique<StripDecoder>(single_char(field.at("content")), static_cast<std::size_t>(start),
                                          static_cast<std::size_t>(stop));
  }
  if (type == "Replace")
    return std::make_unique<ReplaceDecoder>(StringPattern::from_json(field.at("pattern")),
                                            field.string("content"));
  if (type == "WordPiece")
    return std::make_unique<WordPieceDecoder>(field.string_or("prefix", "##"),
                                              field.boolean_or("cleanup", true));
  field.unsupported_type("Sequence, ByteLevel, Metaspace, ByteFallback, Fuse, Strip, Replace, WordPiece");
}

}  // namespace ralm::hf
