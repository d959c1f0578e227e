#include "string_pattern.hpp"

namespace ralm::hf {

StringPattern StringPattern::from_json(const JsonField& field) {
  if (field.has("String")) return StringPattern(field.string("String"));
  if (field.has("Regex"))
    return StringPattern(Regex(field.string("Regex"), field.source() + ": " + field.path() + ".Regex"));
  field.fail("must be {\"String\": ...} or {\"Regex\": ...}");
}

std::vector<std::pair<std::size_t, std::size_t>> StringPattern::find_all(std::string_view text) const {
  if (regex_) return regex_->find_all(text);
  std::vector<std::pair<std::size_t, std::size_t>> out;
  // An empty literal matches nothing (HF).
  if (literal_.empty()) return out;
  for (std::size_t at = text.find(literal_); at != std::string_view::npos;
       at = text.find(literal_, at + literal_.size()))
    out.emplace_back(at, at + literal_.size());
  return out;
}

std::string StringPattern::replace_all(std::string_view text, std::string_view content) const {
  std::string out;
  out.reserve(text.size());
  std::size_t done = 0;
  for (const auto& [b, e] : find_all(text)) {
    out.append(text.substr(done, b - done));
    out.append(content);
    done = e;
  }
  out.append(text.substr(done));
  return out;
}

}  // namespace ralm::hf
