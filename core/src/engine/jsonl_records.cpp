#include "jsonl_records.hpp"

#include "ralm/error.hpp"

namespace ralm::core {

bool is_blank_text(std::string_view text) {
  return text.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

std::vector<JsonlRecord> read_jsonl_objects(std::istream& in, const std::string& file,
                                            std::string_view example) {
  std::vector<JsonlRecord> records;
  std::string line;
  for (int line_no = 1; std::getline(in, line); ++line_no) {
    if (is_blank_text(line)) continue;
    JsonlRecord r;
    r.where = file + ":" + std::to_string(line_no);
    r.line = line_no;
    try {
      r.object = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception&) {
      throw InputError(r.where + ": malformed JSON; each line must be an object like " +
                       std::string(example));
    }
    if (!r.object.is_object()) {
      throw InputError(r.where + ": not a JSON object; each line must be an object like " +
                       std::string(example));
    }
    records.push_back(std::move(r));
  }
  return records;
}

std::string required_text(const JsonlRecord& record, const char* key) {
  const auto it = record.object.find(key);
  if (it == record.object.end() || !it->is_string())
    throw InputError(record.where + ": needs a string \"" + key + "\" field");
  std::string text = it->get<std::string>();
  if (is_blank_text(text)) throw InputError(record.where + ": empty " + key);
  return text;
}

std::string record_id(const JsonlRecord& record) {
  const auto it = record.object.find("id");
  if (it == record.object.end()) return std::to_string(record.line);
  return it->is_string() ? it->get<std::string>() : it->dump();
}

}  // namespace ralm::core
